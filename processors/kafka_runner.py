"""The distributed processor: a Kafka consumer-group member writing batches to ClickHouse.

Per assigned partition it keeps a sessioniser restored from that partition's checkpoint
(so visits survive restarts and partition moves) and follows the commit order of
processors/checkpoint.py: begin(range) → sink.write(batch, token of the range) →
checkpoint.commit → Kafka offset commit (for lag monitoring; the checkpoint is the truth).
A checkpoint found with a pending range is replayed over exactly that range, so the
token repeats and ClickHouse drops the second insert. Invalid records go to the DLQ
with their reason, partition and offset. While ClickHouse fails, partitions are paused,
nothing is committed, and the loop keeps polling so the group does not evict it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from contract.checkpoint import Checkpoint, CheckpointState
from contract.errors import StorageError
from contract.metrics import Metrics
from contract.transport import Record
from processors.batch import DeadLetter, batch_size_for, build_batch
from processors.runner import BatchSink, write_batch
from processors.sessionise import Sessioniser

log = logging.getLogger(__name__)


@dataclass
class PartitionWork:
    """What one assigned partition holds between polls."""

    checkpoint: Checkpoint
    sessioniser: Sessioniser
    committed: int
    pending_end: int | None
    buffer: list[Record] = field(default_factory=list)
    first_seen: float = 0.0


class KafkaProcessor:
    """One member of the processor group; `run()` blocks until `stop()`."""

    def __init__(self, *, bootstrap: str, topic: str, dlq_topic: str, group: str,
                 sink: BatchSink, checkpoint_for: Callable[[int], Checkpoint],
                 metrics: Metrics, batch_size: int, batch_interval: float,
                 session_timeout_ms: int, consumer_config: dict[str, Any] | None = None,
                 max_batch_size: int | None = None) -> None:
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.sink = sink
        self.checkpoint_for = checkpoint_for
        self.metrics = metrics
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        self.batch_interval = batch_interval
        self.session_timeout_ms = session_timeout_ms
        self.work: dict[int, PartitionWork] = {}
        self._stop = threading.Event()
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","), group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=self.max_batch_size, **(consumer_config or {}))
        self.dlq = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                                 enable_idempotence=True)
        self.consumer.subscribe([topic], listener=_Listener(self))

    # -- assignment ---------------------------------------------------------------
    def assign(self, partitions: list[TopicPartition]) -> None:
        """Restore each new partition from its checkpoint and seek to its position."""
        for tp in partitions:
            checkpoint = self.checkpoint_for(tp.partition)
            state = self._load_with_retry(checkpoint, tp.partition)
            self.work[tp.partition] = PartitionWork(
                checkpoint, Sessioniser.restore(self.session_timeout_ms, state.sessions),
                state.offset, state.pending_end)
            self.consumer.seek(tp, state.offset)
            log.info("assigned %s[%d] at offset %d%s", self.topic, tp.partition, state.offset,
                     f", replaying pending batch to {state.pending_end}"
                     if state.pending_end is not None else "")

    def _load_with_retry(self, checkpoint: Checkpoint, partition: int) -> CheckpointState:
        """Load a checkpoint, waiting out a ClickHouse outage: without it the partition's
        position is unknown, and processing from anywhere else could lose or double."""
        delay = 0.5
        while True:
            try:
                return checkpoint.load()
            except StorageError as exc:
                if self._stop.is_set():
                    raise
                log.warning("cannot load the checkpoint of %s[%d]: %s; retrying in %.1fs",
                            self.topic, partition, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def revoke(self, partitions: list[TopicPartition]) -> None:
        """Forget revoked partitions; their uncommitted records replay at the next owner."""
        for tp in partitions:
            self.work.pop(tp.partition, None)

    # -- main loop ------------------------------------------------------------------
    def stop(self) -> None:
        """Ask run() to return after the current batch."""
        self._stop.set()

    def run(self) -> None:
        """Poll, batch per partition, write, commit; until stop()."""
        try:
            while not self._stop.is_set():
                self._buffer(self.consumer.poll(timeout_ms=100,
                                                max_records=self.max_batch_size))
                now = time.monotonic()
                for partition, work in list(self.work.items()):
                    self._maybe_flush(partition, work, now)
        finally:
            self.consumer.close(autocommit=False)
            self.dlq.close(timeout=5)

    def _buffer(self, polled: dict[TopicPartition, list[Any]]) -> None:
        """Append polled messages to their partition's buffer (never drop one)."""
        now = time.monotonic()
        for tp, messages in polled.items():
            work = self.work.get(tp.partition)
            if work is None:
                continue
            if not work.buffer:
                work.first_seen = now
            work.buffer.extend(Record(m.partition, m.offset, m.value) for m in messages)

    def _maybe_flush(self, partition: int, work: PartitionWork, now: float) -> None:
        if not work.buffer:
            return
        if work.pending_end is not None:  # replay exactly the batch that was in flight
            if work.buffer[-1].offset + 1 < work.pending_end:
                return
            records = [r for r in work.buffer if r.offset < work.pending_end]
        elif len(work.buffer) >= self.batch_size or now - work.first_seen >= self.batch_interval:
            records = work.buffer[: batch_size_for(len(work.buffer), self.batch_size,
                                                   self.max_batch_size)]
        else:
            return
        if self._write(partition, work, records):
            work.buffer = work.buffer[len(records):]
            work.first_seen = now
            work.pending_end = None

    def _write(self, partition: int, work: PartitionWork, records: list[Record]) -> bool:
        snapshot_before = work.sessioniser.snapshot()
        batch = build_batch(records, work.sessioniser)
        tp = TopicPartition(self.topic, partition)
        delay = 0.2
        while True:
            try:
                write_batch(batch, sink=self.sink, checkpoint=work.checkpoint,
                            dead_letters=self._dead_letter, sessioniser=work.sessioniser)
                break
            except StorageError as exc:
                self.metrics.inc("sink_errors")
                log.warning("ClickHouse failed for %s[%d] offsets %d-%d: %s; retrying in "
                            "%.1fs", self.topic, partition, batch.first_offset,
                            batch.end_offset, exc, delay)
                self.consumer.pause(*self.consumer.assignment())
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:  # keep the group membership alive
                    self._buffer(self.consumer.poll(timeout_ms=100))
                delay = min(delay * 2, 10.0)
                if self._stop.is_set() or partition not in self.work:
                    # Stopping or revoked: the pending range replays wherever it goes next.
                    work.sessioniser = Sessioniser.restore(self.session_timeout_ms,
                                                           snapshot_before)
                    return False
        self.consumer.resume(*self.consumer.paused())
        work.committed = batch.end_offset
        try:
            self.consumer.commit({tp: OffsetAndMetadata(batch.end_offset, "", -1)})
        except KafkaError as exc:  # lag metrics only; the checkpoint is the truth
            log.info("Kafka offset commit for %s[%d] skipped: %s", self.topic, partition,
                     type(exc).__name__)
        self.metrics.inc("events_written", len(batch.events))
        return True

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        futures = [self.dlq.send(self.dlq_topic, value=letter.value, headers=[
            ("reason", letter.reason.encode()), ("source_topic", self.topic.encode()),
            ("source_partition", str(letter.partition).encode()),
            ("source_offset", str(letter.offset).encode())]) for letter in letters]
        self.dlq.flush()
        for future in futures:
            future.get()
        self.metrics.inc("dead_letters", len(letters))
        for letter in letters:
            log.warning("dead-lettered %s[%d]@%d: %s", self.topic, letter.partition,
                        letter.offset, letter.reason)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, processor: KafkaProcessor) -> None:
        self.processor = processor

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.processor.revoke(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.processor.assign(assigned)
