"""One partition's processing, the same for the event log and for Kafka.

The shells only move records: processors/runner.py tails the local event log,
processors/kafka_runner.py polls Kafka, pauses partitions and commits offsets. Each
feeds a PartitionEngine the records of one partition; the engine restores the
sessioniser from the partition's checkpoint, replays a pending range exactly (same
records, same token, so ClickHouse drops a second insert), cuts batches that grow with
the backlog, writes them in the commit order of `write_batch` retrying StorageError
under a Backoff, and advances. Log lines carry partition and offsets, never payloads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from contract.backoff import Backoff
from contract.checkpoint import Checkpoint, CheckpointState
from contract.errors import StorageError
from contract.metrics import Metrics
from contract.rows import RowBatch
from contract.transport import Record
from processors.batch import Batch, DeadLetter, batch_size_for, build_batch
from processors.rows import batch_rows
from processors.sessionise import Sessioniser

log = logging.getLogger(__name__)
RETRY = Backoff(initial=0.1, factor=2.0, ceiling=10.0)


class BatchSink(Protocol):
    """Where batches go (the ClickHouse sink)."""

    def write(self, batch: RowBatch) -> None:
        """Durably write a batch or raise StorageError; safe to call again with the same batch."""


DeadLetterWriter = Callable[[list[DeadLetter]], None]
RetryAfter = Callable[[int, float], bool]
"""(failures so far, backoff delay in s) → False to give up; the shell waits out the delay."""


def write_batch(batch: Batch, *, sink: BatchSink, checkpoint: Checkpoint,
                dead_letters: DeadLetterWriter, sessioniser: Sessioniser) -> None:
    """The commit order, kept in one place for every processor.

    begin(range) → sink write (token of the range) → dead letters → commit(position and
    open visits). Each step is idempotent, so the whole sequence may be repeated after
    any failure; a crash anywhere replays exactly this range.
    """
    checkpoint.begin(batch.first_offset, batch.end_offset)
    sink.write(batch_rows(batch))
    if batch.dead_letters:
        dead_letters(batch.dead_letters)
    checkpoint.commit(batch.end_offset, sessioniser.snapshot())


class PartitionEngine:
    """Sessionise, batch and write one partition; see the module docstring."""

    def __init__(self, *, source: str, partition: int, checkpoint: Checkpoint,
                 sink: BatchSink, dead_letters: DeadLetterWriter, metrics: Metrics,
                 batch_size: int, max_batch_size: int, batch_interval: float,
                 session_timeout_ms: int, keep_loading: Callable[[], bool] = lambda: False,
                 backoff: Backoff = RETRY) -> None:
        """Load the checkpoint, waiting out StorageError while `keep_loading()`: without it
        the position is unknown, and processing from anywhere else could lose or double."""
        self.source, self.partition, self.checkpoint = source, partition, checkpoint
        self.sink, self.dead_letters, self.metrics = sink, dead_letters, metrics
        self.batch_size, self.max_batch_size = batch_size, max(batch_size, max_batch_size)
        self.batch_interval, self.session_timeout_ms = batch_interval, session_timeout_ms
        self.backoff = backoff
        state = self._load(keep_loading)
        self.committed: int = state.offset
        self.pending_end: int | None = state.pending_end
        self.sessioniser = Sessioniser.restore(session_timeout_ms, state.sessions)
        self.received: list[Record] = []  # consecutive from `committed`, not yet written
        self.first_seen = 0.0  # monotonic time the oldest of them arrived

    def _load(self, keep_loading: Callable[[], bool]) -> CheckpointState:
        for delay in self.backoff.delays():
            try:
                return self.checkpoint.load()
            except StorageError as exc:
                if not keep_loading():
                    raise
                log.warning("cannot load the checkpoint of %s[%d]: %s; retrying in %.1fs",
                            self.source, self.partition, exc, delay)
                time.sleep(delay)
        raise AssertionError("Backoff.delays() is endless")

    @property
    def next_offset(self) -> int:
        """The offset of the next record to receive."""
        return self.received[-1].offset + 1 if self.received else self.committed

    def receive(self, records: Iterable[Record], now: float) -> None:
        """Take the next records of the partition (arrived at monotonic time `now`)."""
        if not self.received:
            self.first_seen = now
        self.received.extend(records)

    def read_size(self, backlog: int) -> int:
        """Records the next batch takes: the pending range, or more the further behind."""
        if self.pending_end is not None:
            return self.pending_end - self.committed
        return batch_size_for(backlog, self.batch_size, self.max_batch_size)

    def due(self, now: float) -> list[Record] | None:
        """The next batch out of the received records, or None to wait for more.

        Replaying: exactly the pending range, once all of it is here. Otherwise once
        `batch_size` records are here or the oldest waited `batch_interval` seconds.
        """
        if not self.received:
            return None
        if self.pending_end is not None:
            if self.next_offset < self.pending_end:
                return None
            return [r for r in self.received if r.offset < self.pending_end]
        if len(self.received) < self.batch_size and now - self.first_seen < self.batch_interval:
            return None
        return self.received[: self.read_size(len(self.received))]

    def write(self, records: list[Record], retry_after: RetryAfter) -> Batch | None:
        """Build and write one batch, retrying under the backoff while `retry_after` says so.

        Returns the written batch, or None when the shell gave up: the sessioniser is then
        back where it was and the range stays pending, so it replays exactly.
        """
        snapshot = self.sessioniser.snapshot()
        batch = build_batch(records, self.sessioniser)
        for failures, delay in enumerate(self.backoff.delays(), 1):
            try:
                write_batch(batch, sink=self.sink, checkpoint=self.checkpoint,
                            dead_letters=self.dead_letters, sessioniser=self.sessioniser)
                break
            except StorageError as exc:
                self.metrics.inc("sink_errors")
                log.warning("sink write failed for %s[%d] offsets %d-%d: %s; retrying in "
                            "%.1fs", self.source, self.partition, batch.first_offset,
                            batch.end_offset, exc, delay)
                if not retry_after(failures, delay):
                    log.error("batch %s of %s left unwritten; it replays from the checkpoint",
                              batch.token, self.source)
                    self.sessioniser = Sessioniser.restore(self.session_timeout_ms, snapshot)
                    self.pending_end = batch.end_offset
                    return None
        self.committed, self.pending_end = batch.end_offset, None
        del self.received[: len(records)]
        self.first_seen = time.monotonic()
        self.metrics.inc("dead_letters", len(batch.dead_letters))
        self.metrics.inc("events_written", len(batch.events))
        return batch
