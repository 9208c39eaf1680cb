"""The ClickHouse sink: column-oriented batch inserts that are safe to retry.

Each batch is written with an insert_deduplication_token derived from the record range
it covers, and deduplicate_blocks_in_dependent_materialized_views=1, so inserting the
same batch twice (a crash between insert and commit) counts once in raw and rollups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from contract.errors import StorageError
from contract.retention import TierDays
from contract.rows import EVENT_COLUMNS, KEEP_COLUMNS, SESSION_COLUMNS, RowBatch
from sinks.client import first_line


def keep_values(days: TierDays, tier: str) -> list[int]:
    """KEEP_COLUMNS values for a row of `tier` ("raw" or "sessions")."""
    return [days.get(tier), days.hourly, days.daily, days.id_days_in(tier)]


class ClickHouseSink:
    """Writes batches to the events and sessions tables (the views feed the rollups).

    Each row carries its site's retention (keep columns) read from `keep_for`, so the
    TTL expressions apply per-site periods; None leaves the settings' column defaults.
    """

    def __init__(self, client: Client, keep_for: Callable[[str], TierDays] | None = None
                 ) -> None:
        self.client = client
        self.keep_for = keep_for

    def write(self, batch: RowBatch) -> None:
        """Insert a batch's columns idempotently; raise StorageError if ClickHouse refused it."""
        events, sessions = batch.events, batch.sessions
        event_columns, session_columns = EVENT_COLUMNS, SESSION_COLUMNS
        if self.keep_for is not None:
            event_columns = [*EVENT_COLUMNS, *KEEP_COLUMNS]
            session_columns = [*SESSION_COLUMNS, *KEEP_COLUMNS]
            sites = (set(events[0]) if events else set()) | (
                set(sessions[0]) if sessions else set())
            per_site = {site: self.keep_for(site) for site in sites}  # one lookup a site
            events = events and [*events, *_keep_columns(events[0], per_site, "raw")]
            sessions = sessions and [*sessions,
                                     *_keep_columns(sessions[0], per_site, "sessions")]
        self._insert("events", event_columns, events, f"{batch.token}:events")
        self._insert("sessions", session_columns, sessions, f"{batch.token}:sessions")

    def _insert(self, table: str, columns: list[str], data: list[list[Any]], token: str
                ) -> None:
        if not data or not data[0]:
            return
        try:
            self.client.insert(table, data, column_names=columns, column_oriented=True,
                               settings={
                                   "insert_deduplication_token": token,
                                   "deduplicate_blocks_in_dependent_materialized_views": 1,
                               })
        except Exception as exc:
            raise StorageError(f"insert into {table} failed: {first_line(exc)}") from exc


def _keep_columns(sites: list[str], per_site: dict[str, TierDays], tier: str
                  ) -> list[list[int]]:
    """KEEP_COLUMNS as columns for rows of `sites` (the site column) in `tier`."""
    values = {site: keep_values(days, tier) for site, days in per_site.items()}
    rows = [values[site] for site in sites]
    return [[row[i] for row in rows] for i in range(len(KEEP_COLUMNS))]
