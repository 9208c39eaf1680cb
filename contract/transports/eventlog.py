"""A durable append-only event log on local disk: the embedded transport and Kafka spool.

Records are framed as [length u32][crc32 u32][payload] in segment files named by their
first offset. `append` returns once the record is durable (fsync with group commit, or
flush-to-OS in "flush" mode); readers see only durable records. A torn tail left by a
crash is cut on open: it was never acknowledged. Segments wholly below the committed
offset are deleted, so processed events do not linger on disk: a segment rolls when it
reaches `segment_bytes` or, once it holds records, after `roll_seconds` — on the next
append, or on the next `delete_before` that finds every record committed (the processor
calls it when idle too). A processed record therefore leaves the disk at most
`roll_seconds` after it was committed. Files are created 0600.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from contract.errors import SpoolFull, TransportError
from contract.transport import Record

_HEADER = struct.Struct(">II")
MAX_RECORD = 16 * 1024 * 1024


def _segment_name(base: int) -> str:
    return f"{base:020d}.log"


def _create(path: Path) -> BinaryIO:
    """Open a segment for appending, created owner-readable only (0600)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


def _scan(path: Path) -> tuple[int, int]:
    """(valid record count, valid byte length) of a segment; stops at the first bad frame."""
    count = pos = 0
    with path.open("rb") as fh:
        while True:
            header = fh.read(_HEADER.size)
            if len(header) < _HEADER.size:
                break
            length, crc = _HEADER.unpack(header)
            if length > MAX_RECORD:
                break
            payload = fh.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            count += 1
            pos += _HEADER.size + length
    return count, pos


