"""Shared fixtures: one real chdb engine per test process, a fresh database per test.

chdb lets a process open one data path, so every integration test shares the session's
engine and gets its own database; subprocess tests (`crumbless serve`) use their own path.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from contract.settings import Settings
from sinks.client import connect


@dataclass
class Chdb:
    """The session's embedded ClickHouse: its client and the directory of its files."""

    client: Client
    path: Path


@pytest.fixture(scope="session")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Chdb:
    path = tmp_path_factory.mktemp("chdb")
    return Chdb(connect(f"chdb://{path}", "default"), path)


@pytest.fixture
def database(chdb: Chdb) -> Iterator[str]:
    name = f"t_{secrets.token_hex(6)}"
    chdb.client.command(f"CREATE DATABASE {name}")
    chdb.client.database = name
    yield name
    chdb.client.database = "default"
    chdb.client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


class Clock:
    """A settable UTC clock for the collector (salts, receive time)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real single-node Apache Kafka (KRaft) on loopback for the whole session."""
    from crumbless.testing.kafka import KafkaBroker

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()  # fails with KafkaUnavailable saying what to install: never skipped
    yield broker
    broker.stop()


@pytest.fixture
def make_runtime(tmp_path: Path, chdb: Chdb, database: str, clock: Clock
                 ) -> Iterator[Callable[..., Any]]:
    """Build Runtimes over the test's database; every one is closed at the end."""
    from crumbless.runtime import Runtime

    opened: list[Runtime] = []

    def make(*, start_background: bool = True, **overrides: Any) -> Runtime:
        settings = replace(Settings(data_dir=tmp_path / "data", database=database,
                                    batch_interval=0.05, log_durability="flush"), **overrides)
        runtime = Runtime(settings.validate(), client=chdb.client, clock=clock,
                          start_background=start_background)
        opened.append(runtime)
        return runtime

    yield make
    for runtime in opened:
        runtime.close()
