"""Salts: random, one per UTC day, created ahead of need, destroyed after the window."""

import datetime as dt
import stat
import threading
from pathlib import Path

from collector.salts import SALT_BYTES, FileSaltStore, SaltRotation, live_days

GRACE = dt.timedelta(hours=2)
DAY = dt.date(2026, 3, 10)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def all_bytes_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.rglob("*") if p.is_file())


def test_salts_are_random_not_derived_from_the_date(tmp_path: Path) -> None:
    one = FileSaltStore(tmp_path / "a").salt_for(DAY)
    two = FileSaltStore(tmp_path / "b").salt_for(DAY)
    assert len(one) == SALT_BYTES
    assert one != two  # same day, two stores: a date-derived salt would be equal


def test_salt_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    store = FileSaltStore(tmp_path / "salts")
    store.salt_for(DAY)
    (path,) = (tmp_path / "salts").glob("*.salt")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "salts").stat().st_mode) == 0o700


def test_one_salt_per_day_shared_by_every_instance_on_the_store(tmp_path: Path) -> None:
    stores = [FileSaltStore(tmp_path / "salts") for _ in range(8)]
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.salt_for(DAY)))
               for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1


def test_live_days_keep_yesterday_only_inside_the_grace_window() -> None:
    assert live_days(at(DAY, 1), GRACE) == [DAY - dt.timedelta(1), DAY, DAY + dt.timedelta(1)]
    assert live_days(at(DAY, 2, 1), GRACE) == [DAY, DAY + dt.timedelta(1)]


def test_rotation_creates_tomorrows_salt_ahead_of_need(tmp_path: Path) -> None:
    store = FileSaltStore(tmp_path / "salts")
    SaltRotation(store, GRACE).rotate(at(DAY, 12))
    assert store.days() == [DAY, DAY + dt.timedelta(1)]


def test_expired_salts_are_destroyed_and_their_bytes_are_gone(tmp_path: Path) -> None:
    store = FileSaltStore(tmp_path / "salts")
    rotation = SaltRotation(store, GRACE)
    rotation.rotate(at(DAY, 12))
    old_salt = store.salt_for(DAY)
    rotation.rotate(at(DAY + dt.timedelta(1), 1))  # inside grace: yesterday still kept
    assert DAY in store.days()
    destroyed = rotation.rotate(at(DAY + dt.timedelta(1), 3))
    assert destroyed == [DAY]
    assert DAY not in store.days()
    assert old_salt not in all_bytes_under(tmp_path)
    # a fresh store on the same directory cannot recover it either: it makes a new one
    assert FileSaltStore(tmp_path / "salts").salt_for(DAY) != old_salt


def test_a_salt_lives_at_most_one_day_plus_grace_after_its_day(tmp_path: Path) -> None:
    store = FileSaltStore(tmp_path / "salts")
    rotation = SaltRotation(store, GRACE)
    for hours in range(0, 24 * 5):
        now = at(DAY, 0) + dt.timedelta(hours=hours)
        rotation.rotate(now)
        for day in store.days():
            end_of_window = at(day, 0) + dt.timedelta(days=1) + GRACE
            assert now < end_of_window


def test_hashing_uses_yesterdays_salt_only_during_grace(tmp_path: Path) -> None:
    store = FileSaltStore(tmp_path / "salts")
    rotation = SaltRotation(store, GRACE)
    rotation.rotate(at(DAY, 23))
    yesterday_salt = store.salt_for(DAY)
    today, previous = rotation.hashing_salts(at(DAY + dt.timedelta(1), 0, 30))
    assert previous == yesterday_salt and today != yesterday_salt
    rotation.rotate(at(DAY + dt.timedelta(1), 3))
    assert rotation.hashing_salts(at(DAY + dt.timedelta(1), 3))[1] is None
