"""The local event log: what a 202 promises in embedded mode."""

import threading
from pathlib import Path

import pytest

from contract.errors import SpoolFull
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


def test_readers_wait_for_new_records(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    assert not log.wait_for(0, timeout=0.01)
    threading.Timer(0.05, lambda: log.append(b"late")).start()
    assert log.wait_for(0, timeout=5)
