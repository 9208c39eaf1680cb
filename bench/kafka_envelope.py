"""kafka-envelope: one Kafka record per event against envelopes of several events.

A real broker (crumbless.testing.kafka) gets the same anonymous events four ways: one
record per event with the collector's producer settings, envelopes of 10 and 50 events
grouped per partition (so a visitor's events still share one), and through
KafkaTransport (spool + forwarder, what the collector does today). Every variant and
repeat writes a fresh 6-partition topic, so bytes on disk are per variant.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from bench.timing import median, rate
from bench.workload import MAX_BODY, SITES, make_anonymiser, make_hits
from collector.beacon import parse_beacon
from contract.errors import DropEvent
from contract.event import AnonymousEvent, encode_envelope
from contract.metrics import Metrics
from contract.transports.kafka import KafkaTransport, partition_key, producer_config
from crumbless.testing.kafka import KAFKA_VERSION, KafkaBroker

NAME = "kafka-envelope"
TITLE = "one Kafka record per event, or envelopes of several"
DESCRIPTION = """
The same anonymous events (the privacy mix, bots dropped) sent to a real broker: (a) one
record per event, a single-event envelope keyed by site + visitor, which is what the
collector produces today; (b) envelopes of 10 and 50 events with the schema version,
grouped by the partition each event's key maps to, so a visitor's events still land on
one partition. Same producer settings as the collector (`producer_config`: acks=all,
idempotent, zstd, linger 5 ms). The KafkaTransport rows are the collector's real path:
`publish([event])` appends to the disk spool (fsync or flush) and the forwarder thread
sends spool records with that producer; timed until the forwarder has every ack
(publish itself does not wait for the broker). *events/s*: wall clock, sender and
broker sharing the 2 cores; *client CPU µs/event*: CPU time of the Python process (its
producer and forwarder threads included, the broker JVM not), the share of a collector's
budget spent on Kafka; *bytes/event on disk*: the topic's `.log` segments after the run
divided by the events.
"""
PARTITIONS = 6  # Settings.kafka_partitions' default
Timed = tuple[int, float, float]  # events in the timed part, wall seconds, CPU seconds
Variant = Callable[[KafkaBroker, str, list[AnonymousEvent]], Timed]


def stopwatch() -> Callable[[int], Timed]:
    """Start timing now; calling the result with an event count stops it."""
    began, cpu = time.perf_counter(), time.process_time()
    return lambda count: (count, time.perf_counter() - began, time.process_time() - cpu)


def anonymous_events(count: int, directory: Path) -> list[AnonymousEvent]:
    """`count` hits through the privacy transform (bots and refusals dropped)."""
    anonymiser = make_anonymiser(directory)
    events = []
    for hit in make_hits(count):
        beacon = parse_beacon(hit.body, max_bytes=MAX_BODY)
        try:
            events.append(anonymiser(beacon, hit.facts, SITES[beacon.domains[0]]))
        except DropEvent:
            continue
    anonymiser.geo.close()
    return events


def per_event(producer: KafkaProducer) -> Variant:
    """(a) One record per event: a single-event envelope keyed by visitor."""
    def send(_broker: KafkaBroker, topic: str, events: list[AnonymousEvent]) -> Timed:
        producer.partitions_for(topic)  # metadata outside the timed part
        stop = stopwatch()
        for event in events:
            producer.send(topic, key=partition_key(event), value=encode_envelope([event]))
        producer.flush()
        return stop(len(events))
    return send


def enveloped(producer: KafkaProducer, size: int) -> Variant:
    """(b) Envelopes of `size` events, grouped by the partition each event's key maps to."""
    def send(_broker: KafkaBroker, topic: str, events: list[AnonymousEvent]) -> Timed:
        producer.partitions_for(topic)
        stop = stopwatch()
        pending: dict[int, list[AnonymousEvent]] = {}
        for event in events:
            key = partition_key(event)
            # The Java client's partitioner, as kafka-python applies it to a keyed record.
            partition = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
            group = pending.setdefault(partition, [])
            group.append(event)
            if len(group) == size:
                producer.send(topic, partition=partition, key=partition_key(group[0]),
                              value=encode_envelope(group))
                pending[partition] = []
        for partition, group in pending.items():
            if group:
                producer.send(topic, partition=partition, key=partition_key(group[0]),
                              value=encode_envelope(group))
        producer.flush()
        return stop(len(events))
    return send


