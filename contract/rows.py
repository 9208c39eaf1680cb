"""The row shape of events and sessions: one definition, from which the rest is derived.

`VISIT_ATTRIBUTES` lists the attributes a visit takes from its first event and that every
event of the visit carries too. The ClickHouse DDL (sinks/migrations.py), the insert
columns (`EVENT_COLUMNS`, `SESSION_COLUMNS`, built into rows by processors/rows.py), the
rollup dimensions and the Stats API's `visit:*` dimensions (dashboards/) all read this
table; a new attribute is one line here plus the migration that adds its column
(`since` is the schema version that created it, so older migrations stay as they were).

Sinks receive rows as `RowBatch`: one list per column, in column order, with no knowledge
of how the processors built them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Attribute:
    """One visit attribute: where it comes from, its column, and its Stats API dimension."""

    key: str  # name in the visit's attrs (AnonymousEvent field or enrichment result)
    column: str  # ClickHouse column in events and sessions
    ch_type: str  # ClickHouse type of that column
    dimension: str = ""  # Stats API dimension ("" if not offered)
    enriched: bool = False  # derived by the processors (source, channel), not by the edge
    since: int = 1  # schema version whose migration created the column
    # Kept in rollup_daily: the views of schema 1 hold the schema-1 attributes that had a
    # dimension then; a dimension added later is served raw (or needs the views rebuilt).
    rollup: bool = True


VISIT_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("referrer", "referrer", "String", "visit:referrer", enriched=True),
    Attribute("source", "referrer_source", "LowCardinality(String)", "visit:source",
              enriched=True),
    Attribute("channel", "channel", "LowCardinality(String)", "visit:channel", enriched=True),
    Attribute("utm_source", "utm_source", "String", "visit:utm_source"),
    Attribute("utm_medium", "utm_medium", "String", "visit:utm_medium"),
    Attribute("utm_campaign", "utm_campaign", "String", "visit:utm_campaign"),
    Attribute("utm_content", "utm_content", "String", "visit:utm_content"),
    Attribute("utm_term", "utm_term", "String", "visit:utm_term"),
    Attribute("country", "country", "LowCardinality(String)", "visit:country"),
    Attribute("region", "region", "LowCardinality(String)", "visit:region"),
    Attribute("city", "city", "String", "visit:city"),
    Attribute("browser", "browser", "LowCardinality(String)", "visit:browser"),
    Attribute("browser_version", "browser_version", "LowCardinality(String)",
              "visit:browser_version", rollup=False),
    Attribute("os", "os", "LowCardinality(String)", "visit:os"),
    Attribute("os_version", "os_version", "LowCardinality(String)", "visit:os_version",
              rollup=False),
    Attribute("device", "device", "LowCardinality(String)", "visit:device"),
)
VISIT_KEYS: tuple[str, ...] = ("hostname", *(a.key for a in VISIT_ATTRIBUTES))
VISIT_DIMENSION_COLUMNS: dict[str, str] = {
    a.dimension: a.column for a in VISIT_ATTRIBUTES if a.dimension}

# Event-only columns added after schema 1: (column, ClickHouse type with its default, since).
EVENT_EXTRA_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("interactive", "UInt8 DEFAULT 1", 3),  # 0: does not count against a bounce
    ("scroll_depth", "Int8 DEFAULT -1", 3),  # engagement events: percent, -1 not reported
    ("engagement_ms", "UInt32 DEFAULT 0", 3),  # engagement events: engaged milliseconds
)

_VISIT_COLUMN_NAMES = [a.column for a in VISIT_ATTRIBUTES]
EVENT_COLUMNS: list[str] = [
    "site", "ts", "name", "visitor_id", "session_id", "hostname", "pathname",
    *_VISIT_COLUMN_NAMES, "consent", "mode", "truncated_ip", "props",
    "revenue_amount", "revenue_currency", *(c for c, _, _ in EVENT_EXTRA_COLUMNS)]
SESSION_COLUMNS: list[str] = [
    "site", "session_id", "visitor_id", "sign", "start", "end", "hostname", "entry_page",
    "exit_page", "pageviews", "events", "duration", "is_bounce", *_VISIT_COLUMN_NAMES]
KEEP_COLUMNS: list[str] = ["keep_days", "hourly_keep_days", "daily_keep_days", "id_keep_days"]


def visit_columns_ddl(version: int) -> str:
    """`name Type, …` of the visit attributes that schema `version` created."""
    return ", ".join(f"{a.column} {a.ch_type}" for a in VISIT_ATTRIBUTES if a.since == version)


@dataclass(slots=True)
class RowBatch:
    """Columns for one idempotent sink write: one list per EVENT_COLUMNS / SESSION_COLUMNS
    entry, in that order, all of one length (`[]`: no rows).

    Column-oriented because that is how ClickHouse's Native format travels: a sink hands
    the lists over as they are instead of pivoting rows. Values are what the columns take:
    DateTime64(3) columns (`ts`, `start`, `end`) hold int milliseconds since the epoch, UTC.
    `token` names the record range the rows came from; writing the same token twice must
    count once.
    """

    token: str
    events: list[list[Any]] = field(default_factory=list)
    sessions: list[list[Any]] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        """Rows in `events`."""
        return len(self.events[0]) if self.events else 0

    @property
    def session_count(self) -> int:
        """Rows in `sessions`."""
        return len(self.sessions[0]) if self.sessions else 0
