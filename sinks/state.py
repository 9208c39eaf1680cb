"""Shared state of the distributed mode, kept in ClickHouse (which every instance reaches).

- `ClickHouseSaltStore`: one salt per day for every collector. Each collector that needs
  a day's salt inserts a random candidate; the earliest-created candidate (ties broken by
  bytes) wins, so all instances converge on one salt. Destroying a day deletes its rows
  with a synchronous mutation and drops the old parts at once; a table TTL removes any
  row older than two days even if no collector runs the rotation.
- `ClickHouseCheckpoint`: a processor's position, open visits and in-flight batch per
  topic partition. The row with the highest `version` wins, and versions only grow with
  the offset (2·offset for a commit, 2·start+1 for a batch begun at start), so a stale
  writer can never move a partition backwards.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from contract.checkpoint import CheckpointState
from contract.errors import StorageError
from contract.salts import SALT_BYTES
from sinks.client import command, first_line, run


class ClickHouseSaltStore:
    """The salts of the live days in the `salts` table, shared by all collectors."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._cache: dict[dt.date, bytes] = {}

    def _winner(self, day: dt.date) -> bytes | None:
        try:
            rows = self.client.query("SELECT argMin(salt, (created, salt)) FROM salts "
                                     "WHERE day = {d:Date} HAVING count() > 0",
                                     parameters={"d": day},
                                     query_formats={"String": "bytes"}).result_rows
        except Exception as exc:
            raise StorageError(f"cannot read salts: {first_line(exc)}") from exc
        return bytes(rows[0][0]) if rows else None

    def salt_for(self, day: dt.date) -> bytes:
        """The agreed salt of `day`; proposes a random candidate if there is none yet."""
        with self._lock:
            if day in self._cache:
                return self._cache[day]
            salt = self._winner(day)
            if salt is None:
                self.client.insert("salts", [[day, secrets.token_bytes(SALT_BYTES),
                                              time.time_ns()]],
                                   column_names=["day", "salt", "created"])
                salt = self._winner(day)
            if salt is None or len(salt) != SALT_BYTES:
                raise RuntimeError(f"salt of {day} could not be agreed in ClickHouse")
            self._cache[day] = salt
            return salt

    def days(self) -> list[dt.date]:
        """Days with a salt row."""
        return [r[0] for r in run(self.client, "SELECT DISTINCT day FROM salts ORDER BY day")]

    def destroy(self, day: dt.date) -> None:
        """Delete the day's salts and rewrite/drop the parts that held them, now."""
        with self._lock:
            self._cache.pop(day, None)
        command(self.client, "ALTER TABLE salts DELETE WHERE day = {d:Date}", {"d": day},
                settings={"mutations_sync": 2})
        command(self.client, "OPTIMIZE TABLE salts FINAL")


class ClickHouseCheckpoint:
    """A processor checkpoint for one topic partition, in `processor_checkpoints`."""

    def __init__(self, client: Client, topic: str, partition: int) -> None:
        self.client = client
        self.topic = topic
        self.partition = partition
        self._sessions_at_offset: Any = {}  # state as of the last load/commit, for begin()

    def load(self) -> CheckpointState:
        """The newest row for the partition, or the beginning."""
        rows = run(self.client, """SELECT argMax(offset, version), argMax(pending_end, version),
            argMax(sessions, version) FROM processor_checkpoints
            WHERE topic = {t:String} AND partition = {p:UInt32} HAVING count() > 0""",
                   {"t": self.topic, "p": self.partition})
        if not rows:
            self._sessions_at_offset = {}
            return CheckpointState()
        offset, pending_end, sessions = rows[0]
        self._sessions_at_offset = orjson.loads(sessions) if sessions else {}
        return CheckpointState(int(offset), self._sessions_at_offset,
                               int(pending_end) if pending_end >= 0 else None)

    def _write(self, version: int, offset: int, pending_end: int, sessions: Any) -> None:
        try:
            self.client.insert("processor_checkpoints",
                               [[self.topic, self.partition, version, offset, pending_end,
                                 orjson.dumps(sessions).decode(), dt.datetime.now(dt.UTC)]],
                               column_names=["topic", "partition", "version", "offset",
                                             "pending_end", "sessions", "written_at"])
        except Exception as exc:
            raise StorageError(f"checkpoint write failed: {first_line(exc)}") from exc

    def begin(self, start: int, end: int) -> None:
        """Record the batch [start, end) before it is written, with the state at start."""
        self._write(2 * start + 1, start, end, self._sessions_at_offset)

    def commit(self, offset: int, sessions: dict[str, Any]) -> None:
        """Record that everything below `offset` is written."""
        self._write(2 * offset, offset, -1, sessions)
        self._sessions_at_offset = sessions
