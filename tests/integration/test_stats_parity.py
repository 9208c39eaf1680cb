"""Plausible parity of the Stats API on real chdb: named geography, browser and OS versions,
entry/exit hostnames, Plausible's value vocabularies (filters included, rollup = raw), and
visit metrics broken down by event:page and props.

Data: the reference shop traffic (tests/integration/test_stats_api.py) plus, for the
vocabularies, four visits on 2024-03-08 with user-agent, UTM and referrer fields set.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from contract.errors import BadQuery
from dashboards.query import parse_query
from tests.integration.test_stats_api import (  # noqa: F401 (fixtures)
    SITE,
    TODAY,
    ask,
    shop,
    shop_traffic,
    stats_client,
    stats_db,
    table,
)

D8 = dt.datetime(2024, 3, 8, 9, tzinfo=dt.UTC)
CLIENT_COLUMNS = ["os", "os_version", "browser", "browser_version", "device", "referrer",
                  "referrer_source", "utm_source", "country", "region", "city"]
# (os, os version, browser, browser version, device, referrer, source, utm_source, geo...)
CLIENTS: list[tuple[str, ...]] = [
    ("macOS", "14.4", "Safari", "17.4", "Desktop", "https://www.news.example/a/?x=1",
     "news.example", "", "DE", "DE-BE", "Berlin"),
    ("Linux", "", "Firefox", "124.0", "Desktop", "http://blog.example/", "blog.example",
     "newsletter", "DE", "DE-BY", "Munich"),
    ("Linux", "", "Edge", "122.0", "", "", "", "", "US", "US-CA", "San Francisco"),
    ("ChromeOS", "", "Samsung Internet", "", "Mobile", "", "", "", "", "", ""),
]


@pytest.fixture
def clients(stats_db: Client) -> Client:  # noqa: F811 (the imported fixture)
    """One single-pageview visit per CLIENTS row (visitors 101-104), on 2024-03-08."""
    events, sessions = [], []
    for n, attrs in enumerate(CLIENTS):
        ts = D8 + dt.timedelta(minutes=n)
        events.append([SITE, ts, "pageview", 101 + n, 2001 + n, SITE, "/", *attrs])
        sessions.append([SITE, 2001 + n, 101 + n, 1, ts, ts, SITE, "/", "/", 1, 1, 0, 1,
                         *attrs])
    stats_db.insert("events", events, column_names=["site", "ts", "name", "visitor_id",
                                                    "session_id", "hostname", "pathname",
                                                    *CLIENT_COLUMNS])
    stats_db.insert("sessions", sessions, column_names=[
        "site", "session_id", "visitor_id", "sign", "start", "end", "hostname", "entry_page",
        "exit_page", "pageviews", "events", "duration", "is_bounce", *CLIENT_COLUMNS])
    return stats_db


def both(client: Client, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The table of an answer, asserting the rollup and the raw tables give the same."""
    served, raw = ask(client, body), ask(client, body, force_raw=True)
    assert table(served) == table(raw), body
    return table(served)


@pytest.mark.parametrize(("dimension", "expected"), [
    ("visit:os", [("GNU/Linux", 2), ("Chrome OS", 1), ("Mac", 1)]),
    ("visit:browser", [("Firefox", 1), ("Microsoft Edge", 1), ("Safari", 1),
                       ("Samsung Browser", 1)]),
    ("visit:device", [("Desktop", 2), ("(not set)", 1), ("Mobile", 1)]),
    ("visit:utm_source", [("(not set)", 3), ("newsletter", 1)]),
    ("visit:source", [("Direct / None", 2), ("blog.example", 1), ("news.example", 1)]),
    ("visit:referrer", [("Direct / None", 2), ("blog.example", 1), ("news.example/a", 1)]),
    ("visit:country_name", [("Germany", 2), ("", 1), ("United States", 1)]),
    ("visit:region_name", [("", 1), ("Bayern", 1), ("Berlin", 1), ("California", 1)]),
    ("visit:city_name", [("", 1), ("Berlin", 1), ("Munich", 1), ("San Francisco", 1)]),
])
def test_dimensions_answer_plausibles_vocabulary(clients: Client, dimension: str,
                                                 expected: list[tuple[Any, ...]]) -> None:
    body = {"metrics": ["visitors"], "dimensions": [dimension],
            "date_range": ["2024-03-08", "2024-03-08"]}
    assert both(clients, body) == expected


