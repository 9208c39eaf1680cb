"""The embedded mode end to end on real chdb: beacon → event log → processor → ClickHouse →
Stats API, with the privacy invariants checked on the bytes that land on disk."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from contract.errors import StorageError
from contract.rows import RowBatch
from crumbless.app import create_app
from crumbless.testing.geo import build_test_mmdb
from processors.runner import LogProcessor
from sinks.clickhouse import ClickHouseSink
from tests.conftest import Chdb, Clock
from tests.integration.helpers import CHROME, FIREFOX, IPHONE, query, rows, send


@pytest.fixture
def stack(make_runtime: Any) -> Any:
    runtime = make_runtime(k_anonymity=1)
    runtime.sites.add("example.com", no_consent="full")
    key = runtime.keys.create("example.com")
    return runtime, create_app(runtime).test_client(), key


def test_events_come_back_through_the_stats_api_with_exact_counts(stack: Any) -> None:
    runtime, client, key = stack
    for visitor in range(6):
        for page in ("/", "/pricing")[: 1 + visitor % 2]:
            assert send(client, ip=f"198.51.100.{visitor}", url=f"https://example.com{page}"
                        ).status_code == 202
    send(client, ip="198.51.100.0", name="Signup", url="https://example.com/pricing")
    assert runtime.processor.drain(30)
    totals = rows(query(client, key, site_id="example.com", date_range="day",
                        metrics=["visitors", "visits", "pageviews", "events", "bounce_rate"]))
    # visitors 2 and 4 bounce; visitor 0's Signup is an interaction, so not a bounce (Plausible)
    assert totals == [([], [6, 6, 9, 10, 33])]
    pages = rows(query(client, key, site_id="example.com", date_range="day",
                       metrics=["visitors", "pageviews"], dimensions=["event:page"],
                       order_by=[["event:page", "asc"]]))
    # visitor 0's Signup happened on /pricing: a visitor of the page, not a pageview
    assert pages == [(["/"], [6, 6]), (["/pricing"], [4, 3])]


def test_no_file_under_the_data_dir_contains_the_client_ip(make_runtime: Any, chdb: Chdb
                                                            ) -> None:
    """A raw IP never reaches the event log, ClickHouse parts, checkpoints or any file."""
    runtime = make_runtime(k_anonymity=1, start_background=False)
    runtime.sites.add("example.com", no_consent="full", store_truncated_ip=True)
    client = create_app(runtime).test_client()
    ips = ["203.0.113.197", "2001:db8:5eed:77::1997"]
    for ip in ips:
        for path in ("/a", "/b"):
            assert send(client, ip=ip, url=f"https://example.com{path}").status_code == 202
    needles = [n for ip in ips for n in (ip.encode(), ipaddress.ip_address(ip).packed,
                                         ip.encode("utf-16-le"))]
    files = [p for p in runtime.settings.data_dir.rglob("*") if p.is_file()]
    assert any("eventlog" in str(p) for p in files)  # the log holds the unprocessed events
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"raw IP found in {path}"
    runtime.processor.start()
    assert runtime.processor.drain(30)
    chdb.client.command("SYSTEM FLUSH LOGS")
    stored = chdb.client.query("SELECT count(), groupUniqArray(truncated_ip) FROM events")
    assert stored.result_rows[0][0] == 4
    assert sorted(stored.result_rows[0][1]) == ["2001:db8:5eed::/48", "203.0.113.0/24"]
    for root in (runtime.settings.data_dir, chdb.path):
        for path in (p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"raw IP found in {path}"


def test_raw_rows_past_the_ttl_are_gone_while_rollups_still_answer(stack: Any, chdb: Chdb,
                                                                   clock: Clock) -> None:
    runtime, client, key = stack
    today = clock.now.date()
    clock.now -= dt.timedelta(days=25)
    old_day = clock.now.date()
    for visitor in range(3):
        send(client, ip=f"198.51.100.{visitor}", url="https://example.com/old")
    clock.now += dt.timedelta(days=25)
    send(client, ip="198.51.100.9", url="https://example.com/new")
    assert runtime.processor.drain(30)
    assert len(chdb.client.query("SELECT 1 FROM events").result_rows) == 4
    # ClickHouse's clock cannot be moved, so age the rows by shortening the raw TTL to 20
    # days: the 25-day-old rows are now past it and go at the next merge.
    # (MODIFY TTL recomputes the parts' TTL info; the merge then drops the expired parts.)
    chdb.client.command("ALTER TABLE events MODIFY TTL toDateTime(ts) + toIntervalDay(20)",
                        settings={"mutations_sync": 2})
    chdb.client.command("OPTIMIZE TABLE events FINAL")
    remaining = chdb.client.query("SELECT pathname FROM events").result_rows
    assert [r[0] for r in remaining] == ["/new"]
    answer = query(client, key, site_id="example.com", metrics=["visitors", "pageviews"],
                   date_range=[str(old_day), str(today)], dimensions=["time:day"])
    assert rows(answer) == [([str(old_day)], [3, 3]), ([str(today)], [1, 1])]
    assert answer.get_json()["meta"]["source"] == "rollup"


def test_dnt_traffic_counts_pageviews_but_never_visitors(stack: Any) -> None:
    runtime, client, key = stack
    send(client, ip="198.51.100.1", consent={"analytics": True})
    send(client, ip="198.51.100.2", headers={"DNT": "1"}, consent={"analytics": True})
    send(client, ip="198.51.100.3", headers={"Sec-GPC": "1"})
    assert runtime.processor.drain(30)
    assert rows(query(client, key, site_id="example.com", date_range="day",
                      metrics=["visitors", "pageviews"])) == [([], [1, 3])]
    stored = runtime.client.query("SELECT consent, mode, visitor_id FROM events "
                                  "ORDER BY visitor_id DESC, consent").result_rows
    assert [(c, m) for c, m, _ in stored] == [("granted", "full"), ("granted", "anonymous"),
                                              ("unset", "anonymous")]
    assert [v for _, _, v in stored][1:] == [0, 0]


def test_a_site_that_drops_no_consent_traffic_stores_nothing_for_it(make_runtime: Any) -> None:
    runtime = make_runtime()
    runtime.sites.add("strict.example", no_consent="drop")
    client = create_app(runtime).test_client()
    assert send(client, ip="198.51.100.1", domain="strict.example",
                url="https://strict.example/").status_code == 202
    assert send(client, ip="198.51.100.2", domain="strict.example", url="https://strict.example/",
                consent={"analytics": True}).status_code == 202
    assert runtime.processor.drain(30)
    assert runtime.client.query("SELECT count() FROM events").result_rows == [(1,)]


def test_bots_are_dropped_and_counted(stack: Any) -> None:
    runtime, client, _ = stack
    send(client, ip="198.51.100.1",
         ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    send(client, ip="198.51.100.2", ua="")
    assert runtime.processor.drain(30)
    assert runtime.client.query("SELECT count() FROM events").result_rows == [(0,)]
    assert runtime.metrics.get("events_dropped", reason="bot") == 2


def test_geo_and_device_breakdowns_use_the_full_ip_then_drop_it(make_runtime: Any,
                                                                tmp_path: Path) -> None:
    mmdb = build_test_mmdb(tmp_path / "geo.mmdb", {
        "198.51.100.0/24": {"country": "DE", "region": "BE", "city": "Berlin"},
        "2001:db8:1::/48": {"country": "FR", "region": "IDF", "city": "Paris"},
    })
    runtime = make_runtime(k_anonymity=1, geoip_db=str(mmdb))
    runtime.sites.add("example.com", no_consent="full", city_geo=True)
    key = runtime.keys.create("example.com")
    client = create_app(runtime).test_client()
    send(client, ip="198.51.100.7", ua=CHROME)
    send(client, ip="198.51.100.8", ua=IPHONE)
    send(client, ip="2001:db8:1::5", ua=FIREFOX)
    assert runtime.processor.drain(30)
    countries = rows(query(client, key, site_id="example.com", date_range="day",
                           metrics=["visitors"], dimensions=["visit:country", "visit:city"],
                           order_by=[["visit:country", "asc"]]))
    assert countries == [(["DE", "Berlin"], [2]), (["FR", "Paris"], [1])]
    devices = rows(query(client, key, site_id="example.com", date_range="day",
                         metrics=["visitors"], dimensions=["visit:device"],
                         order_by=[["visit:device", "asc"]]))
    assert devices == [(["Desktop"], [2]), (["Mobile"], [1])]


@pytest.mark.parametrize(("body", "content_type", "status", "reason"), [
    (b"{", "text/plain", 400, "not valid JSON"),
    (b'{"n":"pageview","u":"https://x.org/","d":"unknown.org"}', "text/plain", 400,
     "not a registered site"),
    (b'{"n":"pageview","u":"https://x.org/","d":"example.com"}', "application/xml", 415,
     "Content-Type"),
    (b"\xff\xfe", "text/plain", 400, "UTF-8"),
    (b'{"n":"pageview","u":"https://x.org/' + b"a" * 20000 + b'","d":"example.com"}',
     "text/plain", 413, "limit"),
])
def test_bad_beacons_get_a_clear_4xx(stack: Any, body: bytes, content_type: str, status: int,
                                     reason: str) -> None:
    _, client, _ = stack
    response = client.post("/api/event", data=body, headers={"Content-Type": content_type},
                           environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert response.status_code == status
    assert reason in response.get_json()["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_crash_between_insert_and_commit_replays_without_double_counting(
        make_runtime: Any) -> None:
    runtime = make_runtime(k_anonymity=1, start_background=False)
    runtime.sites.add("example.com", no_consent="full")
    client = create_app(runtime).test_client()
    for i in range(7):
        send(client, ip=f"198.51.100.{i}", url=f"https://example.com/{i % 2}")

    class CrashAfterInsert(ClickHouseSink):
        def write(self, batch: RowBatch) -> None:
            super().write(batch)
            raise StorageError("simulated crash after the insert, before the commit")

    crashing = runtime.processor
    crashing.engine.sink = CrashAfterInsert(runtime.client)
    crashing.stop()  # stopping: the retry loop gives up, leaving the batch pending
    crashing._run()
    assert crashing.committed == 0
    assert runtime.client.query("SELECT count() FROM events").result_rows == [(7,)]
    restarted = LogProcessor(
        log=runtime.event_log, sink=ClickHouseSink(runtime.client),
        checkpoint=crashing.engine.checkpoint, dead_letters=crashing.engine.dead_letters,
        metrics=runtime.metrics, batch_size=1000, batch_interval=0.05,
        session_timeout_ms=30 * 60_000)
    restarted.start()
    assert restarted.drain(30)
    restarted.stop()
    counts = runtime.client.query(
        "SELECT (SELECT count() FROM events), (SELECT sum(sign) FROM sessions), "
        "(SELECT sum(pageviews) FROM rollup_daily WHERE dim = ''), "
        "(SELECT sum(visits) FROM rollup_daily WHERE dim = '')").result_rows
    assert counts == [(7, 7, 7, 7)]
