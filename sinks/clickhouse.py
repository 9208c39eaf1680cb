"""The ClickHouse sink: column-oriented batch inserts that are safe to retry.

Each batch is written with an insert_deduplication_token derived from the record range
it covers, and deduplicate_blocks_in_dependent_materialized_views=1, so inserting the
same batch twice (a crash between insert and commit) counts once in raw and rollups.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from contract.errors import StorageError
from contract.retention import TierDays
from processors.batch import Batch
from processors.sessionise import SessionisedEvent, SessionRow
from sinks.client import first_line

VISIT_COLUMNS = ["referrer", "referrer_source", "channel", "utm_source", "utm_medium",
                 "utm_campaign", "utm_content", "utm_term", "country", "region", "city",
                 "browser", "browser_version", "os", "os_version", "device"]
_ATTR_FOR = {"referrer_source": "source"}
EVENT_COLUMNS = ["site", "ts", "name", "visitor_id", "session_id", "hostname", "pathname",
                 *VISIT_COLUMNS, "consent", "mode", "truncated_ip", "props",
                 "revenue_amount", "revenue_currency"]
KEEP_COLUMNS = ["keep_days", "hourly_keep_days", "daily_keep_days", "id_keep_days"]
SESSION_COLUMNS = ["site", "session_id", "visitor_id", "sign", "start", "end", "hostname",
                   "entry_page", "exit_page", "pageviews", "events", "duration", "is_bounce",
                   *VISIT_COLUMNS]


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def event_row(item: SessionisedEvent) -> list[Any]:
    """One events-table row in EVENT_COLUMNS order."""
    ev = item.enriched.event
    attrs = item.attrs
    return [ev.site, _ts(ev.ts_ms), ev.name, ev.visitor_id, item.session_id, ev.hostname,
            ev.pathname, *(attrs[_ATTR_FOR.get(c, c)] for c in VISIT_COLUMNS), ev.consent,
            ev.mode, ev.truncated_ip, dict(ev.props),
            decimal.Decimal(ev.revenue_amount) if ev.revenue_amount else None,
            ev.revenue_currency]


def session_row(row: SessionRow) -> list[Any]:
    """One sessions-table row in SESSION_COLUMNS order."""
    v = row.visit
    return [v.site, v.session_id, v.visitor_id, row.sign, _ts(v.start_ms), _ts(v.last_ms),
            v.attrs["hostname"], v.entry_page, v.exit_page, v.pageviews, v.events,
            v.duration_s, v.is_bounce, *(v.attrs[_ATTR_FOR.get(c, c)] for c in VISIT_COLUMNS)]


def keep_values(days: TierDays, own: int) -> list[int]:
    """KEEP_COLUMNS values for a row whose own tier lasts `own` days."""
    return [own, days.hourly, days.daily, min(days.ids or own, own)]


class ClickHouseSink:
    """Writes batches to the events and sessions tables (the views feed the rollups).

    Each row carries its site's retention (keep columns) read from `keep_for`, so the
    TTL expressions apply per-site periods; None leaves the settings' column defaults.
    """

    def __init__(self, client: Client, keep_for: Callable[[str], TierDays] | None = None
                 ) -> None:
        self.client = client
        self.keep_for = keep_for

    def write(self, batch: Batch) -> None:
        """Insert a batch idempotently; raise StorageError if ClickHouse refused it."""
        events = [event_row(e) for e in batch.events]
        sessions = [session_row(s) for s in batch.sessions]
        event_columns, session_columns = EVENT_COLUMNS, SESSION_COLUMNS
        if self.keep_for is not None:
            event_columns = [*EVENT_COLUMNS, *KEEP_COLUMNS]
            session_columns = [*SESSION_COLUMNS, *KEEP_COLUMNS]
            per_site = {site: self.keep_for(site) for site in {row[0] for row in events}
                        | {row[0] for row in sessions}}  # one policy lookup per site a batch
            for row in events:
                row.extend(keep_values(per_site[row[0]], per_site[row[0]].raw))
            for row in sessions:
                row.extend(keep_values(per_site[row[0]], per_site[row[0]].sessions))
        self._insert("events", event_columns, events, f"{batch.token}:events")
        self._insert("sessions", session_columns, sessions, f"{batch.token}:sessions")

    def _insert(self, table: str, columns: list[str], rows: list[list[Any]], token: str) -> None:
        if not rows:
            return
        try:
            self.client.insert(table, rows, column_names=columns, settings={
                "insert_deduplication_token": token,
                "deduplicate_blocks_in_dependent_materialized_views": 1,
            })
        except Exception as exc:
            raise StorageError(f"insert into {table} failed: {first_line(exc)}") from exc
