"""Open a clickhouse-connect client for a DSN: chdb:///path (embedded) or http(s)://host:8123.

Third-party errors are translated here into StorageError (`raise ... from exc`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from contract.errors import StorageError

_open_lock = threading.Lock()


def connect(dsn: str, database: str) -> Client:
    """A client whose default database is `database`, creating the database if needed."""
    try:
        with _open_lock:  # chdb initialises one embedded engine per process
            if dsn.startswith("chdb://"):
                Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(dsn=dsn)
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        client.database = database
        return client
    except Exception as exc:
        raise StorageError(f"cannot open ClickHouse at {redact(dsn)}: {first_line(exc)}") from exc


def redact(dsn: str) -> str:
    """The DSN without a password, fit for logs and error messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return dsn


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text: enough to act on, no stack trace."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def run(client: Client, sql: str, parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run a query and return its rows; ClickHouse errors become StorageError."""
    try:
        result = client.query(sql, parameters=parameters, settings=settings)
        return [tuple(row) for row in result.result_rows]
    except Exception as exc:
        raise StorageError(first_line(exc)) from exc


def command(client: Client, sql: str, parameters: dict[str, Any] | None = None,
            settings: dict[str, Any] | None = None) -> None:
    """Run a statement; ClickHouse errors become StorageError."""
    try:
        client.command(sql, parameters=parameters, settings=settings)
    except Exception as exc:
        raise StorageError(first_line(exc)) from exc
