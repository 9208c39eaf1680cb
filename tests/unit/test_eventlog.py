"""The local event log: what a 202 promises in embedded mode."""

import threading
from pathlib import Path

import pytest

from contract.errors import SpoolFull, TransportError
from contract.transports.eventlog import EventLog


def test_appended_records_read_back_in_order(tmp_path: Path) -> None:
    log = EventLog(tmp_path, segment_bytes=100)
    for i in range(50):
        assert log.append(f"r{i}".encode()) == i
    got = []
    offset = 0
    while offset < log.end_offset:
        batch = log.read(offset, 7)
        got += [r.value for r in batch]
        offset = batch[-1].offset + 1
    assert got == [f"r{i}".encode() for i in range(50)]


def test_records_survive_reopening(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append(b"kept")
    log.close()
    again = EventLog(tmp_path)
    assert [r.value for r in again.read(0, 10)] == [b"kept"]
    assert again.append(b"next") == 1


def test_a_torn_tail_is_cut_and_never_read(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append(b"whole")
    log.close()
    (segment,) = tmp_path.glob("*.log")
    with segment.open("ab") as fh:
        fh.write(b"\x00\x00\x00\x20\x00\x00\x00\x00half")  # a crash mid-write
    again = EventLog(tmp_path)
    assert again.end_offset == 1
    assert again.append(b"after") == 1
    assert [r.value for r in again.read(0, 10)] == [b"whole", b"after"]


def test_a_full_spool_refuses_instead_of_growing(tmp_path: Path) -> None:
    log = EventLog(tmp_path, max_bytes=100)
    log.append(b"x" * 50)
    with pytest.raises(SpoolFull):
        log.append(b"y" * 60)


def test_processed_segments_are_deleted(tmp_path: Path) -> None:
    log = EventLog(tmp_path, segment_bytes=64)
    for i in range(20):
        log.append(b"%02d" % i + b"." * 20)
    segments_before = len(list(tmp_path.glob("*.log")))
    log.delete_before(20)
    assert len(list(tmp_path.glob("*.log"))) == 1 < segments_before
    assert log.start_offset <= 19


def test_concurrent_appends_with_group_commit_lose_nothing(tmp_path: Path) -> None:
    log = EventLog(tmp_path, fsync=True)

    def writer(n: int) -> None:
        for j in range(100):
            log.append(f"{n}:{j}".encode())

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = {r.value for r in log.read(0, 10_000)}
    assert len(values) == 800
    assert log.end_offset == 800  # every append returned durable
    assert log.syncs < 800  # appends that overlapped shared an fsync


def test_readers_wait_for_new_records(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    assert not log.wait_for(0, timeout=0.01)
    threading.Timer(0.05, lambda: log.append(b"late")).start()
    assert log.wait_for(0, timeout=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_processed_records_leave_the_disk_once_the_segment_is_roll_seconds_old(
        tmp_path: Path) -> None:
    """Without new appends the active segment still rolls and its processed records go."""
    clock = FakeClock()
    log = EventLog(tmp_path, roll_seconds=60, clock=clock)
    for i in range(3):
        log.append(b"visitor-path-%d" % i)
    assert log.delete_before(3) == 0  # all processed, but the segment is young
    clock.now += 59
    assert log.delete_before(3) == 0
    clock.now += 1
    assert log.delete_before(3) == 1
    assert b"visitor-path" not in b"".join(p.read_bytes() for p in tmp_path.glob("*.log"))
    assert log.append(b"next") == 3 and [r.value for r in log.read(3, 5)] == [b"next"]


def test_a_busy_log_rolls_by_age_as_well_as_size(tmp_path: Path) -> None:
    clock = FakeClock()
    log = EventLog(tmp_path, roll_seconds=10, clock=clock)
    log.append(b"a")
    clock.now += 11
    log.append(b"b")  # the first segment is 11 s old: b starts a new one
    assert log.delete_before(1) == 1
    assert [r.value for r in log.read(1, 5)] == [b"b"]


def test_unprocessed_records_are_never_rolled_away(tmp_path: Path) -> None:
    clock = FakeClock()
    log = EventLog(tmp_path, roll_seconds=1, clock=clock)
    log.append(b"a")
    log.append(b"b")
    clock.now += 100
    assert log.delete_before(1) == 0  # b is not processed: its segment stays
    assert [r.value for r in log.read(1, 5)] == [b"b"]


def test_segment_files_are_owner_only(tmp_path: Path) -> None:
    clock = FakeClock()
    log = EventLog(tmp_path, roll_seconds=1, clock=clock)
    log.append(b"a")
    clock.now += 2
    log.append(b"b")
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("*.log")}
    assert len(modes) == 2 and set(modes.values()) == {0o600}, modes


def test_fsyncs_are_counted_in_fsync_mode_and_flush_mode_has_none(tmp_path: Path) -> None:
    synced = EventLog(tmp_path / "fsync")
    flushed = EventLog(tmp_path / "flush", fsync=False)
    try:
        for n in range(3):
            synced.append(b"x%d" % n)
            flushed.append(b"x%d" % n)
        assert synced.syncs == 3  # one writer: each append is its own group
        assert synced.sync_seconds > 0
        assert flushed.syncs == 0
        assert flushed.sync_seconds == 0
    finally:
        synced.close()
        flushed.close()


def test_a_failing_fsync_is_a_transport_error_and_the_log_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses an fsync (EIO): append raises TransportError, which the collector
    answers with 503 (never a 500), and the next append syncs again."""
    import contract.transports.eventlog as eventlog

    log = EventLog(tmp_path, fsync=True)
    real = eventlog.os.fsync

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(eventlog.os, "fsync", failing)
    with pytest.raises(TransportError, match="cannot sync the event log"):
        log.append(b"one")
    monkeypatch.setattr(eventlog.os, "fsync", real)
    assert log.append(b"two") == 1
    assert log.wait_for(1, timeout=1)
    log.close()
