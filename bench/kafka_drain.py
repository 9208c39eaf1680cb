"""Shared by `kafka-processor` and `processor-scaling`: a pre-filled topic and its drain.

`fill_topic` writes synthetic anonymous events to a topic as the collector does (one
single-event envelope per record, keyed by site + visitor, the collector's producer
settings). `drain` starts `crumbless processor` processes in a fresh consumer group and
watches the group's committed offsets: a processor commits a partition's offset after
the batch is in ClickHouse and its checkpoint is committed, so the committed offsets
count events written. Its rate is taken between 10 % and 90 % of the backlog, which
leaves out the processes' start (interpreter, chdb, migrations, group join) and the
last partial batches.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from bench.procs import MemoryWatch, Processes, cpu_seconds
from contract.event import AnonymousEvent, decode_envelope, encode_envelope
from contract.transport import Record
from contract.transports.kafka import partition_key, producer_config

PARTITIONS = 6  # Settings.kafka_partitions' default
_HEADER = struct.Struct("<HQI")  # partition, offset, value length


def fill_topic(bootstrap: str, topic: str, events: list[AnonymousEvent]) -> None:
    """One keyed single-event envelope per event, as `crumbless collector` forwards them."""
    producer = KafkaProducer(**producer_config(bootstrap))
    for event in events:
        producer.send(topic, key=partition_key(event), value=encode_envelope([event]))
    producer.flush()
    producer.close()


def consume_all(bootstrap: str, topic: str, total: int, timeout: float = 120
                ) -> tuple[float, list[Record], int]:
    """The floor: a bare kafka-python consumer reads and decodes every record of the topic.

    No group (partitions assigned, from the beginning). Returns (seconds from the first
    poll until the last record is decoded, the records, events decoded).
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                             enable_auto_commit=False, max_poll_records=20_000)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                           or ())]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    records: list[Record] = []
    events = 0
    began = time.perf_counter()
    deadline = time.monotonic() + timeout
    while len(records) < total and time.monotonic() < deadline:
        for tp, messages in consumer.poll(timeout_ms=200).items():
            for message in messages:
                events += len(decode_envelope(message.value))
                records.append(Record(tp.partition, message.offset, message.value))
    seconds = time.perf_counter() - began
    consumer.close()
    if len(records) < total:
        raise RuntimeError(f"bare consumer read {len(records)} of {total} records")
    return seconds, records, events


def write_records(path: Path, records: list[Record]) -> None:
    """Records as partition, offset, length, value (little-endian), for a worker process."""
    with path.open("wb") as out:
        for record in records:
            out.write(_HEADER.pack(record.partition, record.offset, len(record.value)))
            out.write(record.value)


def read_records(path: Path) -> Iterator[Record]:
    """The records `write_records` wrote, in order."""
    data = path.read_bytes()
    at = 0
    while at < len(data):
        partition, offset, size = _HEADER.unpack_from(data, at)
        at += _HEADER.size
        yield Record(partition, offset, data[at:at + size])
        at += size


