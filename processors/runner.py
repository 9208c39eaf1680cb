"""The embedded processor: tails the local event log and hands it to a PartitionEngine.

Backpressure is explicit: while the sink fails, the engine retries the same batch with
backoff and commits nothing; the collector keeps accepting into the log until its
spool limit, then answers 503. Log lines carry partition and offsets, never payloads.
"""

from __future__ import annotations

import math
import threading
import time

import orjson

from contract.metrics import Metrics
from contract.transport import Record
from contract.transports.eventlog import EventLog
from processors.batch import DeadLetter
from processors.checkpoint import Checkpoint
from processors.engine import BatchSink, DeadLetterWriter, PartitionEngine


class LogProcessor:
    """One processor over one event log partition, run in a background thread."""

    def __init__(self, *, log: EventLog, sink: BatchSink, checkpoint: Checkpoint,
                 dead_letters: DeadLetterWriter, metrics: Metrics, batch_size: int,
                 batch_interval: float, session_timeout_ms: int,
                 max_batch_size: int | None = None) -> None:
        self.log = log
        self.engine = PartitionEngine(
            source="eventlog", partition=0, checkpoint=checkpoint, sink=sink,
            dead_letters=dead_letters, metrics=metrics, batch_size=batch_size,
            max_batch_size=max_batch_size or batch_size, batch_interval=batch_interval,
            session_timeout_ms=session_timeout_ms)
        self._stop = threading.Event()
        self._committed_cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def committed(self) -> int:
        """Records below this log offset are written and checkpointed."""
        return self.engine.committed

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
        while True:
            records = self._gather()
            if records:
                if self.engine.write(records, self._retry_after) is None:
                    return
                self.log.delete_before(self.committed)
                with self._committed_cond:
                    self._committed_cond.notify_all()
            elif self._stop.is_set():
                return
            else:  # idle: let the log roll and delete a segment that holds only processed data
                self.log.delete_before(self.committed)

    def _gather(self) -> list[Record] | None:
        """Read the log into the engine until a batch is due, or None when idle (0.2 s)."""
        engine = self.engine
        self.log.wait_for(engine.next_offset, timeout=0 if self._stop.is_set() else 0.2)
        size = engine.read_size(self.log.end_offset - engine.committed)
        while True:
            engine.receive(self.log.read(engine.next_offset, size - len(engine.received)),
                           time.monotonic())
            batch = engine.due(math.inf if self._stop.is_set() else time.monotonic())
            if batch is not None or not engine.received:
                return batch
            # Sleep until the batch is full or due by age, not on every group commit: each
            # wake-up read the log for a few records, under the collector's load (~150 a
            # second) a share of the one GIL the request threads need.
            full = size if engine.pending_end is not None else min(size, engine.batch_size)
            missing = max(1, full - len(engine.received))
            self.log.wait_for(engine.next_offset + missing - 1, timeout=engine.first_seen
                              + engine.batch_interval - time.monotonic())

    def _retry_after(self, failures: int, delay: float) -> bool:
        """Sleep out the backoff; when stopping, give up after 5 failures (replayed at start)."""
        if self._stop.is_set() and failures >= 5:
            return False
        time.sleep(delay)
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
