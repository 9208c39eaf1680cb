"""kafka-processor: `crumbless processor` draining a topic, against its two floors.

A real broker (crumbless.testing.kafka) holds a pre-filled 6-partition topic of synthetic
anonymous events (visits of 1-8 page views over 29 days), one single-event envelope per
record keyed by site + visitor, as the collector forwards them. Three ways to take it in,
alternated and repeated, medians reported: *crumbless*: one `crumbless processor`
process (its own chdb data directory, default batch settings) in a fresh consumer group,
events/s between 10 % and 90 % of the backlog as its committed offsets show; *consume
floor*: a bare kafka-python consumer reading every record and decoding its envelope;
*insert floor*: plain clickhouse-connect inserts into chdb of the rows the processor core
builds from those records, per partition in batches of `max_batch_size` (20,000), views
firing (bench/processor.py's floor, in a worker process). The ratio against the slower
floor is the one the target (>= 0.50) is about.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import kafka_drain
from bench.stats_query import synthetic_events
from bench.timing import median
from bench.worker import spawn
from crumbless.testing.kafka import KAFKA_VERSION, KafkaBroker

NAME = "kafka-processor"
TITLE = "Kafka processor draining a topic, against a bare consumer and a bare insert"
DESCRIPTION = __doc__.split("\n", 2)[2].strip() if __doc__ else ""
MAX_BATCH = 20_000  # Settings.max_batch_size's default


def insert_floor(path: Path, batch_size: int, repeats: int) -> dict[str, Any]:
    """Rows built by the processor core from the records in `path`, then timed inserts."""
    from bench.processor import _floor, _fresh_database
    from processors.batch import build_batch
    from processors.rows import batch_rows
    from processors.sessionise import Sessioniser
    from sinks.client import connect

    by_partition: dict[int, list[Any]] = {}
    for record in kafka_drain.read_records(path):
        by_partition.setdefault(record.partition, []).append(record)
    built = []
    for records in by_partition.values():
        sessioniser = Sessioniser(30 * 60_000)
        for first in range(0, len(records), batch_size):
            built.append(batch_rows(build_batch(records[first:first + batch_size], sessioniser)))
    events = sum(b.event_count for b in built)  # RowBatch holds columns
    seconds = []
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        client = connect(f"chdb://{Path(tmp) / 'clickhouse'}", "default")
        for n in range(repeats):
            _fresh_database(client, Path(tmp), f"f{n}")
            seconds.append(_floor(client, built))
        client.close()
    return {"events": events, "seconds": seconds}


def worker(argv: list[str]) -> dict[str, Any]:
    """`python -m bench.worker kafka-insert RECORDS_FILE --batch-size B --repeats R`."""
    parser = argparse.ArgumentParser(prog="bench.worker kafka-insert")
    parser.add_argument("records", type=Path)
    parser.add_argument("--batch-size", type=int, default=MAX_BATCH)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    return insert_floor(args.records, args.batch_size, args.repeats)


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Fill a topic, then alternate the processor and the consumer floor; the insert floor
    runs in a worker process on the records the consumer read."""
    count, repeats = (20_000, 2) if quick else (150_000, 3)
    events = synthetic_events(count, dt.datetime.now(dt.UTC))
    processor: list[dict[str, Any]] = []
    consumed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        folder = Path(tmp)
        with KafkaBroker(folder / "kafka") as broker:
            topic = "bench.backlog"
            broker.create_topic(topic, kafka_drain.PARTITIONS)
            broker.create_topic(f"{topic}.dlq", 1)
            began = time.perf_counter()
            kafka_drain.fill_topic(broker.bootstrap, topic, events)
            fill_s = time.perf_counter() - began
            records: list[Any] = []
            for _ in range(repeats):
                processor.append(kafka_drain.drain(folder, broker.bootstrap, topic,
                                                   len(events), processes=1))
                seconds, records, decoded = kafka_drain.consume_all(broker.bootstrap, topic,
                                                                    len(events))
                consumed.append(len(events) / seconds)
            if decoded != len(events):
                raise RuntimeError(f"decoded {decoded} events from {len(events)} records")
        path = folder / "records.bin"
        kafka_drain.write_records(path, records)
        floor = spawn("kafka-insert", str(path), "--batch-size", str(MAX_BATCH), "--repeats",
                      str(repeats), timeout=900)
    memory = {key: max(run["memory"]["processor-0"].get(key, 0) for run in processor)
              for key in ("hwm_kib", "rss_kib")}
    return {"events": len(events), "repeats": repeats, "kafka": KAFKA_VERSION,
            "partitions": kafka_drain.PARTITIONS, "fill_events_per_s": len(events) / fill_s,
            "processor_eps": median([r["events_per_s"] for r in processor]),
            "processor_first_commit_s": median([r["first_commit_s"] for r in processor]),
            "processor_total_s": median([r["total_s"] for r in processor]),
            "processor_cpu_us_per_event": median([r["cpu_us_per_event"] for r in processor]),
            "consume_eps": median(consumed),
            "insert_eps": floor["events"] / median(floor["seconds"]),
            "insert_rows": floor["events"], "memory": {"processor": memory}}


def render(result: dict[str, Any]) -> list[str]:
    """Events/s of the processor and of each floor, ratios, and the processor's memory."""
    crumbless, consume, insert = (result["processor_eps"], result["consume_eps"],
                                  result["insert_eps"])
    slower = min(consume, insert)
    mem = result["memory"]["processor"]
    return [f"{result['events']:,} events in a {result['partitions']}-partition topic "
            f"(Kafka {result['kafka']}), median of {result['repeats']} alternated rounds. "
            f"The processor process took {result['processor_first_commit_s']:.1f} s from "
            f"its start to its first commit and {result['processor_total_s']:.1f} s in all.",
            "", "| variant | events/s | crumbless / variant |", "|---|---:|---:|",
            f"| `crumbless processor` (1 process) | {crumbless:,.0f} | 1.00 |",
            f"| floor: bare consumer, consume + decode | {consume:,.0f} | "
            f"{crumbless / consume:.2f} |",
            f"| floor: bare insert of the same rows, views firing | {insert:,.0f} | "
            f"{crumbless / insert:.2f} |", "",
            f"Against the slower floor: **{crumbless / slower:.2f}** (target >= 0.50). "
            f"The processor used {result['processor_cpu_us_per_event']:,.0f} µs of CPU per "
            f"event (its process, chdb's threads included), i.e. "
            f"{1e6 / result['processor_cpu_us_per_event']:,.0f} events per CPU-second. "
            f"Processor memory: peak RSS (VmHWM) {mem['hwm_kib'] / 1024:,.0f} MiB."]
