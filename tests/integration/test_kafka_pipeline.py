"""The distributed mode on a real Apache Kafka broker and real chdb: nothing lost, nothing
counted twice, and no raw IP in any Kafka log segment."""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from collector.pipeline import RequestFacts
from contract.errors import StorageError
from contract.event import AnonymousEvent, encode_envelope
from contract.rows import RowBatch
from contract.settings import Settings
from contract.transports.kafka_topics import ensure_topics, live_retention_ms
from crumbless.distributed import CollectorRuntime, build_processor
from crumbless.testing.kafka import KafkaBroker
from processors.kafka_runner import KafkaProcessor
from sinks.clickhouse import ClickHouseSink
from sinks.migrations import migrate
from sinks.registry import SiteRegistry
from sinks.state import ClickHouseSaltStore
from tests.conftest import Chdb, Clock
from tests.integration.helpers import CHROME, send

pytestmark = pytest.mark.kafka
CONSUMER_FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def kafka_settings(broker: KafkaBroker, tmp_path: Path, database: str, **extra: Any) -> Settings:
    tag = secrets.token_hex(4)
    settings = Settings(
        transport="kafka", kafka_bootstrap=broker.bootstrap, kafka_topic=f"events.{tag}",
        kafka_dlq_topic=f"dlq.{tag}", kafka_group=f"processors.{tag}", kafka_partitions=4,
        data_dir=tmp_path / "data", database=database, k_anonymity=1, batch_size=200,
        batch_interval=0.2, log_durability="flush")
    return replace(settings, **extra).validate()


@pytest.fixture
def setup(kafka_broker: KafkaBroker, tmp_path: Path, chdb: Chdb, database: str) -> Settings:
    settings = kafka_settings(kafka_broker, tmp_path, database)
    migrate(chdb.client, settings)
    ensure_topics(settings)
    SiteRegistry(chdb.client).add("example.com", no_consent="full")
    return settings


@pytest.fixture
def processors(chdb: Chdb) -> Iterator[Callable[..., KafkaProcessor]]:
    """Start processor group members in threads; all are stopped at the end."""
    running: list[tuple[KafkaProcessor, threading.Thread]] = []

    def start(settings: Settings, wrap: Callable[[Any], Any] | None = None,
              wrap_checkpoint: Callable[[Any], Any] | None = None) -> KafkaProcessor:
        processor = build_processor(settings, client=chdb.client, consumer_config=CONSUMER_FAST)
        if wrap is not None:
            processor.sink = wrap(processor.sink)
        if wrap_checkpoint is not None:
            inner = processor.checkpoint_for
            processor.checkpoint_for = lambda p: wrap_checkpoint(inner(p))
        thread = threading.Thread(target=processor.run, daemon=True)
        thread.start()
        running.append((processor, thread))
        return processor

    yield start
    for processor, thread in running:
        processor.stop()
        thread.join(30)


