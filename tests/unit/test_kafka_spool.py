"""The Kafka collector's publish: durable at the spool's fsync, never waiting on the broker.

No broker runs here on purpose: the bootstrap address is a closed loopback port (a real
outage, seen by the real kafka-python client), so a publish that waited for the broker's
ack could not return with the record spooled and unforwarded.
"""

import socket
from pathlib import Path

from contract.event import AnonymousEvent, decode_envelope
from contract.metrics import Metrics
from contract.transports.eventlog import EventLog
from contract.transports.kafka import KafkaTransport, unpack


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens


def test_publish_returns_at_the_spool_fsync_and_the_record_waits_there_for_the_broker(
        tmp_path: Path) -> None:
    transport = KafkaTransport(bootstrap=f"127.0.0.1:{_closed_port()}", topic="events.v1",
                               spool_dir=tmp_path, metrics=Metrics())
    events = [AnonymousEvent(site="example.com", ts_ms=1_700_000_000_000 + i, name="pageview",
                             hostname="example.com", pathname=f"/{i}", visitor_id=i + 1)
              for i in range(3)]
    try:
        for event in events:
            transport.publish([event])  # returns although no broker will ever ack
        assert transport.backlog == 3
        assert transport.forwarded == 0
    finally:
        transport.close(timeout=0.5)
    assert not (tmp_path / "forwarded.offset").exists()  # nothing was claimed as forwarded
    # Durable where the 202 promised it: a restarted collector finds all three, in order.
    spool = EventLog(tmp_path / "log")
    try:
        records = spool.read(0, 10)
    finally:
        spool.close()
    assert [decode_envelope(unpack(r.value)[1])[0].pathname for r in records] == [
        "/0", "/1", "/2"]