class EventLog:
    """One writer, any number of readers, in one process."""

    def __init__(self, directory: Path, *, fsync: bool = True, max_bytes: int = 1 << 30,
                 segment_bytes: int = 64 << 20, roll_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.roll_seconds = roll_seconds
        self._clock = clock
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._syncing = False  # an appender is in fsync (group commit leader)
        self._durable_cond = threading.Condition(self._lock)
        self._segments: list[int] = sorted(int(p.stem) for p in directory.glob("*.log"))
        if not self._segments:
            self._segments = [0]
            _create(directory / _segment_name(0)).close()
        last = self._segments[-1]
        count, valid = _scan(directory / _segment_name(last))
        with (directory / _segment_name(last)).open("r+b") as fh:
            fh.truncate(valid)  # a torn tail was never acknowledged
        self._next = last + count
        self._durable = self._next
        self._bytes = sum((directory / _segment_name(b)).stat().st_size for b in self._segments)
        self._file: BinaryIO = _create(directory / _segment_name(last))
        self._born = clock()  # when the active segment got its first record (or was opened)
        self._closed = False
        self._cursor: tuple[int, int, int] = (-1, 0, 0)  # (segment base, offset, byte pos)
        self.syncs = 0  # group-commit fsyncs so far, and the seconds they took (health)
        self.sync_seconds = 0.0

    @property
    def end_offset(self) -> int:
        """The offset the next durable record will get."""
        with self._lock:
            return self._durable

    @property
    def start_offset(self) -> int:
        """The first offset still on disk."""
        with self._lock:
            return self._segments[0]

    @property
    def size_bytes(self) -> int:
        """Bytes on disk across segments."""
        with self._lock:
            return self._bytes

    def append(self, payload: bytes) -> int:
        """Write one record and return its offset once durable; SpoolFull when out of room."""
        if len(payload) > MAX_RECORD:
            raise TransportError(f"record of {len(payload)} bytes exceeds {MAX_RECORD}")
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._closed:
                raise TransportError("event log is closed")
            if self._bytes + len(frame) > self.max_bytes:
                raise SpoolFull(f"event log at {self.directory} holds {self._bytes} bytes; "
                                f"limit {self.max_bytes}")
            size = self._file.tell()
            if size > 0 and (size + len(frame) > self.segment_bytes
                             or self._clock() - self._born >= self.roll_seconds):
                try:
                    self._roll()
                except OSError as exc:
                    raise TransportError(f"cannot roll the event log: {exc}") from exc
            if self._file.tell() == 0:
                self._born = self._clock()
            try:
                self._file.write(frame)
                self._file.flush()
            except OSError as exc:
                raise TransportError(f"cannot write event log: {exc}") from exc
            offset = self._next
            self._next += 1
            self._bytes += len(frame)
            if not self.fsync:
                self._durable = self._next
                self._durable_cond.notify_all()
                return offset
        self._sync_until(offset + 1)
        return offset

    def _roll(self) -> None:
        """Start a new segment (caller holds the lock); the old one is synced first."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._segments.append(self._next)
        self._file = _create(self.directory / _segment_name(self._next))
        self._born = self._clock()
        self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _sync_until(self, end: int) -> None:
        """Group commit: one fsync makes every record written so far durable.

        One appender at a time syncs (the leader), outside the lock so others keep
        appending; the rest wait on the condition and all wake together when it is done.
        Those its fsync covered return; the first of the others leads the next one. (A
        mutex queue instead woke its waiters one after another, each needing the GIL
        before it could let the next go: a convoy under load.)
        """
        with self._lock:
            while self._durable < end:
                if self._syncing:
                    self._durable_cond.wait()
                    continue
                self._syncing = True
                target = self._next
                fd = os.dup(self._file.fileno())
                began = time.perf_counter()
                synced = False
                self._lock.release()
                try:
                    os.fsync(fd)
                    synced = True
                except OSError as exc:  # the caller answers 503: its record is not durable
                    # (it may still reach the disk, so a client's retry can count twice)
                    raise TransportError(f"cannot sync the event log: {exc}") from exc
                finally:
                    self._lock.acquire()
                    os.close(fd)
                    self._syncing = False
                    if synced:
                        self.syncs += 1
                        self.sync_seconds += time.perf_counter() - began
                        self._durable = max(self._durable, target)
                    self._durable_cond.notify_all()

    def wait_for(self, offset: int, timeout: float) -> bool:
        """Block until a record at `offset` is durable or the timeout passes."""
        with self._lock:
            return self._durable_cond.wait_for(
                lambda: self._durable > offset or self._closed, timeout)

    def read(self, offset: int, max_records: int) -> list[Record]:
        """Up to `max_records` durable records from `offset` (partition 0)."""
        with self._lock:
            end = min(self._durable, offset + max_records)
            if offset < self._segments[0]:
                raise TransportError(f"offset {offset} was already deleted "
                                     f"(log starts at {self._segments[0]})")
            bases = [b for b in self._segments if b <= offset][-1:] + [
                b for b in self._segments if offset < b < end]
        records: list[Record] = []
        for base in bases:
            with (self.directory / _segment_name(base)).open("rb") as fh:
                current = base
                cached_base, cached_offset, cached_pos = self._cursor
                if cached_base == base and cached_offset <= offset:
                    fh.seek(cached_pos)  # sequential readers resume without rescanning
                    current = cached_offset
                while current < end:
                    header = fh.read(_HEADER.size)
                    if len(header) < _HEADER.size:
                        break
                    length, _crc = _HEADER.unpack(header)
                    if current < offset:
                        fh.seek(length, os.SEEK_CUR)
                    else:
                        records.append(Record(0, current, fh.read(length)))
                    current += 1
                self._cursor = (base, current, fh.tell())
        return records

    def delete_before(self, offset: int) -> int:
        """Delete whole segments whose records are all below `offset`; return how many.

        When every record is below `offset` and the active segment is `roll_seconds` old,
        it is rolled first, so processed records do not wait for the next append.
        """
        removed = 0
        with self._lock:
            if (not self._closed and offset >= self._next and self._durable >= self._next
                    and self._file.tell() > 0
                    and self._clock() - self._born >= self.roll_seconds):
                self._roll()
            while len(self._segments) > 1 and self._segments[1] <= offset:
                path = self.directory / _segment_name(self._segments.pop(0))
                self._bytes -= path.stat().st_size
                path.unlink()
                removed += 1
        return removed

    def close(self) -> None:
        """Sync and close the writer; readers waiting are woken."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._durable = self._next
            self._durable_cond.notify_all()