def wait_for(predicate: Callable[[], bool], timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def count(chdb: Chdb, sql: str) -> int:
    return int(chdb.client.query(sql).result_rows[0][0])


def collector(settings: Settings, chdb: Chdb, tmp_path: Path, name: str, **kw: Any
              ) -> CollectorRuntime:
    return CollectorRuntime(settings, client=chdb.client, spool_dir=tmp_path / name, **kw)


def test_two_collectors_and_two_processors_land_every_event_exactly_once(
        setup: Settings, chdb: Chdb, tmp_path: Path, processors: Any) -> None:
    c1, c2 = (collector(setup, chdb, tmp_path, n) for n in ("c1", "c2"))
    clients = [c1.app().test_client(), c2.app().test_client()]
    processors(setup)
    processors(setup)
    sent = 0
    for i in range(400):
        visitor = i % 40
        status = send(clients[i % 2], ip=f"198.51.100.{visitor}",
                      url=f"https://example.com/p{i % 7}").status_code
        assert status == 202
        sent += 1
    wait_for(lambda: count(chdb, "SELECT count() FROM events") >= sent, what="all events")
    time.sleep(1)  # a double insert would land within a batch interval
    assert count(chdb, "SELECT count() FROM events") == sent
    assert count(chdb, "SELECT sum(pageviews) FROM rollup_daily WHERE dim = ''") == sent
    assert count(chdb, "SELECT sum(pageviews) FROM rollup_hourly") == sent
    # Both collectors hash with the same salt: a visitor split across them is one visitor.
    assert count(chdb, "SELECT uniqExact(visitor_id) FROM events") == 40
    assert count(chdb, "SELECT uniqMerge(visitors) FROM rollup_daily WHERE dim = ''") == 40
    assert count(chdb, "SELECT sum(visits) FROM rollup_daily WHERE dim = ''") == 40
    facts = RequestFacts(ip="198.51.100.1", user_agent=CHROME, headers={})
    from collector.beacon import parse_beacon

    beacon = parse_beacon(b'{"n":"pageview","u":"https://example.com/","d":"example.com"}',
                          max_bytes=16384)
    site = c1.sites.get("example.com")
    assert site is not None
    assert c1.edge.anonymiser(beacon, facts, site).visitor_id == c2.edge.anonymiser(
        beacon, facts, site).visitor_id
    c1.close()
    c2.close()


def test_raw_ips_appear_in_no_kafka_log_segment(setup: Settings, chdb: Chdb, tmp_path: Path,
                                               kafka_broker: KafkaBroker) -> None:
    c = collector(setup, chdb, tmp_path, "c")
    c.transport.compression = None  # uncompressed, so a leaked IP would be visible verbatim
    client = c.app().test_client()
    ips = ["203.0.113.211", "2001:db8:feed:211::9"]
    for ip in ips:
        assert send(client, ip=ip, url="https://example.com/canary-5f3a").status_code == 202
    wait_for(lambda: c.transport.backlog == 0, what="spool forwarded")
    c.close()
    segments = [p for p in kafka_broker.log_dir.rglob("*") if p.is_file()]
    blob = b"".join(p.read_bytes() for p in segments)
    assert b"/canary-5f3a" in blob  # the events are there and readable ...
    for ip in ips:  # ... and their senders' IPs are not, in any form
        for needle in (ip.encode(), ipaddress.ip_address(ip).packed):
            assert needle not in blob


def test_a_broker_outage_loses_and_duplicates_nothing(tmp_path: Path, chdb: Chdb,
                                                      database: str, processors: Any) -> None:
    broker = KafkaBroker(tmp_path / "outage-broker")
    broker.start()
    try:
        settings = kafka_settings(broker, tmp_path, database)
        migrate(chdb.client, settings)
        ensure_topics(settings)
        SiteRegistry(chdb.client).add("example.com", no_consent="full")
        c = collector(settings, chdb, tmp_path, "c")
        client = c.app().test_client()
        processors(settings)
        accepted = 0

        def burst(n: int, offset: int) -> None:
            nonlocal accepted
            for i in range(n):
                if send(client, ip=f"198.51.100.{(offset + i) % 50}",
                        url=f"https://example.com/{i}").status_code == 202:
                    accepted += 1

        burst(50, 0)
        broker.stop()
        burst(50, 50)  # broker down: every 202 here is a spooled event
        assert c.transport.backlog > 0
        broker.start()
        burst(50, 100)
        wait_for(lambda: c.transport.backlog == 0, what="spool drained after restart")
        wait_for(lambda: count(chdb, "SELECT count() FROM events") >= accepted,
                 what="every accepted event in ClickHouse")
        time.sleep(1)
        assert accepted == 150
        assert count(chdb, "SELECT count() FROM events") == 150
        assert count(chdb, "SELECT sum(events) FROM rollup_daily WHERE dim = ''") == 150
        c.close()
    finally:
        broker.stop()


def test_poison_records_go_to_the_dlq_with_a_reason_and_the_group_keeps_going(
        setup: Settings, chdb: Chdb, processors: Any, kafka_broker: KafkaBroker) -> None:
    good = AnonymousEvent(site="example.com", ts_ms=int(time.time() * 1000), name="pageview",
                          hostname="example.com", pathname="/ok", visitor_id=7)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    for value in (b"not json", b'{"v": 99, "events": [{}]}', encode_envelope([good]),
                  b'{"v": 1, "events": [{"site": "example.com"}]}', encode_envelope([good])):
        producer.send(setup.kafka_topic, key=b"k", value=value)
    producer.flush()
    producer.close()
    processors(setup)
    wait_for(lambda: count(chdb, "SELECT count() FROM events") >= 2, what="valid events")
    consumer = KafkaConsumer(setup.kafka_dlq_topic, bootstrap_servers=kafka_broker.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    letters = [(dict(m.headers), m.value) for m in consumer]
    consumer.close()
    reasons = sorted(h["reason"].decode() for h, _ in letters)
    assert len(letters) == 3
    assert any("not JSON" in r for r in reasons)
    assert any("unknown schema version 99" in r for r in reasons)
    assert any("missing field" in r for r in reasons)
    assert all(h["source_topic"].decode() == setup.kafka_topic and "source_offset" in h
               for h, _ in letters)
    assert count(chdb, "SELECT count() FROM events") == 2


def test_clickhouse_failures_pause_the_processor_and_it_catches_up(
        setup: Settings, chdb: Chdb, tmp_path: Path, processors: Any) -> None:
    failures = {"left": 4}

    class Flaky:
        def __init__(self, inner: ClickHouseSink) -> None:
            self.inner = inner

        def write(self, batch: RowBatch) -> None:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise StorageError("simulated: ClickHouse unreachable")
            self.inner.write(batch)

    c = collector(setup, chdb, tmp_path, "c")
    client = c.app().test_client()
    processor = processors(setup, wrap=Flaky)
    for i in range(60):
        assert send(client, ip=f"198.51.100.{i}", url="https://example.com/").status_code == 202
    wait_for(lambda: count(chdb, "SELECT count() FROM events") >= 60, what="catch-up")
    time.sleep(1)
    assert count(chdb, "SELECT count() FROM events") == 60
    assert processor.metrics.get("sink_errors") == 4
    c.close()


def test_a_checkpoint_that_cannot_be_loaded_holds_the_partition_until_it_can(
        setup: Settings, chdb: Chdb, tmp_path: Path, processors: Any) -> None:
    failures = {"left": 3}

    class Unreachable:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def load(self) -> Any:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise StorageError("simulated: ClickHouse unreachable at assignment")
            return self.inner.load()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    c = collector(setup, chdb, tmp_path, "c")
    client = c.app().test_client()
    for i in range(40):
        assert send(client, ip=f"198.51.100.{i}", url="https://example.com/").status_code == 202
    processors(setup, wrap_checkpoint=Unreachable)
    wait_for(lambda: count(chdb, "SELECT count() FROM events") >= 40, what="catch-up")
    time.sleep(1)
    assert failures["left"] == 0
    assert count(chdb, "SELECT count() FROM events") == 40
    c.close()


def test_migrate_sets_topic_retention_within_the_raw_ttl(kafka_broker: KafkaBroker,
                                                        tmp_path: Path, database: str) -> None:
    settings = kafka_settings(kafka_broker, tmp_path, database, raw_ttl_days=2,
                              kafka_retention_hours=48)
    ensure_topics(settings)
    assert live_retention_ms(settings, settings.kafka_topic) == 48 * 3_600_000
    shorter = replace(settings, raw_ttl_days=1, kafka_retention_hours=12).validate()
    ensure_topics(shorter)  # an existing topic is updated, not only new ones
    assert live_retention_ms(shorter, settings.kafka_topic) == 12 * 3_600_000
    assert live_retention_ms(shorter, settings.kafka_dlq_topic) == 12 * 3_600_000


def test_collectors_share_one_salt_per_day_and_destroyed_salts_leave_no_bytes(
        chdb: Chdb, database: str, clock: Clock) -> None:
    migrate(chdb.client, Settings(database=database))
    day = clock.now.date()
    stores = [ClickHouseSaltStore(chdb.client) for _ in range(4)]
    salts = {s.salt_for(day) for s in stores}
    assert len(salts) == 1
    (salt,) = salts
    fresh = ClickHouseSaltStore(chdb.client)
    assert fresh.salt_for(day) == salt
    fresh.destroy(day)
    assert day not in fresh.days()

    def bytes_left() -> bool:
        return any(salt in p.read_bytes() for p in chdb.path.rglob("*") if p.is_file())

    wait_for(lambda: not bytes_left(), timeout=120, what="old salt parts removed from disk")
    assert ClickHouseSaltStore(chdb.client).salt_for(day) != salt



def test_retention_apply_changes_the_live_topic_retention_and_audits_it(
        setup: Settings, chdb: Chdb) -> None:
    from crumbless.admin import DirectAdmin

    admin = DirectAdmin(chdb.client, setup)
    plan = admin.retention_plan(None, "kafka", 24)
    assert (plan["old"], plan["new"], plan["unit"]) == (72, 24, "hours")
    done = admin.retention_apply(None, "kafka", 24, actor="ops")
    assert done["steps"][0]["kafka"][setup.kafka_topic] == str(24 * 3_600_000)
    assert live_retention_ms(setup, setup.kafka_topic) == 24 * 3_600_000
    assert admin.retention_audit()[0]["tier"] == "kafka"
    assert "| events in transit (message queue) | 24 hours |" in admin.privacy_notice(
        "example.com", "md")
