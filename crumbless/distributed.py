"""The distributed roles: `crumbless collector`, `crumbless processor`, `crumbless dashboard`.

Collectors publish to Kafka (through their disk spool) and share sites and daily salts
through ClickHouse; processors form a Kafka consumer group and write to ClickHouse;
dashboards answer the Stats API from ClickHouse. Any number of each can run.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from flask import Flask

from collector.app import collector_blueprint
from collector.edge import PrivacyEdge
from collector.salts import SaltStore
from collector.tracker import tracker_blueprint
from contract.metrics import Metrics
from contract.settings import Settings
from contract.transports.kafka import KafkaTransport
from crumbless.app import EdgeLimits, base_app, collector_config, site_gate
from crumbless.runtime import Clock, ensure_private_dir, utc_now
from crumbless.server import Served
from dashboards.api import stats_blueprint
from dashboards.noise import DpPolicy
from dashboards.stats import StatsService
from processors.kafka_runner import KafkaProcessor
from sinks.clickhouse import ClickHouseSink
from sinks.client import connect
from sinks.finalize import Finalizer
from sinks.migrations import migrate
from sinks.registry import ApiKeys, SiteRegistry
from sinks.retention import RetentionStore
from sinks.state import ClickHouseCheckpoint, ClickHouseSaltStore

log = logging.getLogger(__name__)


class CollectorRuntime:
    """A collector instance: privacy transform in front of a KafkaTransport."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now,
                 client: Client | None = None, salt_store: SaltStore | None = None,
                 spool_dir: Path | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.client = client if client is not None else connect(settings.dsn, settings.database)
        self.sites = SiteRegistry(self.client)
        self.edge = PrivacyEdge(settings, salt_store or ClickHouseSaltStore(self.client), clock)
        self.transport = KafkaTransport(
            bootstrap=settings.kafka_bootstrap, topic=settings.kafka_topic,
            spool_dir=ensure_private_dir(spool_dir or settings.data_dir / "spool"),
            metrics=self.metrics, fsync=settings.log_durability == "fsync",
            max_bytes=settings.spool_max_bytes)
        self.edge.start_rotation()

    def app(self) -> Flask:
        """The collector's WSGI app."""
        limits = EdgeLimits.from_settings(self.settings)
        spool = self.transport.spool
        app = base_app(self.metrics, lambda: {"spool_backlog": self.transport.backlog,
                                              "fsyncs": spool.syncs,
                                              "fsync_seconds": round(spool.sync_seconds, 3)},
                       limits)
        app.register_blueprint(collector_blueprint(
            config=collector_config(self.settings), anonymiser=self.edge.anonymiser,
            site_for=self.sites.get, transport=self.transport, metrics=self.metrics,
            site_limit=site_gate(limits),
            umami_site=self.sites.by_umami_id, matomo_site=self.sites.by_matomo_id))
        app.register_blueprint(tracker_blueprint())
        return app

    def close(self) -> None:
        """Forward what is spooled (bounded), then stop."""
        self.transport.close()
        self.edge.close()


def collector_app(settings: Settings) -> Served:
    """Factory for `crumbless collector` (no admin API: sites are managed through storage)."""
    runtime = CollectorRuntime(settings)
    return Served(public=runtime.app(), close=runtime.close)


def dashboard_app(settings: Settings) -> Served:
    """Factory for `crumbless dashboard`: the Stats API and the web UI over ClickHouse."""
    from crumbless.webui import register_ui

    client = connect(settings.dsn, settings.database)
    metrics = Metrics()
    sites = SiteRegistry(client)
    keys = ApiKeys(client, sites)
    app = base_app(metrics, lambda: {}, EdgeLimits.from_settings(settings))
    stats = StatsService(client, k=settings.k_anonymity, clock=utc_now,
                         dp_sites=frozenset(settings.dp_sites),
                         dp_policy=DpPolicy(settings.dp_query_epsilon, settings.dp_budget))
    app.register_blueprint(stats_blueprint(stats, authorize=keys.authorize))
    register_ui(app, client=client, settings=settings, stats=stats, sites=sites,
                retention=RetentionStore(client, settings, sites.domains), clock=utc_now)
    return Served(public=app, close=lambda: None)


def build_processor(settings: Settings, *, client: Client | None = None,
                    metrics: Metrics | None = None,
                    consumer_config: dict[str, Any] | None = None) -> KafkaProcessor:
    """A processor group member writing to ClickHouse."""
    client = client if client is not None else connect(settings.dsn, settings.database)
    migrate(client, settings)
    sites = SiteRegistry(client)
    retention = RetentionStore(client, settings, sites.domains)
    return KafkaProcessor(
        bootstrap=settings.kafka_bootstrap, topic=settings.kafka_topic,
        dlq_topic=settings.kafka_dlq_topic, group=settings.kafka_group,
        sink=ClickHouseSink(client, retention.keep_for),
        checkpoint_for=lambda p: ClickHouseCheckpoint(client, settings.kafka_topic, p),
        metrics=metrics or Metrics(), batch_size=settings.batch_size,
        max_batch_size=settings.max_batch_size, batch_interval=settings.batch_interval,
        session_timeout_ms=settings.session_timeout_minutes * 60_000,
        consumer_config={"session_timeout_ms": settings.kafka_session_timeout_ms,
                         "heartbeat_interval_ms": max(1000,
                                                      settings.kafka_session_timeout_ms // 6),
                         **(consumer_config or {})})


def run_processor(settings: Settings) -> None:
    """`crumbless processor`: run until SIGTERM/SIGINT, finishing the current batch."""
    client = connect(settings.dsn, settings.database)
    processor = build_processor(settings, client=client)
    # Counting closed days' visitors (sinks/finalize.py) is idempotent, so every group member
    # may run it. A server gets its own connection: one HTTP session runs one query at a time.
    finalizer = Finalizer(client if settings.dsn.startswith("chdb://")
                          else connect(settings.dsn, settings.database))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: processor.stop())
    log.info("processor joined group %s on %s", settings.kafka_group, settings.kafka_topic)
    finalizer.start()
    try:
        processor.run()
    finally:
        finalizer.close()
