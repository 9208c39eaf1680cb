"""The Kafka test harness runs a real broker that keeps data across restarts and crashes."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from crumbless.testing.kafka import KafkaBroker

pytestmark = pytest.mark.kafka

Record = tuple[int, bytes, bytes]  # (partition, key, value)
ZSTD_CODEC = 4  # the compression bits of a record batch's attributes


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One broker for this module; tests here stop and restart it, so it is not shared."""
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as running:
        yield running


def fresh_topic(broker: KafkaBroker, partitions: int = 2) -> str:
    """Create a topic no other test uses and return its name."""
    name = f"harness-{uuid.uuid4().hex[:12]}"
    broker.create_topic(name, partitions=partitions)
    return name


def produce(
    broker: KafkaBroker, topic: str, records: list[tuple[bytes, bytes]], **config: object
) -> list[Record]:
    """Send records, wait for every acknowledgement, and return where each one landed."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5, **config)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        producer.flush(timeout=30)
        landed = [future.get(timeout=30) for future in futures]
    finally:
        producer.close(timeout=10)
    pairs = zip(landed, records, strict=True)
    return [(meta.partition, key, value) for meta, (key, value) in pairs]


def consume_all(broker: KafkaBroker, topic: str, partitions: int = 2) -> list[Record]:
    """Read every partition from its beginning to its current end offset."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records: list[Record] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            assert time.monotonic() < deadline, f"consumer stalled before the end offsets {end}"
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend((r.partition, r.key, r.value) for r in batch)
    finally:
        consumer.close()
    return records


def first_batch_header(segment: Path) -> tuple[int, int]:
    """(compression codec, producer id) of a segment's first v2 record batch, read from disk."""
    # baseOffset i64, length i32, leaderEpoch i32, magic i8, crc u32, attributes i16,
    # lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64, producerId i64, ...
    header = segment.read_bytes()[:51]
    assert header[16] == 2, f"{segment} does not start with a v2 record batch"
    attributes = struct.unpack_from(">h", header, 21)[0]
    producer_id = struct.unpack_from(">q", header, 43)[0]
    return attributes & 0x07, producer_id


def by_partition(records: list[Record]) -> dict[int, list[Record]]:
    """Group records per partition, keeping order: Kafka orders within a partition only."""
    grouped: dict[int, list[Record]] = {}
    for record in records:
        grouped.setdefault(record[0], []).append(record)
    return grouped


def test_idempotent_zstd_producer_round_trips_every_message_exactly(broker: KafkaBroker) -> None:
    """What an idempotent, zstd, acks=all producer writes to 2 partitions reads back exactly."""
    topic = fresh_topic(broker)
    sent = [(b"visitor-%d" % (i % 37), b"event %d " % i + b"x" * (i % 50)) for i in range(2000)]

    landed = produce(broker, topic, sent, enable_idempotence=True, compression_type="zstd")

    assert {partition for partition, _, _ in landed} == {0, 1}
    assert by_partition(consume_all(broker, topic)) == by_partition(landed)
    # On disk the batches are zstd (codec 4) and carry a producer id, i.e. the producer
    # really was idempotent and compressing, not silently downgraded.
    codec, producer_id = first_batch_header(broker.log_dir / f"{topic}-0" / f"{0:020d}.log")
    assert codec == ZSTD_CODEC
    assert producer_id >= 0


def test_consumer_group_reads_from_the_earliest_offset(broker: KafkaBroker) -> None:
    """A subscribed consumer group (the processors' path) joins and gets every message."""
    topic = fresh_topic(broker)
    landed = produce(broker, topic, [(b"k%d" % i, b"v%d" % i) for i in range(200)])

    consumer = KafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap, group_id=f"group-{topic}",
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000,
    )
    received: list[Record] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(landed) and time.monotonic() < deadline:
            received.extend((r.partition, r.key, r.value) for r in consumer)
        consumer.commit()
    finally:
        consumer.close()

    assert by_partition(received) == by_partition(landed)


def test_stop_then_start_keeps_data_ports_and_accepts_new_messages(broker: KafkaBroker) -> None:
    """A clean outage: after stop() and start() old messages are readable and new ones land."""
    topic = fresh_topic(broker)
    before = produce(broker, topic, [(b"before-%d" % i, b"payload-%d" % i) for i in range(100)])
    bootstrap = broker.bootstrap

    broker.stop()
    assert not broker.running
    assert KafkaBroker(broker.work_dir).bootstrap == bootstrap  # ports live with the data
    broker.start()

    assert broker.bootstrap == bootstrap
    after = produce(broker, topic, [(b"after-%d" % i, b"payload-%d" % i) for i in range(100)])
    assert by_partition(consume_all(broker, topic)) == by_partition(before + after)


def test_kill_then_start_recovers_acknowledged_messages(broker: KafkaBroker) -> None:
    """A crash (SIGKILL): acknowledged messages survive and the restarted broker accepts more."""
    topic = fresh_topic(broker)
    before = produce(broker, topic, [(b"k%d" % i, b"before crash %d" % i) for i in range(100)])

    broker.kill()
    assert not broker.running
    broker.start()

    after = produce(broker, topic, [(b"k%d" % i, b"after crash %d" % i) for i in range(100)])
    assert by_partition(consume_all(broker, topic)) == by_partition(before + after)


def test_uncompressed_payload_bytes_are_findable_in_a_segment_file(broker: KafkaBroker) -> None:
    """Privacy tests can grep log_dir: an uncompressed payload's raw bytes sit in a .log segment."""
    topic = fresh_topic(broker, partitions=1)
    needle = f"needle-{uuid.uuid4().hex}".encode()
    produce(broker, topic, [(b"key", b"prefix " + needle + b" suffix")], compression_type=None)

    segments = sorted(broker.log_dir.glob(f"{topic}-*/*.log"))
    assert segments, f"no segment files for {topic} under {broker.log_dir}"
    assert any(needle in segment.read_bytes() for segment in segments)


def test_broker_dies_with_the_python_process_that_started_it(tmp_path: Path) -> None:
    """No test run leaves a broker behind: SIGKILL the starting process, the JVM follows."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from crumbless.testing.kafka import KafkaBroker
        broker = KafkaBroker(Path({str(tmp_path)!r}))
        broker.start()
        print(broker.pid, flush=True)
        time.sleep(600)
        """
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first_line = starter.stdout.readline() if starter.stdout else ""
    finally:
        starter.send_signal(signal.SIGKILL)
        _, errors = starter.communicate()
    assert first_line.strip().isdigit(), f"the starting process failed:\n{errors}"
    java_pid = int(first_line)

    deadline = time.monotonic() + 15
    while _is_alive(java_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _is_alive(java_pid), f"broker JVM {java_pid} outlived the process that started it"


def _is_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
