"""The embedded processor: tails the local event log and writes batches to the sink.

Backpressure is explicit: while the sink fails, the loop retries the same batch with
backoff and commits nothing; the collector keeps accepting into the log until its
spool limit, then answers 503. Log lines carry partition and offsets, never payloads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import orjson

from contract.errors import StorageError
from contract.metrics import Metrics
from contract.rows import RowBatch
from contract.transport import Record
from contract.transports.eventlog import EventLog
from processors.batch import Batch, DeadLetter, batch_size_for, build_batch
from processors.checkpoint import Checkpoint
from processors.rows import batch_rows
from processors.sessionise import Sessioniser

log = logging.getLogger(__name__)


class BatchSink(Protocol):
    """Where batches go (the ClickHouse sink)."""

    def write(self, batch: RowBatch) -> None:
        """Durably write a batch or raise StorageError; safe to call again with the same batch."""


DeadLetterWriter = Callable[[list[DeadLetter]], None]


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


class LogProcessor:
    """One processor over one event log partition, run in a background thread."""

    def __init__(self, *, log: EventLog, sink: BatchSink, checkpoint: Checkpoint,
                 dead_letters: DeadLetterWriter, metrics: Metrics, batch_size: int,
                 batch_interval: float, session_timeout_ms: int,
                 max_batch_size: int | None = None) -> None:
        self.log = log
        self.sink = sink
        self.checkpoint = checkpoint
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        self.batch_interval = batch_interval
        self.session_timeout_ms = session_timeout_ms
        self._stop = threading.Event()
        self._committed_cond = threading.Condition()
        self._thread: threading.Thread | None = None
        state = checkpoint.load()
        self.committed = state.offset
        self.sessioniser = Sessioniser.restore(session_timeout_ms, state.sessions)
        self._pending_end = state.pending_end

    def start(self) -> None:
        """Start the background loop."""
        self._thread = threading.Thread(target=self._run, name="crumbless-processor",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything already durable in the log, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every record now in the log is committed (for tests and admin)."""
        target = self.log.end_offset
        with self._committed_cond:
            return self._committed_cond.wait_for(lambda: self.committed >= target, timeout)

    def _run(self) -> None:
        if self._pending_end is not None:  # a batch was in flight at the last stop: replay it
            records = self.log.read(self.committed, self._pending_end - self.committed)
            if records and not self._process(records):
                return
        while True:
            records = self._gather()
            if records:
                if not self._process(records):
                    return
            elif self._stop.is_set():
                return
            else:  # idle: let the log roll and delete a segment that holds only processed data
                self.log.delete_before(self.committed)

    def _gather(self) -> list[Record]:
        """Wait for the first record, then up to batch_interval for a full batch."""
        self.log.wait_for(self.committed, timeout=0.2 if not self._stop.is_set() else 0)
        size = batch_size_for(self.log.end_offset - self.committed, self.batch_size,
                              self.max_batch_size)
        records = self.log.read(self.committed, size)
        deadline = time.monotonic() + self.batch_interval
        while records and len(records) < self.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.log.wait_for(records[-1].offset + 1, timeout=remaining)
            more = self.log.read(records[-1].offset + 1, size - len(records))
            records.extend(more)
        return records

    def _process(self, records: list[Record]) -> bool:
        batch = build_batch(records, self.sessioniser)
        delay, attempts = 0.1, 0
        while True:
            try:
                write_batch(batch, sink=self.sink, checkpoint=self.checkpoint,
                            dead_letters=self.dead_letters, sessioniser=self.sessioniser)
                break
            except StorageError as exc:
                attempts += 1
                self.metrics.inc("sink_errors")
                log.warning("sink write failed for partition %d offsets %d-%d: %s; retrying "
                            "in %.1fs", batch.partition, batch.first_offset, batch.end_offset,
                            exc, delay)
                if self._stop.is_set() and attempts >= 5:
                    log.error("stopping with batch %s unwritten; it replays on restart",
                              batch.token)
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.metrics.inc("dead_letters", len(batch.dead_letters))
        self.metrics.inc("events_written", len(batch.events))
        self.log.delete_before(batch.end_offset)
        with self._committed_cond:
            self.committed = batch.end_offset
            self._committed_cond.notify_all()
        return True


class JsonlDeadLetters:
    """Embedded dead-letter store: one JSON line per record with its reason and offset."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, letters: list[DeadLetter]) -> None:
        """Append the dead letters."""
        with open(self.path, "ab") as fh:
            for letter in letters:
                fh.write(orjson.dumps({"partition": letter.partition, "offset": letter.offset,
                                       "reason": letter.reason,
                                       "value": letter.value.decode("utf-8", "replace")}))
                fh.write(b"\n")
