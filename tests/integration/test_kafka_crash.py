"""A processor SIGKILLed repeatedly during a steady stream leaves every count exact."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from contract.event import AnonymousEvent, encode_envelope
from contract.settings import Settings
from contract.transports.kafka import partition_key
from contract.transports.kafka_topics import ensure_topics
from crumbless.testing.kafka import KafkaBroker

pytestmark = pytest.mark.kafka
EVENTS = 600
VISITORS = 60

COUNTS_SCRIPT = """
import json, sys, clickhouse_connect
c = clickhouse_connect.get_client(dsn=sys.argv[1]); c.database = sys.argv[2]
q = lambda sql: int(c.query(sql).result_rows[0][0])
print(json.dumps({
    "events": q("SELECT count() FROM events"),
    "visitors": q("SELECT uniqExact(visitor_id) FROM events"),
    "visits": q("SELECT sum(sign) FROM sessions"),
    "session_pageviews": q("SELECT sum(sign * pageviews) FROM sessions"),
    "rollup_pageviews": q("SELECT sum(pageviews) FROM rollup_daily WHERE dim = ''"),
    "rollup_visits": q("SELECT sum(visits) FROM rollup_daily WHERE dim = ''"),
    "hourly_events": q("SELECT sum(events) FROM rollup_hourly"),
}))
"""


def processor_command(settings: Settings, dsn: str) -> list[str]:
    return [sys.executable, "-m", "crumbless.cli", "processor", "--transport", "kafka",
            "--clickhouse-dsn", dsn, "--database", settings.database,
            "--kafka-bootstrap", settings.kafka_bootstrap, "--kafka-topic", settings.kafka_topic,
            "--kafka-dlq-topic", settings.kafka_dlq_topic, "--kafka-group", settings.kafka_group,
            "--kafka-session-timeout-ms", "6000", "--batch-size", "40",
            "--batch-interval", "0.1"]


def group_caught_up(settings: Settings, total: int) -> bool:
    """True when the processor group has committed every record of the topic."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             group_id=settings.kafka_group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(settings.kafka_topic, p)
                 for p in consumer.partitions_for_topic(settings.kafka_topic) or ()]
        ends = consumer.end_offsets(parts)
        committed = {tp: consumer.committed(tp) or 0 for tp in parts}
    finally:
        consumer.close(autocommit=False)
    return sum(ends.values()) == total and all(committed[tp] >= end for tp, end in ends.items())


def test_processor_sigkilled_repeatedly_leaves_exact_counts(kafka_broker: KafkaBroker,
                                                            tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    settings = Settings(transport="kafka", kafka_bootstrap=kafka_broker.bootstrap,
                        kafka_topic=f"crash.{tag}", kafka_dlq_topic=f"crash-dlq.{tag}",
                        kafka_group=f"crash.{tag}", kafka_partitions=2, database="crash")
    ensure_topics(settings)
    dsn = f"chdb://{tmp_path / 'processor-chdb'}"
    rng = random.Random(7)
    now_ms = int(time.time() * 1000)

    def produce() -> None:
        producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        for i in range(EVENTS):
            event = AnonymousEvent(site="example.com", ts_ms=now_ms + i * 100, name="pageview",
                                   hostname="example.com", pathname=f"/p{i % 9}",
                                   visitor_id=1000 + i % VISITORS)
            producer.send(settings.kafka_topic, key=partition_key(event),
                          value=encode_envelope([event]))
            time.sleep(0.02)
        producer.flush()
        producer.close()

    stream = threading.Thread(target=produce)
    stream.start()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "processor.log").open("ab")
    kills = 0
    while stream.is_alive() or kills < 3:
        proc = subprocess.Popen(processor_command(settings, dsn), stdout=log, stderr=log, env=env)
        time.sleep(rng.uniform(4.0, 7.0))  # long enough to be mid-stream, mid-batch
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        kills += 1
        if kills >= 6:
            break
    stream.join(120)
    proc = subprocess.Popen(processor_command(settings, dsn), stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 180
        while not group_caught_up(settings, EVENTS):
            assert proc.poll() is None, (tmp_path / "processor.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "processor never caught up"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    done = subprocess.run([sys.executable, "-c", COUNTS_SCRIPT, dsn, settings.database],
                          capture_output=True, text=True, timeout=120, check=True)
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert kills >= 3
    assert counts == {"events": EVENTS, "visitors": VISITORS, "visits": VISITORS,
                      "session_pageviews": EVENTS, "rollup_pageviews": EVENTS,
                      "rollup_visits": VISITORS, "hourly_events": EVENTS}
