"""Sessionised events and visit states as rows in the contract's column order (no I/O)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from contract.rows import VISIT_ATTRIBUTES, RowBatch
from processors.batch import Batch
from processors.sessionise import SessionisedEvent, SessionRow


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def event_row(item: SessionisedEvent) -> list[Any]:
    """One events-table row in contract.rows.EVENT_COLUMNS order."""
    ev = item.enriched.event
    attrs = item.attrs
    return [ev.site, _ts(ev.ts_ms), ev.name, ev.visitor_id, item.session_id, ev.hostname,
            ev.pathname, *(attrs[a.key] for a in VISIT_ATTRIBUTES), ev.consent,
            ev.mode, ev.truncated_ip, dict(ev.props),
            decimal.Decimal(ev.revenue_amount) if ev.revenue_amount else None,
            ev.revenue_currency, ev.interactive, ev.scroll_depth, ev.engagement_ms]


def session_row(row: SessionRow) -> list[Any]:
    """One sessions-table row in contract.rows.SESSION_COLUMNS order."""
    v = row.visit
    return [v.site, v.session_id, v.visitor_id, row.sign, _ts(v.start_ms), _ts(v.last_ms),
            v.attrs["hostname"], v.entry_page, v.exit_page, v.pageviews, v.events,
            v.duration_s, v.is_bounce, *(v.attrs[a.key] for a in VISIT_ATTRIBUTES)]


def batch_rows(batch: Batch) -> RowBatch:
    """The rows of a batch for the sink, under the batch's deduplication token."""
    return RowBatch(batch.token, [event_row(e) for e in batch.events],
                    [session_row(s) for s in batch.sessions])
