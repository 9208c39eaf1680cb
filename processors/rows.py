"""Sessionised events and visit states as columns in the contract's column order (no I/O).

One list per column, built by one comprehension each: ~1-2 µs an event for the ~30
columns, where a list per row plus clickhouse-connect pivoting rows back into columns cost
several times that (docs/benchmarks.md, processor). Timestamps stay int milliseconds,
which DateTime64(3) columns take as they are (no datetime objects made and unmade).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

from contract.rows import VISIT_ATTRIBUTES, RowBatch
from processors.batch import Batch
from processors.sessionise import SessionisedEvent, SessionRow

_VISIT_KEYS = [a.key for a in VISIT_ATTRIBUTES]


def event_columns(items: Sequence[SessionisedEvent]) -> list[list[Any]]:
    """The events-table columns of `items`, in contract.rows.EVENT_COLUMNS order."""
    if not items:
        return []
    evs = [item.enriched.event for item in items]
    attrs = [item.attrs for item in items]
    return [
        [e.site for e in evs], [e.ts_ms for e in evs], [e.name for e in evs],
        [e.visitor_id for e in evs], [item.session_id for item in items],
        [e.hostname for e in evs], [e.pathname for e in evs],
        *([a[key] for a in attrs] for key in _VISIT_KEYS),
        [e.consent for e in evs], [e.mode for e in evs], [e.truncated_ip for e in evs],
        [dict(e.props) for e in evs],
        [decimal.Decimal(e.revenue_amount) if e.revenue_amount else None for e in evs],
        [e.revenue_currency for e in evs], [e.interactive for e in evs],
        [e.scroll_depth for e in evs], [e.engagement_ms for e in evs],
    ]


def session_columns(rows: Sequence[SessionRow]) -> list[list[Any]]:
    """The sessions-table columns of `rows`, in contract.rows.SESSION_COLUMNS order."""
    if not rows:
        return []
    visits = [row.visit for row in rows]
    return [
        [v.site for v in visits], [v.session_id for v in visits],
        [v.visitor_id for v in visits], [row.sign for row in rows],
        [v.start_ms for v in visits], [v.last_ms for v in visits],
        [v.attrs["hostname"] for v in visits], [v.entry_page for v in visits],
        [v.exit_page for v in visits], [v.pageviews for v in visits],
        [v.events for v in visits], [v.duration_s for v in visits],
        [v.is_bounce for v in visits],
        *([v.attrs[key] for v in visits] for key in _VISIT_KEYS),
    ]


def batch_rows(batch: Batch) -> RowBatch:
    """The rows of a batch for the sink, under the batch's deduplication token."""
    return RowBatch(batch.token, event_columns(batch.events), session_columns(batch.sessions))