@pytest.mark.parametrize(("filters", "visitors"), [
    ([["is", "visit:os", ["GNU/Linux"]]], 2),
    ([["is", "visit:os", ["Linux"]]], 0),  # crumbless's stored name is not a documented value
    ([["is", "visit:os", ["gnu/linux"], {"case_sensitive": False}]], 2),
    ([["is", "visit:browser", ["Microsoft Edge", "Safari"]]], 2),
    ([["is", "visit:utm_source", ["(not set)"]]], 3),
    ([["is", "visit:source", ["Direct / None"]]], 2),
    ([["is", "visit:country_name", ["Germany"]]], 2),
    ([["is_not", "visit:country_name", [""]]], 3),
    ([["contains", "visit:referrer", ["news.example"]]], 1),
    ([["is", "visit:region_name", ["Bayern"]]], 1),  # ISO 3166-2 names are local
])
def test_filters_match_documented_values(clients: Client, filters: list[Any],
                                         visitors: int) -> None:
    body = {"metrics": ["visitors"], "filters": filters,
            "date_range": ["2024-03-08", "2024-03-08"]}
    assert both(clients, body) == [(visitors,)]


def test_named_country_is_served_from_the_rollup(clients: Client) -> None:
    answer = ask(clients, {"metrics": ["visitors"], "dimensions": ["visit:country_name"],
                           "filters": [["is", "visit:country", ["DE"]]],
                           "date_range": ["2024-03-08", "2024-03-08"]})
    assert answer["meta"]["source"] == "rollup"
    assert table(answer) == [("Germany", 2)]


def test_versions_and_hostnames_are_served_raw(clients: Client) -> None:
    """browser/OS versions are not rollup dimensions (views of schema 1): meta says raw."""
    answer = ask(clients, {"metrics": ["visitors"], "dimensions": ["visit:browser",
                                                                   "visit:browser_version"],
                           "date_range": ["2024-03-08", "2024-03-08"]})
    assert answer["meta"]["source"] == "raw"
    assert table(answer) == [("Firefox", "124.0", 1), ("Microsoft Edge", "122.0", 1),
                             ("Safari", "17.4", 1), ("Samsung Browser", "(not set)", 1)]
    by_os = ask(clients, {"metrics": ["visitors"], "dimensions": ["visit:os_version"],
                          "filters": [["is", "visit:os", ["Mac"]]],
                          "date_range": ["2024-03-08", "2024-03-08"]})
    assert table(by_os) == [("14.4", 1)]
    hosts = ask(clients, {"metrics": ["visitors", "visits"],
                          "dimensions": ["visit:entry_page_hostname"],
                          "date_range": ["2024-03-08", "2024-03-08"]})
    assert table(hosts) == [(SITE, 4, 4)]
    exits = ask(clients, {"metrics": ["visitors"], "filters": [
        ["is", "visit:exit_page_hostname", [SITE]]],
        "date_range": ["2024-03-08", "2024-03-08"]})
    assert table(exits) == [(4,)]


def test_new_dimensions_are_k_suppressed(clients: Client) -> None:
    answer = ask(clients, {"metrics": ["visitors"], "dimensions": ["visit:os"],
                           "date_range": ["2024-03-08", "2024-03-08"]}, k=2)
    assert table(answer) == [("GNU/Linux", 2)]  # the two 1-visitor OS rows are withheld
    assert answer["meta"]["privacy"] == {"mode": "k_anonymous", "k": 2}


def test_visit_metrics_by_page_count_visits_that_viewed_it(shop: Client) -> None:  # noqa: F811
    """"/": all 14 visits, 10 of them bounced on it (each entered on "/"); /pricing: the
    3 FR visits and the US one, none entered there (bounce rate 0), 60 s each."""
    answer = ask(shop, {"metrics": ["visitors", "visits", "bounce_rate", "visit_duration",
                                    "pageviews"], "dimensions": ["event:page"]})
    assert table(answer) == [("/", 11, 14, 71, 17, 14), ("/pricing", 4, 4, 0, 60, 8),
                             ("/blog", 1, 1, 0, 60, 1)]
    only = ask(shop, {"metrics": ["visits", "bounce_rate"], "dimensions": ["event:page"],
                      "filters": [["is", "event:page", ["/blog"]]]})
    assert table(only) == [("/blog", 1, 0)]


def test_visits_by_event_name_and_props(shop: Client) -> None:  # noqa: F811
    answer = ask(shop, {"metrics": ["visits", "visitors"], "dimensions": ["event:name"]})
    assert table(answer) == [("pageview", 14, 11), ("Signup", 2, 2)]
    props = ask(shop, {"metrics": ["visits"], "dimensions": ["event:props:plan"]})
    assert table(props) == [("(none)", 14)]


