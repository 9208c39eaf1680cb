"""Upgrades keep data in place: a database at the previous schema, migrated, answers alike.

The previous schema is built by the real migrations up to that version, filled with the
Stats API reference traffic (rows in that schema's columns), queried, migrated to the
current schema, and queried again: every row, every rollup and every answer survives.
"""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from contract.settings import Settings
from sinks.migrations import MIGRATIONS, migrate, v9_statements
from tests.integration.test_stats_api import EVENT_COLUMNS, SITE, ask, shop_traffic

QUERIES: list[dict[str, Any]] = [
    {"metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                 "visit_duration", "events"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:source"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["visit:country", "time:day"]},
    {"metrics": ["visitors", "events"], "dimensions": ["event:name"]},
    {"metrics": ["visitors"], "dimensions": ["visit:entry_page"]},
]
TABLES = ("events", "sessions", "rollup_hourly", "rollup_daily", "sites")


def _answers(client: Client) -> list[Any]:
    """Each query's answer, from the rollups and from raw.

    Below schema 9 the database lacks rollup_daily_visitors, which today's planner reads;
    it is lent an empty one for the question (empty: every day answers from the rollup's
    states, which is what the planner of those schemas read) and dropped again.
    """
    lent = not client.query("EXISTS TABLE rollup_daily_visitors").result_rows[0][0]
    if lent:
        client.command(v9_statements(Settings())[0])
    try:
        return _ask_all(client)
    finally:
        if lent:
            client.command("DROP TABLE rollup_daily_visitors")


def _ask_all(client: Client) -> list[Any]:
    out = []
    for body in QUERIES:
        for force_raw in (False, True):
            answer = ask(client, body, force_raw=force_raw)
            out.append((answer["results"], answer["meta"]["k"]))
    return out


ROLLUP_KEYS = {"rollup_hourly": "site, hour", "rollup_daily": "site, day, dim, value"}


def _counts(client: Client) -> dict[str, int]:
    """Rows per table; for a rollup, its distinct keys (a copy or a merge may fold parts'
    rows of one key into one, which changes no answer)."""
    def count(table: str) -> int:
        source = (f"(SELECT 1 FROM {table} GROUP BY {ROLLUP_KEYS[table]})"
                  if table in ROLLUP_KEYS else table)
        return int(client.query(f"SELECT count() FROM {source}").result_rows[0][0])
    return {t: count(t) for t in TABLES}


def _rollup_rows(client: Client) -> list[tuple[Any, ...]]:
    """Every rollup_daily row, merged per key and finalised, in key order."""
    return [tuple(row) for row in client.query(
        "SELECT site, day, dim, value, uniqMerge(visitors), sum(pageviews), sum(events),"
        " sum(visits), sum(bounces), sum(duration), sum(visit_pageviews), max(keep_days)"
        " FROM rollup_daily GROUP BY site, day, dim, value ORDER BY site, day, dim, value"
    ).result_rows]


@pytest.mark.parametrize("previous", [m.version for m in MIGRATIONS[:-1]])
def test_every_row_rollup_and_answer_survives_each_upgrade(chdb: Any, database: str,
                                                           previous: int) -> None:
    """From each earlier schema to the current one: no row lost, no answer changed."""
    client: Client = chdb.client
    settings = Settings(database=database, raw_ttl_days=3650, sessions_ttl_days=3650,
                        hourly_ttl_days=3650, daily_ttl_days=3650)
    versions = [m.version for m in MIGRATIONS]  # not contiguous: numbers are reserved ahead
    assert migrate(client, settings, upto=previous) == [v for v in versions if v <= previous]
    client.insert("sites", [[SITE, "anonymous", 0, 0, 0, 1]],
                  column_names=["domain", "no_consent", "store_truncated_ip", "city_geo",
                                "deleted", "version"])
    shop_traffic().write(client)
    before_counts, before_answers = _counts(client), _answers(client)
    assert before_counts["events"] > 0 and before_counts["rollup_daily"] > 0

    assert migrate(client, settings) == [v for v in versions if v > previous]
    assert _counts(client) == before_counts
    assert _answers(client) == before_answers
    assert migrate(client, settings) == []  # idempotent: nothing left to apply


def test_rows_written_before_schema_3_read_as_interactive_with_no_engagement(
        chdb: Any, database: str) -> None:
    client: Client = chdb.client
    settings = Settings(database=database, raw_ttl_days=3650, sessions_ttl_days=3650)
    migrate(client, settings, upto=2)
    shop_traffic().write(client)
    migrate(client, settings)
    defaults = client.query("SELECT DISTINCT interactive, scroll_depth, engagement_ms "
                            "FROM events").result_rows
    assert defaults == [(1, -1, 0)]


def test_engagement_events_add_no_visitor_event_or_rollup_row(chdb: Any, database: str) -> None:
    """An engagement event measures a page view already counted: the rollups ignore it."""
    client: Client = chdb.client
    migrate(client, Settings(database=database, raw_ttl_days=3650, sessions_ttl_days=3650,
                             hourly_ttl_days=3650, daily_ttl_days=3650))
    traffic = shop_traffic()
    traffic.write(client)
    before = _answers(client)
    row = list(traffic.events[0])
    row[2], row[3] = "engagement", 999_999  # a visitor id seen nowhere else
    client.insert("events", [[*row, 0, 40, 5000]],
                  column_names=[*EVENT_COLUMNS, "interactive", "scroll_depth",
                                "engagement_ms"])
    assert _answers(client) == before



