"""Versioned schema migrations; every retention period comes from Settings, not SQL literals.

Tables (all event data expires by TTL):
- events        raw events, one row per event, day partitions. TTLs read per-row
                columns (keep_days = the site's raw retention; id_keep_days zeroes
                visitor/session ids earlier). Sites share parts, so expiry is per row,
                not ttl_only_drop_parts (a per-site TTL could not drop whole parts)
- sessions      CollapsingMergeTree(sign): each visit update writes -1 of the old state
                and +1 of the new one, so sums over `sign` are exact at any time
- rollup_hourly AggregatingMergeTree fed by two materialized views (events, sessions);
                keep_days (max) carries the site's rollup retention into the TTL
- rollup_daily  AggregatingMergeTree keyed by (site, dim, day, value) since schema 8
                (schema 1: (site, day, dim, value)): one row per dimension value per UTC
                day (dim '' is the site total), fed the same way
- sites, api_keys, schema_migrations: configuration, no event data
- users, site_roles, ui_sessions, shared_links: dashboard access (migration 7)
- salts          the distributed mode's daily salts (destroyed by the rotation; TTL 2 days
                as a backstop)
- processor_checkpoints  per-partition processor position and open visits
Targets of retried inserts carry non_replicated_deduplication_window so a batch
inserted twice with the same insert_deduplication_token counts once, rollups included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from contract.rows import EVENT_EXTRA_COLUMNS, VISIT_ATTRIBUTES, visit_columns_ddl
from contract.settings import Settings
from sinks.client import command, run

DEDUP = "non_replicated_deduplication_window = 10000"
# Engagement events measure a page view already counted: the event views skip them (schema 3).
ENGAGEMENT_OUT = "WHERE name != 'engagement'"

# Dimensions kept in rollup_daily: (dimension name, column in events, column in sessions).
# A None column means that table does not feed the dimension. The visit attributes come
# from the contract's one table (those schema 1 created: the views of schema 1).
ROLLUP_DIMENSIONS: tuple[tuple[str, str | None, str | None], ...] = (
    ("", "''", "''"),
    ("event:page", "pathname", None),
    ("event:name", "name", None),
    ("event:hostname", "hostname", "hostname"),
    ("visit:entry_page", None, "entry_page"),
    ("visit:exit_page", None, "exit_page"),
    *((a.dimension, a.column, a.column) for a in VISIT_ATTRIBUTES
      if a.dimension and a.since == 1 and a.rollup),
)

VISIT_COLUMNS = visit_columns_ddl(1)

ROLLUP_METRICS = """
    visitors AggregateFunction(uniq, UInt64),
    pageviews SimpleAggregateFunction(sum, UInt64),
    events SimpleAggregateFunction(sum, UInt64),
    visits SimpleAggregateFunction(sum, Int64),
    bounces SimpleAggregateFunction(sum, Int64),
    duration SimpleAggregateFunction(sum, Int64),
    visit_pageviews SimpleAggregateFunction(sum, Int64)"""


def _dims_array(index: int) -> str:
    pairs = [f"('{dim}', toString({cols[index - 1]}))"
             for dim, *cols in ROLLUP_DIMENSIONS if cols[index - 1] is not None]
    return "[" + ", ".join(pairs) + "]"


def _keep_columns(s: Settings, own_days: int) -> str:
    """Per-row retention in days for this table and the rollups built from it.

    TTL expressions read these columns, so a site's override is written into its rows and
    a changed policy reaches stored rows with ALTER UPDATE + MATERIALIZE TTL. Defaults
    (for rows inserted without them) are the settings' periods.
    """
    ids = min(s.id_ttl_days or own_days, own_days)
    return (f"keep_days UInt16 DEFAULT {own_days}, "
            f"hourly_keep_days UInt16 DEFAULT {s.hourly_ttl_days}, "
            f"daily_keep_days UInt16 DEFAULT {s.daily_ttl_days}, "
            f"id_keep_days UInt16 DEFAULT {ids}")


def _rollup_daily_table(name: str, s: Settings, order: str, granularity: int = 8192) -> str:
    """rollup_daily's DDL (`order`: its sorting key; schema 1 had day before dim;
    `granularity`: rows per index granule, 8192 until schema 10)."""
    return f"""CREATE TABLE IF NOT EXISTS {name} (
    site LowCardinality(String), day Date, dim LowCardinality(String), value String,
    {ROLLUP_METRICS},
    keep_days SimpleAggregateFunction(max, UInt16) DEFAULT {s.daily_ttl_days}
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY ({order})
TTL day + toIntervalDay(keep_days)
SETTINGS {DEDUP}{f", index_granularity = {granularity}" if granularity != 8192 else ""}"""


def _hourly_events_view(where: str) -> str:
    return f"""CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hourly_events_mv TO rollup_hourly AS
SELECT site, toStartOfHour(ts) AS hour,
       uniqIfState(visitor_id, visitor_id != 0) AS visitors,
       toUInt64(countIf(name = 'pageview')) AS pageviews, toUInt64(count()) AS events,
       max(hourly_keep_days) AS keep_days
FROM events {where} GROUP BY site, hour"""


def _daily_events_view(where: str) -> str:
    return f"""CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_daily_events_mv TO rollup_daily AS
SELECT site, toDate(ts) AS day, d.1 AS dim, d.2 AS value,
       uniqIfState(visitor_id, visitor_id != 0) AS visitors,
       toUInt64(countIf(name = 'pageview')) AS pageviews, toUInt64(count()) AS events,
       max(daily_keep_days) AS keep_days
FROM events ARRAY JOIN {_dims_array(1)} AS d {where}
GROUP BY site, day, dim, value"""


def _daily_sessions_view() -> str:
    return f"""CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_daily_sessions_mv TO rollup_daily AS
SELECT site, toDate(start) AS day, d.1 AS dim, d.2 AS value,
       -- exit_page changes within a visit: a superseded +1 row would add its visitor to
       -- an exit page the visit no longer ends on, so exit-page visitors come from raw.
       uniqIfState(visitor_id, sign > 0 AND d.1 != 'visit:exit_page') AS visitors,
       toInt64(sum(sign)) AS visits, toInt64(sum(sign * is_bounce)) AS bounces,
       toInt64(sum(sign * duration)) AS duration,
       toInt64(sum(sign * pageviews)) AS visit_pageviews, max(daily_keep_days) AS keep_days
FROM sessions ARRAY JOIN {_dims_array(2)} AS d
GROUP BY site, day, dim, value"""


def v1_statements(s: Settings) -> list[str]:
    """The first schema: raw events, sessions, rollups and their views, sites, keys."""
    events_keep = _keep_columns(s, s.raw_ttl_days)
    sessions_keep = _keep_columns(s, s.sessions_ttl_days)
    return [
        f"""CREATE TABLE IF NOT EXISTS events (
    site LowCardinality(String), ts DateTime64(3, 'UTC'), name LowCardinality(String),
    {events_keep},
    visitor_id UInt64 TTL toDateTime(ts) + toIntervalDay(id_keep_days),
    session_id UInt64 TTL toDateTime(ts) + toIntervalDay(id_keep_days),
    hostname String, pathname String, {VISIT_COLUMNS},
    consent LowCardinality(String), mode LowCardinality(String), truncated_ip String,
    props Map(String, String),
    revenue_amount Nullable(Decimal(18, 3)), revenue_currency LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (site, toDate(ts), name, ts)
TTL toDateTime(ts) + toIntervalDay(keep_days)
SETTINGS {DEDUP}""",
        f"""CREATE TABLE IF NOT EXISTS sessions (
    site LowCardinality(String), session_id UInt64, sign Int8,
    start DateTime64(3, 'UTC'), end DateTime64(3, 'UTC'),
    {sessions_keep},
    visitor_id UInt64 TTL toDateTime(start) + toIntervalDay(id_keep_days),
    hostname String, entry_page String, exit_page String,
    pageviews UInt32, events UInt32, duration UInt32, is_bounce UInt8, {VISIT_COLUMNS}
) ENGINE = CollapsingMergeTree(sign)
PARTITION BY toYYYYMMDD(start)
ORDER BY (site, toDate(start), session_id)
TTL toDateTime(start) + toIntervalDay(keep_days)
SETTINGS {DEDUP}""",
        f"""CREATE TABLE IF NOT EXISTS rollup_hourly (
    site LowCardinality(String), hour DateTime('UTC'), {ROLLUP_METRICS},
    keep_days SimpleAggregateFunction(max, UInt16) DEFAULT {s.hourly_ttl_days}
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour)
TTL hour + toIntervalDay(keep_days)
SETTINGS {DEDUP}""",
        _rollup_daily_table("rollup_daily", s, "site, day, dim, value"),
        _hourly_events_view(""),
        """CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hourly_sessions_mv TO rollup_hourly AS
SELECT site, toStartOfHour(start) AS hour,
       toInt64(sum(sign)) AS visits, toInt64(sum(sign * is_bounce)) AS bounces,
       toInt64(sum(sign * duration)) AS duration,
       toInt64(sum(sign * pageviews)) AS visit_pageviews, max(hourly_keep_days) AS keep_days
FROM sessions GROUP BY site, hour""",
        _daily_events_view(""),
        _daily_sessions_view(),
        """CREATE TABLE IF NOT EXISTS sites (
    domain String, no_consent LowCardinality(String), store_truncated_ip UInt8,
    city_geo UInt8, deleted UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY domain""",
        """CREATE TABLE IF NOT EXISTS api_keys (
    key_hash String, site String, created DateTime('UTC'), revoked UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY key_hash""",
    ]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version and the statements that reach it."""

    version: int
    description: str
    statements: Callable[[Settings], list[str]]




def v2_statements(_s: Settings) -> list[str]:
    """Retention policies and their audit trail; shared state of the distributed mode."""
    return [
        """CREATE TABLE IF NOT EXISTS retention_policies (
    site String, tier LowCardinality(String), days UInt32, deleted UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (site, tier)""",
        """CREATE TABLE IF NOT EXISTS retention_audit (
    at DateTime64(3, 'UTC'), actor String, site String, tier LowCardinality(String),
    old_days UInt32, new_days UInt32, action LowCardinality(String), detail String
) ENGINE = MergeTree ORDER BY at""",
        """CREATE TABLE IF NOT EXISTS salts (
    day Date, salt String, created UInt64
) ENGINE = MergeTree ORDER BY (day, created)
TTL day + toIntervalDay(2)
SETTINGS old_parts_lifetime = 1, merge_with_ttl_timeout = 3600""",
        """CREATE TABLE IF NOT EXISTS processor_checkpoints (
    topic String, partition UInt32, version UInt64, offset UInt64, pending_end Int64,
    sessions String, written_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(version) ORDER BY (topic, partition)""",
    ]


def v3_statements(_s: Settings) -> list[str]:
    """Engagement and interactivity on events; the event views leave engagement out.

    Adds the contract's schema-3 event columns (old rows read their defaults: interactive,
    no scroll depth, no engaged time). Engagement events measure a page view already
    counted, so the rebuilt views keep them out of visitors, events and every rollup
    dimension; the rollups' stored rows are untouched.
    """
    add = ", ".join(f"ADD COLUMN IF NOT EXISTS {name} {kind}"
                    for name, kind, since in EVENT_EXTRA_COLUMNS if since == 3)
    return [
        f"ALTER TABLE events {add}",
        "DROP VIEW IF EXISTS rollup_hourly_events_mv",
        _hourly_events_view(ENGAGEMENT_OUT),
        "DROP VIEW IF EXISTS rollup_daily_events_mv",
        _daily_events_view(ENGAGEMENT_OUT),
    ]


def v4_statements(_s: Settings) -> list[str]:
    """Sites answer to an Umami website id and a Matomo idsite; Matomo revenue's currency.

    ADD COLUMN with defaults: every existing row keeps its values and reads as "no mapping"
    (and USD, Matomo's own default currency for a new website) until `sites add` sets one.
    """
    return [
        "ALTER TABLE sites ADD COLUMN IF NOT EXISTS umami_website_id String DEFAULT ''",
        "ALTER TABLE sites ADD COLUMN IF NOT EXISTS matomo_site_id UInt32 DEFAULT 0",
        "ALTER TABLE sites ADD COLUMN IF NOT EXISTS matomo_currency String DEFAULT 'USD'",
    ]


def v5_statements(_s: Settings) -> list[str]:
    """Configured goals per site (Stats API event:goal; no event data, nothing to rewrite).

    A row renames a custom-event goal or makes it a revenue goal (`event_name`, `currency`),
    or adds a pageview goal (`page_path`). Every custom event name is a goal without a row.
    """
    return [
        """CREATE TABLE IF NOT EXISTS goals (
    site String, display_name String, event_name String, page_path String,
    currency LowCardinality(String), deleted UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (site, display_name)""",
    ]


def v7_statements(_s: Settings) -> list[str]:
    """Dashboard users, per-site roles, browser sessions and shared links (no event data).

    New tables only, so it depends on no other migration's contents and keeps every row.
    Each table keeps versions of a row (ReplacingMergeTree(version)); readers take the
    latest with argMax, as `sites` does. Passwords and link passwords are argon2id hashes;
    session and link tokens are stored as SHA-256 (256-bit random tokens).
    """
    return [
        """CREATE TABLE IF NOT EXISTS users (
    email String, password_hash String, is_admin UInt8, deleted UInt8,
    created DateTime('UTC'), version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY email""",
        """CREATE TABLE IF NOT EXISTS site_roles (
    email String, site String, role LowCardinality(String), deleted UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY (email, site)""",
        """CREATE TABLE IF NOT EXISTS ui_sessions (
    token_hash String, email String, expires DateTime('UTC'), revoked UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY token_hash
TTL expires + toIntervalDay(1)""",
        """CREATE TABLE IF NOT EXISTS shared_links (
    token_hash String, site String, password_hash String, label String,
    created DateTime('UTC'), created_by String, revoked UInt8, version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY token_hash""",
    ]


def v6_statements(_s: Settings) -> list[str]:
    """Sites get an IANA time zone for their reports (days, weeks, months, comparisons).

    ADD COLUMN with a default: every existing site reads as UTC, which is what every answer
    was computed in before, so no stored answer changes. Retention and salts stay UTC.
    """
    return ["ALTER TABLE sites ADD COLUMN IF NOT EXISTS timezone String DEFAULT 'UTC'"]


def v8_statements(s: Settings) -> list[str]:
    """rollup_daily re-ordered (site, dim, day, value): a dashboard reads one dim at a time.

    Schema 1 ordered it (site, day, dim, value), so reading one dimension over a month read
    the rows (and decoded the `uniq` states) of every dimension of every day in the range;
    with dim before day a query reads its dimension's rows only (docs/architecture.md has
    the numbers). A sorting key cannot be altered, so the rows move: a new table in the new
    order, every stored row copied (rollup rows outlive the raw events by years, so they
    are copied, never rebuilt from raw), the tables exchanged, the old one dropped, and the
    views (which name their target) re-created on the new table. The views are dropped
    first, so nothing is written to the old table during the copy; the migration runs at
    start-up, before any processor writes. Re-running after a crash is safe: the copy
    starts from an emptied `rollup_daily_next` (created in the new order), and once the
    exchange is done the next statement drops the old table.
    """
    return _rebuild_rollup_daily(s, 8192)


def _rebuild_rollup_daily(s: Settings, granularity: int) -> list[str]:
    """Move every rollup_daily row into a table made anew (key order (site, dim, day,
    value), `granularity` rows per granule), exchange, drop the old, re-create the views."""
    return [
        "DROP VIEW IF EXISTS rollup_daily_events_mv",
        "DROP VIEW IF EXISTS rollup_daily_sessions_mv",
        _rollup_daily_table("rollup_daily_next", s, "site, dim, day, value", granularity),
        "TRUNCATE TABLE rollup_daily_next",
        "INSERT INTO rollup_daily_next SELECT * FROM rollup_daily",
        "EXCHANGE TABLES rollup_daily AND rollup_daily_next",
        "DROP TABLE rollup_daily_next",
        _daily_events_view(ENGAGEMENT_OUT),
        _daily_sessions_view(),
    ]


def v9_statements(s: Settings) -> list[str]:
    """rollup_daily_visitors: each closed UTC day's visitors per (dim, value), as a number.

    A visitor hash is made under its UTC day's salt, so no hash is stored under two days:
    the visitors of a range of whole days are the sum of each day's visitors, and a day's
    count never changes once its rows stop changing. sinks/finalize.py writes the count of
    a past day here (`uniqMerge` of its `rollup_daily` states, the number a one-day query
    answers) together with `fingerprint`, the day's change counter at that moment; the
    planner uses a day's row only while that total is still the live one, so a late insert
    sends the day back to the states until it is counted again. Summing numbers instead of
    merging states makes a month's breakdown read a few thousand integers (the numbers are
    in docs/benchmarks.md). ReplacingMergeTree(version): a recount replaces the old row.
    Only a new table: nothing stored changes, and every answer stays what it was.
    """
    return [f"""CREATE TABLE IF NOT EXISTS rollup_daily_visitors (
    site LowCardinality(String), dim LowCardinality(String), day Date, value String,
    visitors UInt64, fingerprint UInt64, version UInt64,
    keep_days UInt16 DEFAULT {s.daily_ttl_days}
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, dim, day, value)
TTL day + toIntervalDay(keep_days)"""]


ROLLUP_GRANULARITY = 256


def v10_statements(s: Settings) -> list[str]:
    """rollup_daily with index granules of 256 rows instead of 8192.

    A granule is the smallest unit ClickHouse reads, and reading a `uniq` column decodes
    every state in the granule: with 8192-row granules, today's three device rows cost the
    decoding of thousands of neighbouring states (85 ms at 10M events, 19 ms with 256-row
    granules; docs/architecture.md). The setting is fixed at creation, so the rows move
    exactly as in schema 8 (v8_statements has the crash analysis): a new table, every
    stored row copied, the tables exchanged, the old one dropped, the views re-created.
    """
    return _rebuild_rollup_daily(s, ROLLUP_GRANULARITY)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events, sessions, hourly and daily rollups, sites, api keys", v1_statements),
    Migration(2, "retention policies and audit; salts and processor checkpoints",
              v2_statements),
    Migration(3, "events: interactive, scroll depth, engaged time; views skip engagement",
              v3_statements),
    Migration(4, "sites: Umami website id, Matomo site id and Matomo revenue currency",
              v4_statements),
    Migration(5, "goals: pageview goals, goal names and revenue currencies per site",
              v5_statements),
    Migration(6, "sites: IANA time zone of the site's reports", v6_statements),
    # 7 creates only its own tables, so it was free to be numbered ahead of 6.
    Migration(7, "dashboard users, per-site roles, sessions, shared links", v7_statements),
    Migration(8, "rollup_daily ordered (site, dim, day, value); every stored row copied",
              v8_statements),
    Migration(9, "rollup_daily_visitors: closed days' visitors counted once",
              v9_statements),
    Migration(10, "rollup_daily in 256-row granules; every stored row copied",
              v10_statements),
)


def migrate(client: Client, settings: Settings, *, upto: int | None = None) -> list[int]:
    """Apply every migration not yet recorded (up to version `upto`, if given).

    Returns the versions applied now. `upto` exists so that tests can build a data
    directory at an earlier schema and then upgrade it.
    """
    command(client, """CREATE TABLE IF NOT EXISTS schema_migrations (
        version UInt32, description String, applied_at DateTime('UTC')
    ) ENGINE = MergeTree ORDER BY version""")
    done = {row[0] for row in run(client, "SELECT version FROM schema_migrations")}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done or (upto is not None and migration.version > upto):
            continue
        for statement in migration.statements(settings):
            command(client, statement)
        client.insert("schema_migrations",
                      [[migration.version, migration.description, dt.datetime.now(dt.UTC)]],
                      column_names=["version", "description", "applied_at"])
        applied.append(migration.version)
    return applied
