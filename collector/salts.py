"""Daily salts: random, one per UTC day, shared, and destroyed after a bounded window.

A salt is 32 bytes from `secrets` (a CSPRNG), never derived from a date or a secret.
The salt for day D is created ahead of need (on day D-1), used for hashing on day D,
kept until D+1 00:00 UTC + grace (to continue visits open across midnight), and then
destroyed: its file is overwritten and unlinked. After that, no stored visitor_id of
day D can be linked back to an IP + user agent, even by the operator.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from pathlib import Path
from typing import Protocol

from contract.salts import SALT_BYTES as SALT_BYTES  # re-exported for the collector


def utc_day(now: dt.datetime) -> dt.date:
    """The UTC calendar day of an aware datetime."""
    return now.astimezone(dt.UTC).date()


def live_days(now: dt.datetime, grace: dt.timedelta) -> list[dt.date]:
    """Days whose salt may exist at `now`: yesterday (inside grace), today and tomorrow."""
    today = utc_day(now)
    midnight = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    days = [today, today + dt.timedelta(days=1)]
    if now.astimezone(dt.UTC) < midnight + grace:
        days.insert(0, today - dt.timedelta(days=1))
    return days


class SaltStore(Protocol):
    """Where the salts of the live days are kept; shared by every collector instance."""

    def salt_for(self, day: dt.date) -> bytes:
        """The salt of `day`, creating it if it does not exist yet (first writer wins)."""

    def days(self) -> list[dt.date]:
        """The days that currently have a salt."""

    def destroy(self, day: dt.date) -> None:
        """Destroy the salt of `day` irrecoverably."""


class FileSaltStore:
    """Salts as 0600 files in one directory: the embedded mode's store."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        self._lock = threading.Lock()
        self._cache: dict[dt.date, bytes] = {}

    def _path(self, day: dt.date) -> Path:
        return self.directory / f"{day.isoformat()}.salt"

    def salt_for(self, day: dt.date) -> bytes:
        """The salt of `day`, created atomically with a link so concurrent creators agree."""
        with self._lock:
            if day in self._cache:
                return self._cache[day]
            path = self._path(day)
            if not path.exists():
                tmp = self.directory / f".{day.isoformat()}.{secrets.token_hex(8)}.tmp"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, secrets.token_bytes(SALT_BYTES))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                try:
                    os.link(tmp, path)  # fails if another creator won; then we read theirs
                except FileExistsError:
                    _shred(tmp)  # our salt lost the race: destroy it
                else:
                    tmp.unlink()  # same inode as the salt file now: unlink, never shred
            salt = path.read_bytes()
            if len(salt) != SALT_BYTES:
                raise RuntimeError(f"salt file {path} is damaged; delete it to start a new salt")
            self._cache[day] = salt
            return salt

    def days(self) -> list[dt.date]:
        """Days that have a salt file."""
        return sorted(dt.date.fromisoformat(p.stem) for p in self.directory.glob("*.salt"))

    def destroy(self, day: dt.date) -> None:
        """Overwrite the salt file with zeros, fsync, unlink, and forget the cached copy."""
        with self._lock:
            self._cache.pop(day, None)
            _shred(self._path(day))


def _shred(path: Path) -> None:
    """Overwrite a file's bytes before unlinking it, so the salt does not linger on disk."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        os.write(fd, b"\0" * size)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)


class SaltRotation:
    """Creates tomorrow's salt ahead of need and destroys salts past their window."""

    def __init__(self, store: SaltStore, grace: dt.timedelta) -> None:
        self.store = store
        self.grace = grace

    def rotate(self, now: dt.datetime) -> list[dt.date]:
        """Ensure the live days have salts and destroy every other; return destroyed days."""
        live = live_days(now, self.grace)
        for day in live[-2:]:  # today and tomorrow always exist
            self.store.salt_for(day)
        destroyed = [day for day in self.store.days() if day not in live]
        for day in destroyed:
            self.store.destroy(day)
        return destroyed

    def hashing_salts(self, now: dt.datetime) -> tuple[bytes, bytes | None]:
        """Today's salt, and yesterday's while the grace window is open (else None)."""
        live = live_days(now, self.grace)
        today = utc_day(now)
        previous = today - dt.timedelta(days=1)
        prev_salt = self.store.salt_for(previous) if previous in live and previous in (
            self.store.days()) else None
        return self.store.salt_for(today), prev_salt
