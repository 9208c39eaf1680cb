"""Closed days' visitors counted once (sinks/finalize.py, schema 9), on real traffic.

Beacons go through the embedded pipeline over three days with the real daily salts, so
the visitor hashes are what production stores: the same people come back every day and
one visit runs across midnight. The answers must be the same before and after the past
days are counted, the counted numbers must really be what is read, and a late insert
into a counted day must never be answered from its outdated count.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from crumbless.app import create_app
from dashboards.query import parse_query
from dashboards.stats import StatsService
from sinks.finalize import finalize
from tests.conftest import Chdb, Clock
from tests.integration.helpers import send

SITE = "example.com"
QUERIES: list[dict[str, Any]] = [
    {"metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration",
                 "events"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:entry_page"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["time:day"]},
    {"metrics": ["visitors"], "dimensions": ["visit:browser", "time:day"]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:exit_page"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"],
     "filters": [["is", "event:page", ["/pricing"]]]},
]


def _answers(client: Client, today: dt.date, *, force_raw: bool = False) -> list[Any]:
    service = StatsService(client, k=1, clock=lambda: dt.datetime.now(dt.UTC))
    return [service.run(parse_query({"site_id": SITE, "date_range": "7d", **body},
                                    today=today), force_raw=force_raw)["results"]
            for body in QUERIES]


@pytest.fixture
def three_days(make_runtime: Any, clock: Clock) -> tuple[Any, Any, dt.date]:
    """Four returning people over three past days, new ones each day, one visit that runs
    across midnight into the last day; all days before today."""
    today = dt.datetime.now(dt.UTC).date()
    first = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(9), tzinfo=dt.UTC)
    clock.now = first
    runtime = make_runtime(k_anonymity=1)
    runtime.sites.add(SITE, no_consent="full")
    app = create_app(runtime).test_client()
    for day in range(3):
        clock.now = first + dt.timedelta(days=day)
        for person in range(4 + day):
            for page in ("/", "/pricing", "/blog")[: 1 + (person + day) % 3]:
                clock.advance(seconds=20)
                assert send(app, ip=f"198.51.100.{person}",
                            url=f"https://example.com{page}").status_code == 202
    clock.now = first + dt.timedelta(days=1, hours=14, minutes=55)  # 23:55 of day two
    send(app, ip="203.0.113.9", url="https://example.com/")
    clock.advance(minutes=10)  # 00:05 of day three: the same visit goes on
    send(app, ip="203.0.113.9", url="https://example.com/pricing")
    assert runtime.processor.drain(30)
    return runtime, app, today


def test_counted_days_answer_as_the_states_and_as_raw(three_days: Any, chdb: Chdb) -> None:
    _, _, today = three_days
    client = chdb.client
    before = _answers(client, today)
    assert before == _answers(client, today, force_raw=True)
    # Each day's hashes are that day's: the returning people count once a day, and the visit
    # across midnight twice (its events after midnight carry the new day's hash).
    assert before[0][0]["metrics"][0] == 4 + 5 + 6 + 2

    assert finalize(client, today) == 3
    assert finalize(client, today) == 0  # nothing changed: nothing to count again
    counted = client.query("SELECT count(), uniqExact(day) FROM rollup_daily_visitors"
                           " WHERE dim = ''").result_rows
    assert counted == [(3, 3)]
    assert _answers(client, today) == before


def test_the_counted_numbers_are_what_is_read_until_the_day_changes(
        three_days: Any, chdb: Chdb, clock: Clock) -> None:
    runtime, app, today = three_days
    client = chdb.client
    truth = _answers(client, today)
    finalize(client, today)
    day = today - dt.timedelta(days=2)
    # Doctor the counted totals of one day (a newer version, the same fingerprint): the
    # answer follows the stored number, so it is the number that is read.
    client.command("""INSERT INTO rollup_daily_visitors
        SELECT site, dim, day, value, visitors + 100, fingerprint, version + 1, keep_days
        FROM rollup_daily_visitors FINAL WHERE day = {d:Date} AND dim = ''""",
                   parameters={"d": day})
    assert _answers(client, today)[0][0]["metrics"][0] == truth[0][0]["metrics"][0] + 100

    # A late event of that day moves its events total: the count is outdated, and the
    # day answers from its states again, at once, without waiting for a recount.
    clock.now = dt.datetime.combine(day, dt.time(18), tzinfo=dt.UTC)
    assert send(app, ip="192.0.2.77", url="https://example.com/late").status_code == 202
    assert runtime.processor.drain(30)
    late = _answers(client, today)
    assert late == _answers(client, today, force_raw=True)
    assert late[0][0]["metrics"][0] == truth[0][0]["metrics"][0] + 1
    assert finalize(client, today) == 1  # the next round counts that day again
    assert _answers(client, today) == late


def test_the_counted_table_expires_with_the_daily_rollup(three_days: Any, chdb: Chdb) -> None:
    """Retention: the counts are rollup data, so the daily tier's TTL governs them too."""
    runtime, _, today = three_days
    finalize(chdb.client, today)
    ttl = chdb.client.query("SELECT engine_full FROM system.tables WHERE database ="
                            " currentDatabase() AND name = 'rollup_daily_visitors'"
                            ).result_rows[0][0]
    assert "TTL day + toIntervalDay(keep_days)" in ttl
    for tier, days in (("kafka", 24), ("raw", 1), ("sessions", 1), ("hourly", 2), ("daily", 2)):
        runtime.retention.apply(None if tier == "kafka" else SITE, tier, days, actor="test")
    chdb.client.command("OPTIMIZE TABLE rollup_daily_visitors FINAL")
    left = chdb.client.query("SELECT min(day) FROM rollup_daily_visitors WHERE site = "
                             "{s:String}", parameters={"s": SITE}).result_rows[0][0]
    assert left >= today - dt.timedelta(days=2)