def test_goals_table_starts_empty_and_every_custom_event_is_a_goal(chdb: Any,
                                                                  database: str) -> None:
    """Schema 5 adds configured goals; stored events answer event:goal without any row."""
    client: Client = chdb.client
    settings = Settings(database=database, raw_ttl_days=3650, sessions_ttl_days=3650,
                        hourly_ttl_days=3650, daily_ttl_days=3650)
    migrate(client, settings, upto=4)
    client.insert("sites", [[SITE, "anonymous", 0, 0, 0, 1]],
                  column_names=["domain", "no_consent", "store_truncated_ip", "city_geo",
                                "deleted", "version"])
    shop_traffic().write(client)
    assert migrate(client, settings) == [m.version for m in MIGRATIONS if m.version > 4]
    assert client.query("SELECT count() FROM goals").result_rows == [(0,)]
    answer = ask(client, {"metrics": ["visitors", "events"], "dimensions": ["event:goal"]})
    assert answer["results"] == [{"metrics": [2, 2], "dimensions": ["Signup"]}]


def test_dashboard_users_roles_and_links_survive_an_upgrade(chdb: Any, database: str) -> None:
    """Migration 7 adds only its own tables: rows written there outlive later migrations."""
    from sinks.users import UserStore

    client: Client = chdb.client
    settings = Settings(database=database)
    before_7 = [m.version for m in MIGRATIONS if m.version < 7][-1]
    migrate(client, settings, upto=7)
    store = UserStore(client)
    store.add_user("a@shop.example", "$argon2id$stub", is_admin=False)
    store.grant("a@shop.example", SITE, "viewer")
    store.create_link(SITE, password_hash="", label="board", created_by="a@shop.example")
    client.command("DELETE FROM schema_migrations WHERE version > {v:UInt32}",
                   parameters={"v": before_7})
    # Replaying every migration after the one before 7 (7 included) keeps every row.
    assert 7 in migrate(client, settings)
    user = store.user("a@shop.example")
    assert user is not None and user.roles == {SITE: "viewer"}
    assert [link.label for link in store.links(SITE)] == ["board"]


def test_schema_8_keeps_rollup_rows_whose_raw_events_expired(chdb: Any, database: str) -> None:
    """Rollups outlive raw events: migrations 8 and 10 copy every stored rollup row (never
    rebuilt from raw), re-order the table by dimension first, make its granules small,
    and the views feed the new table."""
    client: Client = chdb.client
    settings = Settings(database=database, raw_ttl_days=3650, sessions_ttl_days=3650,
                        hourly_ttl_days=3650, daily_ttl_days=3650)
    migrate(client, settings, upto=7)
    client.insert("sites", [[SITE, "anonymous", 0, 0, 0, 1]],
                  column_names=["domain", "no_consent", "store_truncated_ip", "city_geo",
                                "deleted", "version"])
    traffic = shop_traffic()
    traffic.write(client)
    client.command("TRUNCATE TABLE events")  # the raw tier expired; the rollups remain
    client.command("TRUNCATE TABLE sessions")
    rows = _rollup_rows(client)
    rollup_queries = [b for b in QUERIES if "visit:entry_page" not in b.get("dimensions", [])]
    lent = v9_statements(settings)[0]  # today's planner reads it (see _answers)
    client.command(lent)
    answers = [ask(client, body)["results"] for body in rollup_queries]
    client.command("DROP TABLE rollup_daily_visitors")
    assert rows and any(a for a in answers)

    assert migrate(client, settings) == [m.version for m in MIGRATIONS if m.version > 7]
    assert _rollup_rows(client) == rows
    assert [ask(client, body)["results"] for body in rollup_queries] == answers
    key = client.query("SELECT sorting_key FROM system.tables WHERE database = {d:String}"
                       " AND name = 'rollup_daily'", parameters={"d": database}).result_rows
    assert key == [("site, dim, day, value",)]
    ddl = client.query("SELECT create_table_query FROM system.tables WHERE database ="
                       " {d:String} AND name = 'rollup_daily'", parameters={"d": database})
    assert "index_granularity = 256" in ddl.result_rows[0][0]  # schema 10's small granules
    assert client.query("SELECT count() FROM system.tables WHERE database = {d:String}"
                        " AND name = 'rollup_daily_next'",
                        parameters={"d": database}).result_rows == [(0,)]

    row = list(traffic.events[0])  # the views now feed the new table: one more page view
    row[3] = 999_999  # a visitor id seen nowhere else
    client.insert("events", [row], column_names=EVENT_COLUMNS)
    before = {r[:4]: r[5] for r in rows}
    after = {r[:4]: r[5] for r in _rollup_rows(client)}
    day = row[1].date()
    assert after[(SITE, day, "", "")] == before[(SITE, day, "", "")] + 1
    assert after[(SITE, day, "event:page", row[6])] == before[(SITE, day, "event:page", row[6])] + 1
    assert all(after[key] >= count for key, count in before.items())