def test_bounce_rate_with_a_props_dimension_is_a_400() -> None:
    with pytest.raises(BadQuery, match="event:page and event:hostname"):
        parse_query({"site_id": SITE, "metrics": ["bounce_rate"], "date_range": "7d",
                     "dimensions": ["event:props:plan"]}, today=TODAY)


def test_comparison_previous_period_with_change(shop: Client) -> None:  # noqa: F811
    """2024-03-10 against 2024-03-09: 4 visitors vs 10 (-60 %), bounce 100 vs 60 (+40)."""
    answer = ask(shop, {"metrics": ["visitors", "bounce_rate"], "date_range": "day",
                        "include": {"comparisons": {"mode": "previous_period"}}})
    assert answer["results"] == [{"metrics": [4, 100], "dimensions": [], "comparison": {
        "dimensions": [], "metrics": [10, 60], "change": [-60, 40]}}]
    assert answer["query"]["include"] == {"comparisons": {"mode": "previous_period"}}


def test_comparison_by_dimension_custom_range_and_time_series(shop: Client) -> None:  # noqa: F811
    answer = ask(shop, {"metrics": ["visitors"], "dimensions": ["visit:country"],
                        "date_range": ["2024-03-10", "2024-03-10"],
                        "include": {"comparisons": {"mode": "custom",
                                                    "date_range": ["2024-03-09", "2024-03-09"]}}})
    assert answer["results"] == [{"metrics": [4], "dimensions": ["DE"], "comparison": {
        "dimensions": ["DE"], "metrics": [6], "change": [-33]}}]
    series = ask(shop, {"metrics": ["visitors"], "dimensions": ["time:day"],
                        "date_range": ["2024-03-10", "2024-03-11"],
                        "include": {"comparisons": {"mode": "previous_period"}}})
    # the range runs past today (03-10): Plausible compares only up to today, so the
    # previous period is 03-09 alone and 03-11 (a filler row of zeros) has no counterpart
    assert [(r["dimensions"], r["metrics"], r["comparison"]) for r in series["results"]] == [
        (["2024-03-10"], [4], {"dimensions": ["2024-03-09"], "metrics": [10], "change": [-60]}),
        (["2024-03-11"], [0], {"dimensions": [None], "metrics": [0], "change": [0]})]


def test_compared_rows_below_k_release_no_number(shop: Client) -> None:  # noqa: F811
    """FR had 3 visitors on 03-09: with k=4 its comparison is withheld (null), not 0."""
    answer = ask(shop, {"metrics": ["visitors"], "dimensions": ["visit:country"],
                        "date_range": ["2024-03-10", "2024-03-10"],
                        "include": {"comparisons": {"mode": "year_over_year"}}}, k=4)
    assert answer["results"][0]["comparison"] == {"dimensions": ["DE"], "metrics": [0],
                                                  "change": [100]}
    shifted = ask(shop, {"metrics": ["visitors"], "dimensions": ["visit:country"],
                         "filters": [["is", "visit:country", ["FR"]]],
                         "date_range": ["2024-03-08", "2024-03-10"],
                         "include": {"comparisons": {"mode": "custom",
                                                     "date_range": ["2024-03-09",
                                                                    "2024-03-09"]}}}, k=3)
    assert shifted["results"][0]["comparison"]["metrics"] == [3]
    hidden = ask(shop, {"metrics": ["visitors"], "dimensions": ["visit:country"],
                        "date_range": ["2024-03-09", "2024-03-10"],
                        "include": {"comparisons": {"mode": "custom",
                                                    "date_range": ["2024-03-09",
                                                                   "2024-03-09"]}}}, k=4)
    compared = {tuple(r["dimensions"]): r["comparison"]["metrics"] for r in hidden["results"]}
    assert compared == {("DE",): [6]}  # FR (3) is suppressed in the main period as well


@pytest.mark.parametrize(("mode", "match", "expected"), [
    ("previous_period", False, ("2024-02-26", "2024-03-03")),
    ("year_over_year", False, ("2023-03-05", "2023-03-11")),
    ("year_over_year", True, ("2023-03-06", "2023-03-12")),  # Monday as 2024-03-04
])
def test_comparison_periods(mode: str, match: bool, expected: tuple[str, str]) -> None:
    from dashboards.compare import Comparison, comparison_days
    days = comparison_days(Comparison(mode, match_day_of_week=match), dt.date(2024, 3, 4),
                           dt.date(2024, 3, 10), TODAY)
    assert (days[0].isoformat(), days[1].isoformat()) == expected


