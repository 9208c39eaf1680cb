"""Retention on real chdb: per-site TTLs, plan = apply, column TTLs, guards, audit, notice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from contract.errors import BadRequest
from crumbless.admin import DirectAdmin
from crumbless.app import create_app
from tests.conftest import Chdb, Clock
from tests.integration.helpers import query, rows, send

AGES = (20, 10, 0)  # days ago


@pytest.fixture
def world(make_runtime: Any, clock: Clock, chdb: Chdb) -> Any:
    runtime = make_runtime(k_anonymity=1)
    for site in ("a.com", "b.com"):
        runtime.sites.add(site, no_consent="full")
    client = create_app(runtime).test_client()
    now = clock.now
    for age in AGES:
        clock.now = now - dt.timedelta(days=age, minutes=5)
        for site in ("a.com", "b.com"):
            for visitor in range(3):
                assert send(client, ip=f"198.51.100.{visitor}", domain=site,
                            url=f"https://{site}/d{age}").status_code == 202
    clock.now = now
    assert runtime.processor.drain(30)
    admin = DirectAdmin(chdb.client, runtime.settings)
    admin.sites, admin.retention = runtime.sites, runtime.retention
    return runtime, client, admin


def site_rows(chdb: Chdb, table: str, site: str, where: str = "1") -> int:
    return int(chdb.client.query(f"SELECT count() FROM {table} WHERE site = {{s:String}} "
                                 f"AND {where}", parameters={"s": site}).result_rows[0][0])


def test_a_per_site_override_expires_that_sites_rows_and_no_others(world: Any, chdb: Chdb
                                                                   ) -> None:
    runtime, client, admin = world
    b_before = site_rows(chdb, "events", "b.com")
    done = admin.retention_apply("a.com", "raw", 15, actor="test")
    assert done["removed"] == {"events": 3}
    assert site_rows(chdb, "events", "a.com") == 6
    assert site_rows(chdb, "events", "a.com", "ts < now() - INTERVAL 15 DAY") == 0
    assert site_rows(chdb, "events", "b.com") == b_before == 9
    # New rows of a.com carry the override; b.com's keep the default.
    send(client, ip="198.51.100.9", domain="a.com", url="https://a.com/new")
    assert runtime.processor.drain(30)
    keep = chdb.client.query("SELECT site, groupUniqArray(keep_days) FROM events "
                             "GROUP BY site ORDER BY site").result_rows
    assert keep == [("a.com", [15]), ("b.com", [30])]


def test_plan_numbers_equal_what_apply_removes(world: Any) -> None:
    _, _, admin = world
    plan = admin.retention_plan(None, "raw", 8)
    planned = {(e["table"], e["site"]): e["rows"] for e in plan["expires_now"]}
    assert planned == {("events", "a.com"): 6, ("events", "b.com"): 6}
    assert all(e["first_day"] <= e["last_day"] for e in plan["expires_now"])
    assert "MATERIALIZE TTL" in plan["method"]
    done = admin.retention_apply(None, "raw", 8, actor="test")
    assert done["removed"] == {"events": sum(planned.values())}


def test_each_tier_expires_rows_past_it_and_rollups_outlive_raw(world: Any, chdb: Chdb,
                                                                clock: Clock) -> None:
    _, client, admin = world
    key = world[0].keys.create("a.com")
    old_day = (clock.now - dt.timedelta(days=20, minutes=5)).date()
    for tier, days in (("raw", 12), ("sessions", 12)):
        admin.retention_apply(None, tier, days, actor="test")
    assert site_rows(chdb, "events", "a.com", "ts < now() - INTERVAL 12 DAY") == 0
    assert site_rows(chdb, "sessions", "a.com", "start < now() - INTERVAL 12 DAY") == 0
    assert site_rows(chdb, "events", "a.com") == 6  # rows inside the period are kept
    answer = query(client, key, site_id="a.com", metrics=["visitors", "pageviews"],
                   date_range=[str(old_day), str(old_day)])
    assert rows(answer) == [([], [3, 3])]  # the daily rollup still answers for that day
    assert answer.get_json()["meta"]["source"] == "rollup"
    for tier, days in (("hourly", 15), ("daily", 15)):
        admin.retention_apply(None, tier, days, actor="test")
    assert site_rows(chdb, "rollup_hourly", "a.com", "hour < now() - INTERVAL 15 DAY") == 0
    assert site_rows(chdb, "rollup_daily", "a.com", "day < today() - 15") == 0
    kept_days = chdb.client.query("SELECT uniqExact(day) FROM rollup_daily WHERE site = 'a.com'"
                                  " AND dim = ''").result_rows[0][0]
    assert kept_days == 2  # 10 days ago and today (unmerged parts may hold several rows a day)


def test_ids_are_zeroed_earlier_than_the_rows_and_counts_stay(world: Any, chdb: Chdb) -> None:
    runtime, client, admin = world
    key = runtime.keys.create("a.com")
    before = rows(query(client, key, site_id="a.com", metrics=["visitors", "pageviews"],
                        date_range="30d"))
    plan = admin.retention_plan("a.com", "ids", 5)
    done = admin.retention_apply("a.com", "ids", 5, actor="test")
    assert done["removed"] == {"events": 6, "sessions": 6}  # the 20- and 10-day-old visits
    assert sum(e["rows"] for e in plan["expires_now"] if e["table"] == "events") == 6
    assert site_rows(chdb, "events", "a.com",
                     "ts < now() - INTERVAL 5 DAY AND (visitor_id != 0 OR session_id != 0)") == 0
    assert site_rows(chdb, "sessions", "a.com",
                     "start < now() - INTERVAL 5 DAY AND visitor_id != 0") == 0
    assert site_rows(chdb, "events", "a.com") == 9  # rows are kept, only ids are gone
    assert site_rows(chdb, "events", "b.com", "visitor_id != 0") == 9
    after = rows(query(client, key, site_id="a.com", metrics=["visitors", "pageviews"],
                       date_range="30d"))
    assert after == before  # the rollups' visitor counts were built before ids were zeroed


@pytest.mark.parametrize(("site", "tier", "days", "message"), [
    (None, "daily", 10, "cannot be shorter than raw"),
    (None, "hourly", 20, "cannot be shorter than raw"),
    ("a.com", "ids", 40, "cannot outlive raw"),
    (None, "kafka", 30 * 24 + 1, "cannot exceed the raw TTL"),
    (None, "raw", 0, "out of bounds"),
    (None, "raw", 4000, "out of bounds"),
    ("a.com", "kafka", 10, "one setting for every site"),
    (None, "salts", 2, "unknown"),
])
def test_guards_refuse_with_a_clear_reason(world: Any, site: str | None, tier: str, days: int,
                                           message: str) -> None:
    _, _, admin = world
    with pytest.raises(BadRequest, match=message):
        admin.retention_plan(site, tier, days)
    with pytest.raises(BadRequest, match=message):
        admin.retention_apply(site, tier, days, actor="test")
    assert admin.retention_audit() == []  # a refused change leaves no trace


def test_every_change_is_audited(world: Any) -> None:
    _, _, admin = world
    admin.retention_apply("a.com", "raw", 14, actor="alice@ops")
    admin.retention_apply("a.com", "raw", 21, actor="bob@ops")
    audit = admin.retention_audit()
    assert [(a["actor"], a["site"], a["tier"], a["old"], a["new"]) for a in audit] == [
        ("bob@ops", "a.com", "raw", 14, 21), ("alice@ops", "a.com", "raw", 30, 14)]
    assert "UPDATE" in audit[0]["detail"] and "MATERIALIZE" not in audit[0]["detail"]


def test_show_reads_ttls_and_sizes_back_from_clickhouse(world: Any, chdb: Chdb) -> None:
    _, _, admin = world
    admin.retention_apply("a.com", "raw", 25, actor="test")
    shown = admin.retention_show()
    events = next(t for t in shown["tables"] if t["table"] == "events")
    ddl = chdb.client.query("SELECT create_table_query FROM system.tables WHERE "
                            "database = currentDatabase() AND name = 'events'").result_rows[0][0]
    assert events["ttl"] and events["ttl"] in ddl
    assert events["column_ttls"]["visitor_id"] in ddl
    assert events["rows"] == 18 and events["bytes"] > 0
    by_site = {s["site"]: s for s in events["sites"]}
    assert by_site["a.com"]["keep_days"] == [25] and by_site["b.com"]["keep_days"] == [30]
    assert by_site["a.com"]["rows"] == 9
    assert shown["policy"]["overrides"] == {"a.com": {"raw": 25}}


def test_notice_states_the_live_periods_and_follows_a_change(world: Any, chdb: Chdb) -> None:
    _, _, admin = world
    before = admin.privacy_notice("a.com", "md")
    assert "| individual page views and events | 30 days |" in before
    assert "| daily totals (no individual records) | 760 days (about 25 months) |" in before
    assert "No cookies" in before and "DNT: 1" in before
    admin.retention_apply("a.com", "raw", 14, actor="test")
    after = admin.privacy_notice("a.com", "md")
    assert "| individual page views and events | 14 days |" in after
    assert "| individual page views and events | 30 days |" in admin.privacy_notice(
        "b.com", "md")
    # A TTL changed behind crumbless's back is what the notice reports: it reads ClickHouse.
    chdb.client.command("ALTER TABLE rollup_hourly MODIFY TTL hour + toIntervalDay(77)",
                        settings={"materialize_ttl_after_modify": 0})
    assert "| hourly totals | 77 days |" in admin.privacy_notice("a.com", "md")
    html = admin.privacy_notice("a.com", "html")
    assert "<td>14 days</td>" in html and "<h2>" in html


def test_notice_states_the_hash_as_long_as_sessions_keep_it_after_raw_is_shortened(
        world: Any, chdb: Chdb) -> None:
    """raw 7 days, sessions 30: sessions still hold visitor_id of 10- and 20-day-old visits,
    so the notice must say 30 days for the hash, not 7."""
    _, _, admin = world
    admin.retention_apply("a.com", "raw", 7, actor="test")
    notice = admin.privacy_notice("a.com", "md")
    assert "| individual page views and events | 7 days |" in notice
    assert "| the daily visitor hash inside page views and visit records | 30 days, then " \
           "removed |" in notice
    # and the claim is true: hashes older than 7 days are still stored in sessions
    assert site_rows(chdb, "sessions", "a.com",
                     "visitor_id != 0 AND start < now() - INTERVAL 7 DAY") > 0