def test_serve_runs_the_count_in_the_background(three_days: Any) -> None:
    """`crumbless serve`'s runtime starts the rounds; a round counts what is there."""
    runtime, _, _ = three_days
    thread = runtime.finalizer._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    assert runtime.finalizer.run_once() == 3
    runtime.finalizer.close()
    assert not thread.is_alive()


def test_one_service_rereads_the_counted_days_after_their_ttl(
        three_days: Any, chdb: Chdb, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived service remembers a range's counted days for COUNTED_TTL_S, then looks
    again: a late event into a counted day is answered from the states after that."""
    import dashboards.stats

    monkeypatch.setattr(dashboards.stats, "COUNTED_TTL_S", 0.3)
    runtime, app, today = three_days
    client = chdb.client
    finalize(client, today)
    service = StatsService(client, k=1, clock=lambda: dt.datetime.now(dt.UTC))
    body = parse_query({"site_id": SITE, "date_range": "7d", "metrics": ["visitors"]},
                       today=today)

    def visitors() -> int:
        return int(service.run(body)["results"][0]["metrics"][0])

    before = visitors()
    day = today - dt.timedelta(days=1)
    client.command("""INSERT INTO rollup_daily_visitors
        SELECT site, dim, day, value, visitors + 100, fingerprint, version + 1, keep_days
        FROM rollup_daily_visitors FINAL WHERE day = {d:Date} AND dim = ''""",
                   parameters={"d": day})
    assert visitors() == before + 100  # doctored: the stored number is what is read
    clock.now = dt.datetime.combine(day, dt.time(20), tzinfo=dt.UTC)
    assert send(app, ip="192.0.2.78", url="https://example.com/late").status_code == 202
    assert runtime.processor.drain(30)
    time.sleep(0.4)  # past the TTL: the lookup sees the day changed
    assert visitors() == before + 1  # its states answer, with the late visitor