def through_transport(spool_root: Path, fsync: bool) -> Variant:
    """KafkaTransport.publish of single-event envelopes, until the forwarder has every ack."""
    def send(broker: KafkaBroker, topic: str, events: list[AnonymousEvent]) -> Timed:
        transport = KafkaTransport(bootstrap=broker.bootstrap, topic=topic, metrics=Metrics(),
                                   spool_dir=Path(tempfile.mkdtemp(dir=spool_root)),
                                   fsync=fsync)
        try:
            _publish_all(transport, events[:1])  # the first one starts the lazy producer
            stop = stopwatch()
            _publish_all(transport, events[1:])
            return stop(len(events) - 1)
        finally:
            transport.close()
    return send


def _publish_all(transport: KafkaTransport, events: list[AnonymousEvent]) -> None:
    """Publish one envelope per event, then wait until Kafka has acknowledged them all."""
    for event in events:
        transport.publish([event])
    while transport.backlog > 0:
        time.sleep(0.002)


def topic_bytes(broker: KafkaBroker, topic: str) -> int:
    """Bytes of the topic's log segments (index files are preallocated, so not counted)."""
    return sum(path.stat().st_size for path in broker.log_dir.glob(f"{topic}-*/*.log"))


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Start a broker, then time every variant `repeats` times, interleaved."""
    count, repeats = (3000, 2) if quick else (10_000, 4)
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        events = anonymous_events(count, Path(tmp))
        with KafkaBroker(Path(tmp) / "kafka") as broker:
            producer = KafkaProducer(**producer_config(broker.bootstrap))
            broker.create_topic("bench.warmup", PARTITIONS)
            producer.send("bench.warmup", b"warm-up").get(timeout=30)  # metadata, producer id
            variants: dict[str, Variant] = {
                "one record per event": per_event(producer),
                "envelopes of 10": enveloped(producer, 10),
                "envelopes of 50": enveloped(producer, 50),
                "KafkaTransport, spool fsync": through_transport(Path(tmp), fsync=True),
                "KafkaTransport, spool flush": through_transport(Path(tmp), fsync=False),
            }
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for repeat in range(repeats):
                for n, (name, send) in enumerate(variants.items()):
                    topic = f"bench.v{n}.r{repeat}"
                    broker.create_topic(topic, PARTITIONS)
                    timed, wall_s, cpu_s = send(broker, topic, events)
                    samples[name].append({"events_per_s": rate(timed, wall_s),
                                          "cpu_us_per_event": cpu_s / timed * 1e6,
                                          "bytes_per_event": topic_bytes(broker, topic)
                                          / len(events)})
            producer.close()
    return {"events": len(events), "repeats": repeats, "kafka": KAFKA_VERSION,
            "variants": {name: {key: median([s[key] for s in runs]) for key in runs[0]}
                         for name, runs in samples.items()}}


def render(result: dict[str, Any]) -> list[str]:
    """The Markdown table of one result, ratios against one record per event."""
    variants = result["variants"]
    base = variants["one record per event"]
    lines = [f"{result['events']:,} anonymous events, 6 partitions, Kafka {result['kafka']}, "
             "producer acks=all, idempotent, zstd, linger 5 ms; median of "
             f"{result['repeats']} repeats. CPU is the Python process's (producer threads "
             "included), not the broker's.", "",
             "| variant | events/s | x (a) | client CPU µs/event | bytes/event on disk "
             "| x (a) |", "|---|---:|---:|---:|---:|---:|"]
    for name, v in variants.items():
        lines.append(f"| {name} | {v['events_per_s']:,.0f} | "
                     f"{v['events_per_s'] / base['events_per_s']:.2f} | "
                     f"{v['cpu_us_per_event']:.1f} | {v['bytes_per_event']:.1f} | "
                     f"{v['bytes_per_event'] / base['bytes_per_event']:.2f} |")
    return lines
