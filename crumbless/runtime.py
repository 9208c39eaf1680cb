"""Everything one embedded process holds, opened in order and closed in reverse.

Close order keeps the promise of a 202: stop taking requests (the server does that),
let the processor write everything already durable in the event log, then close the
log and the ClickHouse client.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from clickhouse_connect.driver.client import Client

from collector.edge import PrivacyEdge
from collector.salts import FileSaltStore
from contract.metrics import Metrics
from contract.settings import Settings
from contract.transports.eventlog import EventLog
from contract.transports.local import LocalTransport
from processors.checkpoint import FileCheckpoint
from processors.runner import JsonlDeadLetters, LogProcessor
from sinks.clickhouse import ClickHouseSink
from sinks.client import connect
from sinks.finalize import Finalizer
from sinks.migrations import migrate
from sinks.registry import ApiKeys, SiteRegistry
from sinks.retention import RetentionStore

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


def ensure_private_dir(path: Path) -> Path:
    """Create a directory readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


class Runtime:
    """The embedded mode's collector, processor, storage and registries in one object."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now,
                 client: Client | None = None, start_background: bool = True) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        data = ensure_private_dir(settings.data_dir)
        self.client = client if client is not None else connect(settings.dsn, settings.database)
        migrate(self.client, settings)
        self.sites = SiteRegistry(self.client)
        self.keys = ApiKeys(self.client, self.sites)
        self.retention = RetentionStore(self.client, settings, self.sites.domains)
        self.edge = PrivacyEdge(settings, FileSaltStore(ensure_private_dir(data / "salts")),
                                clock)
        self.event_log = EventLog(ensure_private_dir(data / "eventlog"),
                                  fsync=settings.log_durability == "fsync",
                                  max_bytes=settings.spool_max_bytes,
                                  roll_seconds=settings.eventlog_roll_seconds)
        self.transport = LocalTransport(self.event_log)
        self.processor = LogProcessor(
            log=self.event_log, sink=ClickHouseSink(self.client, self.retention.keep_for),
            checkpoint=FileCheckpoint(ensure_private_dir(data / "checkpoints")),
            dead_letters=JsonlDeadLetters(str(data / "deadletters.jsonl")),
            metrics=self.metrics, batch_size=settings.batch_size,
            max_batch_size=settings.max_batch_size, batch_interval=settings.batch_interval,
            session_timeout_ms=settings.session_timeout_minutes * 60_000)
        self.finalizer = Finalizer(self.client)
        self.admin_token = secrets.token_urlsafe(32)
        if start_background:
            self.processor.start()
            self.edge.start_rotation()
            self.finalizer.start()

    def close(self) -> None:
        """Drain the processor, then close the log, geo database and ClickHouse client."""
        self.finalizer.close()
        self.processor.stop()
        self.event_log.close()
        self.edge.close()
