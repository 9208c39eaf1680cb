"""PartitionEngine: when a batch is due, exact replay of a pending range, and giving up
without losing the range. Checkpoints are the real file store; the sink records rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract.backoff import Backoff
from contract.errors import StorageError
from contract.event import AnonymousEvent, encode_envelope
from contract.metrics import Metrics
from contract.rows import RowBatch
from contract.transport import Record
from processors.checkpoint import FileCheckpoint
from processors.engine import PartitionEngine

T0 = 1_700_000_000_000
FAST = Backoff(initial=0.001, factor=2.0, ceiling=0.01)


def records(first: int, n: int) -> list[Record]:
    return [Record(0, o, encode_envelope([AnonymousEvent(
        site="example.com", ts_ms=T0 + o * 1000, name="pageview", hostname="example.com",
        pathname=f"/{o}", visitor_id=1 + o % 3)])) for o in range(first, first + n)]


class RecordingSink:
    """Keeps what it was given; fails the next `failures` writes with StorageError."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[RowBatch] = []

    def write(self, batch: RowBatch) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("simulated: ClickHouse unreachable")
        self.batches.append(batch)


def engine(tmp_path: Path, sink: Any = None, checkpoint: Any = None, **kw: Any
           ) -> PartitionEngine:
    return PartitionEngine(**{
        "source": "test", "partition": 0, "sink": sink or RecordingSink(),
        "checkpoint": checkpoint or FileCheckpoint(tmp_path / "cp"),
        "dead_letters": lambda letters: None, "metrics": Metrics(), "batch_size": 4,
        "max_batch_size": 10, "batch_interval": 1.0, "session_timeout_ms": 30 * 60_000,
        "backoff": FAST, **kw})


def test_a_batch_is_due_when_full_or_old_and_grows_with_the_backlog(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e.receive(records(0, 3), now=100.0)
    assert e.due(100.5) is None  # 3 < batch_size and younger than batch_interval
    assert [r.offset for r in e.due(101.0) or []] == [0, 1, 2]  # old enough
    e.receive(records(3, 12), now=101.0)
    assert len(e.due(101.0) or []) == 10  # behind: up to max_batch_size in one batch
    assert e.read_size(2) == 4 and e.read_size(7) == 7 and e.read_size(99) == 10


def test_written_batches_advance_the_position_and_the_checkpoint(tmp_path: Path) -> None:
    sink = RecordingSink()
    e = engine(tmp_path, sink)
    e.receive(records(0, 6), now=0.0)
    batch = e.write(e.due(0.0) or [], lambda failures, delay: True)
    assert batch is not None and batch.token == "p0:0-6"
    assert (e.committed, e.next_offset, e.received) == (6, 6, [])
    assert len(sink.batches) == 1 and e.metrics.get("events_written") == 6
    assert FileCheckpoint(tmp_path / "cp").load().offset == 6


def test_a_pending_range_replays_exactly_with_the_same_token_and_rows(tmp_path: Path) -> None:
    first = RecordingSink()
    e = engine(tmp_path, first)
    e.receive(records(0, 5), now=0.0)
    e.write(e.due(0.0) or [], lambda failures, delay: True)

    class CrashAfterInsert(RecordingSink):
        def write(self, batch: RowBatch) -> None:
            super().write(batch)
            raise StorageError("crash between the insert and the commit")

    crashing = CrashAfterInsert()
    c = engine(tmp_path, crashing)
    c.receive(records(5, 3), now=0.0)
    assert c.write(c.due(9.0) or [], lambda failures, delay: False) is None
    assert c.pending_end == 8 and c.committed == 5  # nothing moved, the range is noted

    replay = RecordingSink()
    r = engine(tmp_path, replay)  # a restart: the checkpoint says [5, 8) was in flight
    assert (r.committed, r.pending_end, r.read_size(1000)) == (5, 8, 3)
    r.receive(records(5, 2), now=0.0)
    assert r.due(99.0) is None  # never a shorter range, however long it waits
    r.receive(records(7, 6), now=0.0)
    batch = r.write(r.due(0.0) or [], lambda failures, delay: True)
    assert batch is not None and batch.token == "p0:5-8"
    assert replay.batches == crashing.batches  # identical rows: the insert deduplicates
    assert r.pending_end is None and r.next_offset == 13  # the rest waits for its batch


def test_retries_follow_the_backoff_until_the_shell_gives_up(tmp_path: Path) -> None:
    sink = RecordingSink(failures=10)
    e = engine(tmp_path, sink)
    e.receive(records(0, 4), now=0.0)
    before = e.sessioniser.snapshot()
    seen: list[tuple[int, float]] = []

    def retry_after(failures: int, delay: float) -> bool:
        seen.append((failures, delay))
        return failures < 3

    assert e.write(e.due(0.0) or [], retry_after) is None
    assert seen == [(1, 0.001), (2, 0.002), (3, 0.004)]
    assert e.metrics.get("sink_errors") == 3 and e.committed == 0
    assert e.sessioniser.snapshot() == before  # the visits are as before the batch
    assert e.pending_end == 4  # so the next attempt is the same range, same token
    sink.failures = 0
    batch = e.write(e.due(0.0) or [], lambda failures, delay: True)
    assert batch is not None and batch.token == "p0:0-4" and e.committed == 4


def test_a_checkpoint_that_fails_to_load_is_retried_only_while_the_shell_wants(
        tmp_path: Path) -> None:
    class Unreachable(FileCheckpoint):
        failures = 2

        def load(self) -> Any:
            if Unreachable.failures > 0:
                Unreachable.failures -= 1
                raise StorageError("simulated: ClickHouse unreachable")
            return super().load()

    assert engine(tmp_path, checkpoint=Unreachable(tmp_path / "cp"),
                  keep_loading=lambda: True).committed == 0
    assert Unreachable.failures == 0
    Unreachable.failures = 1
    with pytest.raises(StorageError):
        engine(tmp_path, checkpoint=Unreachable(tmp_path / "cp"))