BERLIN_VISITS = [  # (visitor, UTC start): local Berlin day in the comment
    (201, dt.datetime(2024, 3, 30, 22, 30, tzinfo=dt.UTC)),  # 03-30 23:30 CET
    (202, dt.datetime(2024, 3, 30, 23, 30, tzinfo=dt.UTC)),  # 03-31 00:30 CET
    (203, dt.datetime(2024, 3, 31, 21, 30, tzinfo=dt.UTC)),  # 03-31 23:30 CEST
    (204, dt.datetime(2024, 3, 31, 22, 30, tzinfo=dt.UTC)),  # 04-01 00:30 CEST
]


@pytest.fixture
def berlin(stats_db: Client) -> Client:  # noqa: F811 (the imported fixture)
    """The site in Europe/Berlin, four visits around the change to summer time (03-31)."""
    from tests.integration.test_stats_api import Traffic
    stats_db.insert("sites", [[SITE, "anonymous", 0, 0, "Europe/Berlin", 0, 2]],
                    column_names=["domain", "no_consent", "store_truncated_ip", "city_geo",
                                  "timezone", "deleted", "version"])
    traffic = Traffic()
    for visitor, start in BERLIN_VISITS:
        traffic.visit(visitor, start, ["/"], country="DE", source="Google")
    traffic.write(stats_db)
    return stats_db


def ask_berlin(client: Client, body: dict[str, Any], *, force_raw: bool = False,
               now: dt.datetime = dt.datetime(2024, 4, 1, 12, tzinfo=dt.UTC)) -> dict[str, Any]:
    from dashboards.stats import StatsService
    service = StatsService(client, k=1, clock=lambda: now)
    tz = service.site_timezone(SITE)
    assert tz == "Europe/Berlin"
    return service.run(parse_query({"site_id": SITE, **body}, today=service.today(tz),
                                   now=service.now(), timezone=tz), force_raw=force_raw)


def test_days_are_the_sites_local_days_across_dst(berlin: Client) -> None:
    body = {"metrics": ["visitors"], "date_range": ["2024-03-31", "2024-03-31"],
            "dimensions": ["time:day"]}
    answer = ask_berlin(berlin, body)
    assert answer["meta"]["timezone"] == "Europe/Berlin"
    assert answer["meta"]["source"] == "rollup"  # hourly rollup folded into local days
    assert table(answer) == [("2024-03-31", 2)]
    assert table(ask_berlin(berlin, body, force_raw=True)) == [("2024-03-31", 2)]
    assert answer["query"]["date_range"] == ["2024-03-31T00:00:00+01:00",
                                             "2024-03-31T23:59:59+02:00"]
    week = ask_berlin(berlin, {"metrics": ["visitors"], "date_range": "7d",
                               "dimensions": ["time:day"]})
    assert table(week) == [("2024-03-30", 1), ("2024-03-31", 2), ("2024-04-01", 1)]
    assert table(ask_berlin(berlin, {"metrics": ["visitors"], "date_range": "day"})) == [(1,)]


def test_local_hours_across_dst_and_breakdowns_served_raw(berlin: Client) -> None:
    hours = ask_berlin(berlin, {"metrics": ["visitors"], "date_range": ["2024-03-31",
                                                                        "2024-03-31"],
                                "dimensions": ["time:hour"], "include": {"time_labels": True}})
    assert table(hours) == [("2024-03-31 00:00:00", 1), ("2024-03-31 23:00:00", 1)]
    labels = hours["meta"]["time_labels"]
    assert len(labels) == 23 and "2024-03-31 02:00:00" not in labels  # the skipped hour
    by_country = ask_berlin(berlin, {"metrics": ["visitors"], "dimensions": ["visit:country"],
                                     "date_range": ["2024-03-31", "2024-03-31"]})
    assert by_country["meta"]["source"] == "raw"  # rollup_daily's days are UTC days
    assert table(by_country) == [("DE", 2)]


def test_comparison_in_the_sites_zone(berlin: Client) -> None:
    answer = ask_berlin(berlin, {"metrics": ["visitors"], "date_range": ["2024-04-01",
                                                                         "2024-04-01"],
                                 "include": {"comparisons": {"mode": "previous_period"}}})
    assert answer["results"][0]["comparison"] == {"dimensions": [], "metrics": [2],
                                                  "change": [-50]}


def test_sites_add_sets_and_keeps_the_timezone(stats_db: Client) -> None:  # noqa: F811
    from contract.errors import BadRequest
    from sinks.registry import SiteRegistry
    registry = SiteRegistry(stats_db)
    assert registry.add("tz.example", timezone="America/New_York").timezone == \
        "America/New_York"
    assert registry.add("tz.example", city_geo=True).timezone == "America/New_York"
    with pytest.raises(BadRequest, match="IANA"):
        registry.add("tz.example", timezone="Mars/Olympus")