def group_offsets(admin: KafkaAdminClient, group: str) -> dict[int, int]:
    """The group's committed offset per partition (absent: nothing committed yet).

    While the group has no coordinator yet (its first members are still joining) the
    broker answers with an error: nothing is committed then either.
    """
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:
        return {}
    return {tp.partition: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


def kafka_env(bootstrap: str, topic: str, group: str) -> dict[str, str]:
    """The settings every Kafka-mode process of a run shares (env vars, as in a deployment)."""
    return {"CRUMBLESS_TRANSPORT": "kafka", "CRUMBLESS_KAFKA_BOOTSTRAP": bootstrap,
            "CRUMBLESS_KAFKA_TOPIC": topic, "CRUMBLESS_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
            "CRUMBLESS_KAFKA_GROUP": group, "CRUMBLESS_KAFKA_PARTITIONS": str(PARTITIONS),
            # The processors' session timeout only matters when one dies; 10 s keeps a
            # rebalance after a start short on this small machine.
            "CRUMBLESS_KAFKA_SESSION_TIMEOUT_MS": "10000"}


def group_members(admin: KafkaAdminClient, group: str) -> int:
    """Members of the group when it is Stable (assignment done), else 0."""
    try:
        info = admin.describe_groups([group]).get(group, {})
    except KafkaError:
        return 0
    state = str(info.get("group_state", info.get("state", "")))
    return len(info.get("members", [])) if state.lower() == "stable" else 0


def crossing(samples: list[tuple[float, int]], level: float) -> float:
    """The time at which a rising count first reaches `level`, interpolated linearly.

    samples: (time, count) in time order. Raises ValueError if it never does.
    """
    previous = None
    for t, count in samples:
        if count >= level:
            if previous is None or count == previous[1]:
                return t
            pt, pc = previous
            return pt + (t - pt) * (level - pc) / (count - pc)
        previous = (t, count)
    raise ValueError(f"the count never reached {level}")


def steady_rate(samples: list[tuple[float, int]], total: int, since: float = 0.0) -> float:
    """Events/s between 10 % and 90 % of `total` (start-up and the tail left out).

    `since`: a time before which the count is not steady yet (e.g. a rebalance); the
    window then starts there if that is later than the 10 % mark.
    """
    low, high = crossing(samples, 0.1 * total), crossing(samples, 0.9 * total)
    if since > low:
        before = [count for t, count in samples if t <= since]
        low, start = since, (before[-1] if before else 0)
    else:
        start = int(0.1 * total)
    return (0.9 * total - start) / (high - low) if high > low else float("nan")


def drain(folder: Path, bootstrap: str, topic: str, total: int, processes: int,
          timeout: float = 240) -> dict[str, Any]:
    """Start `processes` `crumbless processor`s (each its own chdb data directory) in a
    fresh group on the pre-filled `topic`; time them until the group has committed
    `total` records.

    Returns events_per_s (10-90 % of the backlog, counted only once the group is Stable
    with every process in it: a member joining late makes the group rebalance; nan if
    that came after 90 %), clean (True when nothing was committed before the group had
    every process: then no rebalance fell inside the drain; a commit right after a
    rebalance may carry work done before it, which would inflate the rate), stable_s
    (from starting the processes until the group was Stable with all of them),
    first_commit_s, total_s, alive (processes still running at the end), memory
    {process name: {"hwm_kib", "rss_kib", "cpu_s"}}, and cpu_us_per_event: the CPU time
    of all the processes (chdb's threads are theirs) from then until the end, per event
    they committed meanwhile (the measure a busy machine disturbs least).
    """
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = kafka_env(bootstrap, topic, group)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    samples: list[tuple[float, int]] = []
    stable_at, cpu_at, done_at = None, 0.0, 0
    with Processes(folder) as procs:
        began = time.monotonic()
        deadline = began + timeout
        for n in range(processes):
            procs.start(f"processor-{n}", env, "processor", "--data-dir",
                        str(folder / f"{group}-{n}"))
        pids = {name: proc.pid for name, proc in procs.running.items()}
        with MemoryWatch(pids) as memory:
            while True:
                done = sum(group_offsets(admin, group).values())
                samples.append((time.monotonic(), done))
                if stable_at is None and group_members(admin, group) == processes:
                    stable_at, cpu_at, done_at = time.monotonic(), _cpu(pids), done
                if done >= total:
                    break
                _check(procs, deadline, f"{total} committed records (have {done})")
                time.sleep(0.1)
        cpu_end = _cpu(pids)
        alive = sum(proc.poll() is None for proc in procs.running.values())
        for name in list(procs.running):
            procs.stop(name)
    admin.close()
    first = next(t for t, count in samples if count > 0)
    stable = stable_at if stable_at is not None else samples[-1][0]
    return {"events_per_s": steady_rate(samples, total, stable), "stable_s": stable - began,
            "clean": stable_at is not None and first >= stable_at,
            "first_commit_s": first - began,
            "total_s": samples[-1][0] - began, "alive": alive, "memory": memory.peak,
            "cpu_us_per_event": (cpu_end - cpu_at) / (total - done_at) * 1e6
            if stable_at is not None and total > done_at else float("nan")}


def _cpu(pids: dict[str, int]) -> float:
    """CPU seconds the processes have used so far (those that exited count as 0)."""
    return sum(cpu_seconds(pid) or 0.0 for pid in pids.values())


def _check(procs: Processes, deadline: float, waiting_for: str) -> None:
    """RuntimeError if a processor exited or the deadline passed."""
    for name, proc in procs.running.items():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{procs.log_tail(name)}")
    if time.monotonic() > deadline:
        raise RuntimeError(f"timed out waiting for {waiting_for}")
