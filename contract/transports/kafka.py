"""KafkaTransport: collectors publish to Apache Kafka through a local disk spool.

Every envelope is first appended to the collector's spool (an EventLog, fsync'd with
group commit); one forwarder thread sends the spool to Kafka in order with an
idempotent, acks=all, zstd producer and advances its position only on broker acks.
`publish` returns once the envelope is durable in the spool: that fsync is the 202's
promise ("on this collector's disk, forwarded in order"), so a request never waits for
the broker's round trip and the beacon endpoint neither slows down nor stalls with the
broker's health (`backlog` and the `events_forwarded` counter show how far behind the
forwarder is). No send is ever abandoned and retried as a new record, so a broker outage
does not duplicate events. A full spool raises SpoolFull (→ 503 with Retry-After).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from contract.backoff import Backoff
from contract.event import AnonymousEvent, encode_envelope
from contract.files import atomic_write
from contract.metrics import Metrics
from contract.transports.eventlog import EventLog

log = logging.getLogger(__name__)
_KEY_LEN = struct.Struct(">H")
FORWARD_BACKOFF = Backoff(initial=0.2, factor=2.0, ceiling=5.0)  # broker outages are short


def partition_key(event: AnonymousEvent) -> bytes:
    """Kafka key: one visitor's events share it, so they share a partition (and a visit).

    During the salt grace window the visitor is keyed by yesterday's hash, so a visit open
    across midnight stays on the partition that holds it.
    """
    vid = event.prev_visitor_id or event.visitor_id
    return f"{event.site}:{vid}".encode() if vid else f"{event.site}:anon".encode()


def pack(key: bytes, value: bytes) -> bytes:
    """Spool record: key length, key, value."""
    return _KEY_LEN.pack(len(key)) + key + value


def unpack(record: bytes) -> tuple[bytes, bytes]:
    """Inverse of pack()."""
    (n,) = _KEY_LEN.unpack_from(record)
    return record[2:2 + n], record[2 + n:]


def producer_config(bootstrap: str, compression: str | None = "zstd") -> dict[str, Any]:
    """Producer settings: durable (acks=all, idempotent), compact (zstd), never giving up."""
    return {
        "bootstrap_servers": bootstrap.split(","),
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": compression,
        "linger_ms": 5,
        "max_in_flight_requests_per_connection": 5,
        "retries": 2**31 - 1,
        "delivery_timeout_ms": 7 * 24 * 3600 * 1000,  # a record is retried, never dropped
        "request_timeout_ms": 10_000,
        "max_block_ms": 5_000,
        "reconnect_backoff_max_ms": 2_000,
    }


class KafkaTransport:
    """Spool, then forward to the events topic; see the module docstring."""

    def __init__(self, *, bootstrap: str, topic: str, spool_dir: Path, metrics: Metrics,
                 fsync: bool = True, max_bytes: int = 1 << 30, forward_batch: int = 2000,
                 compression: str | None = "zstd") -> None:
        self.bootstrap = bootstrap
        self.compression = compression
        self.topic = topic
        self.metrics = metrics
        self.forward_batch = forward_batch
        self.spool = EventLog(spool_dir / "log", fsync=fsync, max_bytes=max_bytes)
        self._position_file = spool_dir / "forwarded.offset"
        self.forwarded = (int(self._position_file.read_text())
                          if self._position_file.exists() else self.spool.start_offset)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._producer: KafkaProducer | None = None
        self._thread = threading.Thread(target=self._forward_loop, daemon=True,
                                        name="crumbless-kafka-forwarder")
        self._thread.start()

    def publish(self, events: Sequence[AnonymousEvent]) -> None:
        """Spool the envelope durably (raises SpoolFull when the spool is full)."""
        if not events:
            return
        self.spool.append(pack(partition_key(events[0]), encode_envelope(events)))

    @property
    def backlog(self) -> int:
        """Envelopes on disk not yet acknowledged by Kafka."""
        return self.spool.end_offset - self.forwarded

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(**producer_config(self.bootstrap, self.compression))
        return self._producer

    def _forward_loop(self) -> None:
        """Send the spool in order until close(); what is left then replays next start."""
        delays = FORWARD_BACKOFF.delays()
        while not self._stop.is_set():
            self.spool.wait_for(self.forwarded, timeout=0.2)
            records = self.spool.read(self.forwarded, self.forward_batch)
            if not records:
                continue
            sent = self._send(records)
            if sent:
                self._advance(records[sent - 1].offset + 1)
            if sent < len(records):
                self.metrics.inc("kafka_send_errors")
                self._stop.wait(next(delays))
            else:
                delays = FORWARD_BACKOFF.delays()

    def _send(self, records: list[Any]) -> int:
        """Send records in order; return how many the broker acknowledged.

        A send that times out waiting for metadata was never appended, so stopping there
        and retrying later cannot duplicate. Appended records are waited for, never
        abandoned: the idempotent producer retries them with their sequence numbers.
        """
        try:
            producer = self._ensure_producer()
        except KafkaError as exc:
            log.warning("Kafka at %s unreachable (%s); events stay spooled", self.bootstrap,
                        type(exc).__name__)
            return 0
        futures = []
        for record in records:
            key, value = unpack(record.value)
            try:
                futures.append(producer.send(self.topic, key=key, value=value))
            except KafkaError as exc:
                log.warning("Kafka send of spool offset %d deferred: %s", record.offset,
                            type(exc).__name__)
                break
        producer.flush()
        for n, future in enumerate(futures):
            try:
                future.get()
            except KafkaError as exc:  # non-retriable (e.g. record too large): stop here
                log.error("Kafka refused spool offset %d: %s", records[n].offset, exc)
                self._reset_producer()
                return n
        return len(futures)

    def _reset_producer(self) -> None:
        """Drop a producer that failed before any record was appended to it."""
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except KafkaError:
                pass
            self._producer = None

    def _advance(self, offset: int) -> None:
        atomic_write(self._position_file, str(offset).encode())
        with self._cond:
            self.forwarded = offset
            self._cond.notify_all()
        self.spool.delete_before(offset)
        self.metrics.inc("events_forwarded")

    def close(self, timeout: float = 30.0) -> None:
        """Forward what is spooled (up to `timeout`), then stop; the rest replays next start."""
        deadline = time.monotonic() + timeout
        with self._cond:  # the forwarder notifies on every acknowledged advance
            self._cond.wait_for(lambda: self.backlog == 0, timeout)
        self._stop.set()
        self._thread.join(max(0.1, deadline - time.monotonic()))
        self._reset_producer()
        self.spool.close()
