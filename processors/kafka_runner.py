"""The distributed processor: a Kafka consumer-group member feeding PartitionEngines.

Each assigned partition gets a processors/engine.py PartitionEngine restored from its
checkpoint (visits survive restarts and partition moves), which writes batches in the
commit order; after the checkpoint commit this shell commits the Kafka offset (for lag
monitoring; the checkpoint is the truth). Invalid records go to the DLQ with reason,
partition and offset. While ClickHouse fails, partitions are paused and the loop keeps
polling so the group does not evict it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from contract.checkpoint import Checkpoint
from contract.metrics import Metrics
from contract.transport import Record
from processors.batch import DeadLetter
from processors.engine import BatchSink, PartitionEngine

log = logging.getLogger(__name__)


class KafkaProcessor:
    """One member of the processor group; `run()` blocks until `stop()`."""

    def __init__(self, *, bootstrap: str, topic: str, dlq_topic: str, group: str,
                 sink: BatchSink, checkpoint_for: Callable[[int], Checkpoint],
                 metrics: Metrics, batch_size: int, batch_interval: float,
                 session_timeout_ms: int, consumer_config: dict[str, Any] | None = None,
                 max_batch_size: int | None = None) -> None:
        self.topic, self.dlq_topic, self.metrics = topic, dlq_topic, metrics
        self._stop = threading.Event()
        self.sink, self.checkpoint_for = sink, checkpoint_for  # replaceable until run()
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        self._engine = partial(
            PartitionEngine, source=topic, dead_letters=self._dead_letter, metrics=metrics,
            batch_size=batch_size, max_batch_size=self.max_batch_size,
            batch_interval=batch_interval, session_timeout_ms=session_timeout_ms,
            keep_loading=lambda: not self._stop.is_set())
        self.work: dict[int, PartitionEngine] = {}
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","), group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=self.max_batch_size, **(consumer_config or {}))
        self.dlq = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all",
                                 enable_idempotence=True)
        self._await_metadata(timeout=30.0)
        self.consumer.subscribe([topic], listener=_Listener(self))

    def _await_metadata(self, timeout: float) -> None:
        """Wait (bounded) until this consumer knows the topic's partitions.

        The group leader assigns only the partitions its metadata knows: a member that
        leads the first rebalance before it has the topic's metadata (a topic made moments
        ago, its partition leaders not elected yet) assigns nothing ("No partition metadata
        for topic") until the next metadata refresh, up to metadata.max.age.ms (5 min)
        later. Seen once in a loaded CI run as a processor that never caught up.
        """
        deadline = time.monotonic() + timeout
        while not self.consumer.partitions_for_topic(self.topic):
            if time.monotonic() >= deadline:
                log.warning("no partition metadata for %s after %.0fs; subscribing anyway",
                            self.topic, timeout)
                return
            time.sleep(0.2)

    # -- assignment ---------------------------------------------------------------
    def assign(self, partitions: list[TopicPartition]) -> None:
        """Restore each new partition from its checkpoint and seek to its position."""
        for tp in partitions:
            engine = self._engine(partition=tp.partition, sink=self.sink,
                                  checkpoint=self.checkpoint_for(tp.partition))
            self.work[tp.partition] = engine
            self.consumer.seek(tp, engine.committed)
            log.info("assigned %s[%d] at offset %d%s", self.topic, tp.partition,
                     engine.committed, f", replaying pending batch to {engine.pending_end}"
                     if engine.pending_end is not None else "")

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
                for partition, engine in list(self.work.items()):
                    self._maybe_flush(partition, engine, now)
        finally:
            self.consumer.close(autocommit=False)
            self.dlq.close(timeout=5)

    def _buffer(self, polled: dict[TopicPartition, list[Any]]) -> None:
        """Hand polled messages to their partition's engine (never drop one)."""
        now = time.monotonic()
        for tp, messages in polled.items():
            if (engine := self.work.get(tp.partition)) is not None:
                engine.receive((Record(m.partition, m.offset, m.value) for m in messages), now)

    def _maybe_flush(self, partition: int, engine: PartitionEngine, now: float) -> None:
        if (records := engine.due(now)) is None:
            return

        def retry_after(failures: int, delay: float) -> bool:
            """Pause and keep polling (the group must not evict us); stop or revoked: give up."""
            self.consumer.pause(*self.consumer.assignment())
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                self._buffer(self.consumer.poll(timeout_ms=100))
            return not self._stop.is_set() and partition in self.work

        if (batch := engine.write(records, retry_after)) is None:
            return  # stopping or revoked: the pending range replays wherever it goes next
        self.consumer.resume(*self.consumer.paused())
        try:  # after the checkpoint commit: for lag monitoring, the checkpoint is the truth
            self.consumer.commit({TopicPartition(self.topic, partition):
                                  OffsetAndMetadata(batch.end_offset, "", -1)})
        except KafkaError as exc:
            log.info("Kafka offset commit for %s[%d] skipped: %s", self.topic, partition,
                     type(exc).__name__)

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        futures = [self.dlq.send(self.dlq_topic, value=letter.value, headers=[
            ("reason", letter.reason.encode()), ("source_topic", self.topic.encode()),
            ("source_partition", str(letter.partition).encode()),
            ("source_offset", str(letter.offset).encode())]) for letter in letters]
        self.dlq.flush()
        for future in futures:
            future.get()
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
