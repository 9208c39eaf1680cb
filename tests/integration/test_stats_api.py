"""The Stats API against a real embedded ClickHouse (chdb): exact answers, rollup = raw,
k-anonymity, pagination, and the HTTP contract of the Flask blueprint.

One chdb path per process: the session's client from tests/conftest.py, a fresh database
per test.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flask import Flask

from contract.errors import BadQuery, StorageError
from contract.settings import Settings
from dashboards.api import stats_blueprint
from dashboards.query import parse_query
from dashboards.stats import StatsService
from sinks.migrations import migrate

SITE = "shop.example"
TODAY = dt.date(2024, 3, 10)
NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.UTC)
D9 = dt.datetime(2024, 3, 9, tzinfo=dt.UTC)
D10 = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)

EVENT_COLUMNS = ["site", "ts", "name", "visitor_id", "session_id", "hostname", "pathname",
                 "referrer_source", "channel", "country", "device"]
# Events with the columns of custom properties, revenue and engagement (schema 3 and later).
RICH_COLUMNS = [*EVENT_COLUMNS, "props", "revenue_amount", "revenue_currency", "scroll_depth",
                "engagement_ms"]
SESSION_COLUMNS = ["site", "session_id", "visitor_id", "sign", "start", "end", "hostname",
                   "entry_page", "exit_page", "pageviews", "events", "duration", "is_bounce",
                   "referrer_source", "channel", "country", "device"]


@pytest.fixture(scope="session")
def stats_client(chdb: Any) -> Client:
    """The process's one chdb client (tests/conftest.py): chdb holds one path per process."""
    client: Client = chdb.client
    return client


@pytest.fixture
def stats_db(stats_client: Client, database: str) -> Client:
    """The shared client on a fresh database (tests/conftest.py), migrated, one site known.

    TTLs are stretched to ten years: the fixed dates below are in the past, and rows older
    than a table's TTL vanish from raw tables at insert while the rollups keep them.
    """
    migrate(stats_client, Settings(database=database, raw_ttl_days=3650,
                                   sessions_ttl_days=3650, hourly_ttl_days=3650,
                                   daily_ttl_days=3650))
    stats_client.insert("sites", [[SITE, "anonymous", 0, 0, 0, 1]],
                        column_names=["domain", "no_consent", "store_truncated_ip", "city_geo",
                                      "deleted", "version"])
    return stats_client


class Traffic:
    """Builds events and the collapsing session rows a sessioniser would write for them."""

    def __init__(self) -> None:
        self.events: list[list[Any]] = []
        self.rich: list[list[Any]] = []  # RICH_COLUMNS
        self.sessions: list[list[Any]] = []
        self._next_session = 1000
        self._visits: dict[int, list[Any]] = {}  # session id -> attrs of its events

    def visit(self, visitor_id: int, start: dt.datetime, pages: list[str], *, country: str,
              source: str, device: str = "Desktop", step: int = 30,
              custom: tuple[str, ...] = ()) -> int:
        """One visit: a pageview per page `step` seconds apart; custom events on the last page.

        Returns the session id.

        Each pageview after the first retracts the previous session state (-1) and writes
        the new one (+1), as CollapsingMergeTree(sign) expects.
        """
        self._next_session += 1
        session_id = self._next_session
        attrs = [source, "Organic Search" if source == "Google" else "Direct", country, device]
        self._visits[session_id] = [visitor_id, attrs]
        state: list[Any] | None = None
        for i, page in enumerate(pages):
            ts = start + dt.timedelta(seconds=step * i)
            self.events.append([SITE, ts, "pageview", visitor_id, session_id, SITE, page, *attrs])
            if state is not None:
                self.sessions.append([*state[:3], -1, *state[4:]])
            state = [SITE, session_id, visitor_id, 1, start, ts, SITE, pages[0], page, i + 1,
                     i + 1, step * i, int(i == 0), *attrs]
            self.sessions.append(state)
        assert state is not None
        for name in custom:
            ts = start + dt.timedelta(seconds=step * (len(pages) - 1) + 5)
            self.events.append([SITE, ts, name, visitor_id, session_id, SITE, pages[-1], *attrs])
            self.sessions.append([*state[:3], -1, *state[4:]])
            state = [*state[:10], state[10] + 1, *state[11:]]
            self.sessions.append(state)
        return session_id

    def engagement(self, session_id: int, ts: dt.datetime, page: str, *, scroll: int = -1,
                   ms: int = 0) -> None:
        """An engagement event of a visit: a page view's scroll depth and engaged time."""
        visitor_id, attrs = self._visits[session_id]
        self.rich.append([SITE, ts, "engagement", visitor_id, session_id, SITE, page, *attrs,
                          {}, None, "", scroll, ms])

    def custom(self, session_id: int, ts: dt.datetime, name: str, page: str, *,
               props: dict[str, str] | None = None, revenue: str = "",
               currency: str = "") -> None:
        """A custom event with props and revenue (the visit's session rows are not updated)."""
        visitor_id, attrs = self._visits[session_id]
        self.rich.append([SITE, ts, name, visitor_id, session_id, SITE, page, *attrs,
                          props or {}, Decimal(revenue) if revenue else None, currency, -1, 0])

    def anonymous(self, ts: dt.datetime, page: str, *, country: str, source: str) -> None:
        """A pageview counted without consent: no visitor id, no session."""
        self.events.append([SITE, ts, "pageview", 0, 0, SITE, page, source, "Organic Search",
                            country, "Desktop"])

    def write(self, client: Client) -> None:
        client.insert("events", self.events, column_names=EVENT_COLUMNS)
        client.insert("sessions", self.sessions, column_names=SESSION_COLUMNS)
        if self.rich:
            client.insert("events", self.rich, column_names=RICH_COLUMNS)


def shop_traffic() -> Traffic:
    """The reference data set; the expected numbers in the tests are derived from it.

    2024-03-09: visitors 1-6 (DE, Google) bounce on "/" at 10:0x; 4 anonymous pageviews of
    /pricing (DE, Google) at 10:30; visitors 7-9 (FR, Direct) view "/" then /pricing, 60 s
    apart, at 11:0x, and 7 and 8 fire "Signup"; visitor 10 (US, Twitter) views "/", /blog,
    /pricing 30 s apart at 12:00.
    2024-03-10: visitors 1-3 and 11 (DE, Google) bounce on "/" at 09:0x.
    """
    traffic = Traffic()
    for v in range(1, 7):
        traffic.visit(v, D9 + dt.timedelta(hours=10, minutes=v), ["/"],
                      country="DE", source="Google")
    for i in range(4):
        traffic.anonymous(D9 + dt.timedelta(hours=10, minutes=30 + i), "/pricing",
                          country="DE", source="Google")
    for v in (7, 8, 9):
        traffic.visit(v, D9 + dt.timedelta(hours=11, minutes=v), ["/", "/pricing"],
                      country="FR", source="Direct", device="Mobile", step=60,
                      custom=("Signup",) if v != 9 else ())
    traffic.visit(10, D9 + dt.timedelta(hours=12), ["/", "/blog", "/pricing"],
                  country="US", source="Twitter")
    for v in (1, 2, 3, 11):
        traffic.visit(v, D10 + dt.timedelta(hours=9, minutes=v), ["/"],
                      country="DE", source="Google")
    return traffic


@pytest.fixture
def shop(stats_db: Client) -> Client:
    shop_traffic().write(stats_db)
    return stats_db


def ask(client: Client, body: dict[str, Any], *, k: int = 1,
        force_raw: bool = False) -> dict[str, Any]:
    service = StatsService(client, k=k, clock=lambda: NOW)
    return service.run(parse_query({"site_id": SITE, "date_range": "7d", **body}, today=TODAY),
                       force_raw=force_raw)


def table(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(*row["dimensions"], *row["metrics"]) for row in answer["results"]]


ALL_METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
               "visit_duration", "events"]


def test_aggregate_totals_from_the_rollup(shop: Client) -> None:
    """11 visitors, 14 visits, 23 pageviews (4 anonymous), 25 events; ratios rounded."""
    answer = ask(shop, {"metrics": ALL_METRICS})
    # bounce 10/14 = 71.4 %, duration 240 s / 14 = 17.1 s, visit pageviews 19/14 = 1.357
    assert answer["results"] == [{"metrics": [11, 14, 23, 1.36, 71, 17, 25], "dimensions": []}]
    assert answer["meta"] == {"k": 1, "source": "rollup",
                              "privacy": {"mode": "k_anonymous", "k": 1},
                              "timezone": "UTC"}
    assert answer["query"]["date_range"] == ["2024-03-04T00:00:00+00:00",
                                             "2024-03-10T23:59:59+00:00"]


def test_anonymous_events_count_as_pageviews_never_as_visitors(shop: Client) -> None:
    answer = ask(shop, {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"]})
    assert table(answer) == [("/", 11, 14), ("/pricing", 4, 8), ("/blog", 1, 1)]


def test_breakdown_by_country_and_source(shop: Client) -> None:
    by_country = ask(shop, {"metrics": ["visitors", "pageviews"],
                            "dimensions": ["visit:country"]})
    assert table(by_country) == [("DE", 7, 14), ("FR", 3, 6), ("US", 1, 3)]
    by_source = ask(shop, {"metrics": ["visitors", "visits", "bounce_rate", "visit_duration",
                                       "views_per_visit"], "dimensions": ["visit:source"]})
    assert table(by_source) == [("Google", 7, 10, 100, 0, 1.0), ("Direct", 3, 3, 0, 60, 2.0),
                                ("Twitter", 1, 1, 0, 60, 3.0)]


def test_time_day_series_only_has_days_with_data(shop: Client) -> None:
    answer = ask(shop, {"metrics": ["visitors", "pageviews", "visits"], "dimensions": ["time"]})
    assert table(answer) == [("2024-03-09", 10, 19, 10), ("2024-03-10", 4, 4, 4)]
    assert answer["query"]["dimensions"] == ["time:day"]
    assert answer["query"]["order_by"] == [["time:day", "asc"], ["visitors", "desc"]]


def test_time_hour_series(shop: Client) -> None:
    answer = ask(shop, {"metrics": ["visitors", "pageviews"], "dimensions": ["time:hour"],
                        "date_range": ["2024-03-09", "2024-03-09"]})
    assert answer["meta"]["source"] == "rollup"
    assert table(answer) == [("2024-03-09 10:00:00", 6, 10), ("2024-03-09 11:00:00", 3, 6),
                             ("2024-03-09 12:00:00", 1, 3)]


@pytest.mark.parametrize(("filters", "expected"), [
    ([["is", "visit:country", ["DE"]]], [7, 14, 14]),
    ([["is_not", "visit:country", ["DE"]]], [4, 9, 11]),
    ([["not", ["is", "visit:country", ["DE"]]]], [4, 9, 11]),
    ([["or", [["is", "visit:country", ["FR"]], ["is", "visit:country", ["US"]]]]], [4, 9, 11]),
    ([["contains", "event:page", ["pric"]]], [4, 8, 10]),
    ([["contains", "event:page", ["Pric"]]], [0, 0, 0]),  # case-sensitive: nobody, zeros
    ([["contains", "event:page", ["Pric"], {"case_sensitive": False}]], [4, 8, 10]),
    ([["contains_not", "event:page", ["pric", "blog"]]], [11, 14, 14]),
    ([["matches", "event:page", ["^/(blog|pricing)$"]]], [4, 9, 11]),
    ([["matches_not", "visit:country", ["^U"]]], [10, 20, 22]),
    ([["has_done", ["is", "event:name", ["Signup"]]]], [2, 4, 6]),
    ([["has_not_done", ["is", "event:page", ["/pricing"]]]], [7, 10, 10]),
    ([["is", "visit:country", ["US"]]], [1, 3, 3]),  # k=1; with k>1 refused (attack suite)
    ([["is", "visit:country", ["DE"]], ["is", "event:page", ["/"]]], [7, 10, 10]),
    ([["and", [["is", "visit:country", ["DE"]], ["is", "event:page", ["/"]]]]], [7, 10, 10]),
    ([["is", "event:name", ["Signup"]]], [2, 0, 2]),
    ([["is", "visit:source", ["Direct", "Twitter"]]], [4, 9, 11]),
])
def test_filters(shop: Client, filters: list[Any], expected: list[int]) -> None:
    """Exact filter semantics at k=1 (the k>1 guards: tests/integration/test_privacy_attacks.py)."""
    answer = ask(shop, {"metrics": ["visitors", "pageviews", "events"], "filters": filters})
    assert table(answer) == [tuple(expected)]


def test_a_filter_value_under_k_is_refused_not_answered(shop: Client) -> None:
    with pytest.raises(BadQuery, match=r"filters\[0\]\[2\]\[0\]: 'US' is too narrow"):
        ask(shop, {"metrics": ["visitors"], "filters": [["is", "visit:country", ["US"]]]}, k=2)


def test_event_filter_with_visit_metrics_selects_whole_sessions(shop: Client) -> None:
    """Sessions that viewed /pricing: the 3 FR visits and the US one."""
    answer = ask(shop, {"metrics": ["visits", "bounce_rate", "visit_duration", "views_per_visit",
                                    "visitors"],
                        "filters": [["is", "event:page", ["/pricing"]]]})
    assert answer["meta"]["source"] == "raw"
    assert table(answer) == [(4, 0, 60, 2.25, 4)]
    signups = ask(shop, {"metrics": ["visits", "visitors"], "dimensions": ["visit:country"],
                         "filters": [["is", "event:name", ["Signup"]]]})
    assert table(signups) == [("FR", 2, 2)]


def test_collapsed_session_updates_count_once(shop: Client) -> None:
    """Superseded session states (+1 then -1) add nothing to visits, bounces or duration."""
    answer = ask(shop, {"metrics": ["visits", "bounce_rate", "visit_duration", "views_per_visit"],
                        "filters": [["is", "visit:country", ["US"]]]})
    assert table(answer) == [(1, 0, 60, 3.0)]


def test_exit_page_counts_each_visit_under_its_last_page_only(shop: Client) -> None:
    for force_raw in (False, True):  # rollup: visits from it, visitors from raw sessions
        answer = ask(shop, {"metrics": ["visitors", "visits", "pageviews"],
                            "dimensions": ["visit:exit_page"]}, force_raw=force_raw)
        assert answer["meta"]["source"] == ("raw" if force_raw else "rollup")
        assert table(answer) == [("/", 7, 10, 10), ("/pricing", 4, 4, 9)]


def test_entry_page_with_event_metrics_reads_sessions(shop: Client) -> None:
    for force_raw in (False, True):
        answer = ask(shop, {"metrics": ["visitors", "visits", "pageviews"],
                            "dimensions": ["visit:entry_page"]}, force_raw=force_raw)
        assert table(answer) == [("/", 11, 14, 19)]


def test_entry_page_filter_on_event_metrics_selects_sessions_events(shop: Client) -> None:
    """Only events of visits that entered on "/": the 4 anonymous /pricing views drop out."""
    answer = ask(shop, {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"],
                        "filters": [["is", "visit:entry_page", ["/"]]]})
    assert answer["meta"]["source"] == "raw"
    assert table(answer) == [("/", 11, 14), ("/pricing", 4, 4), ("/blog", 1, 1)]


def test_exit_page_filter_with_event_metrics_reads_sessions(shop: Client) -> None:
    answer = ask(shop, {"metrics": ["visitors", "pageviews", "events"],
                        "filters": [["is", "visit:exit_page", ["/pricing"]]]})
    assert table(answer) == [(4, 9, 11)]  # FR 3 x 2 views + US 3; events add 2 Signups


@pytest.mark.parametrize("body", [
    {"metrics": ALL_METRICS},
    {"metrics": ALL_METRICS, "dimensions": ["visit:country"]},
    {"metrics": ALL_METRICS, "dimensions": ["time:day", "visit:source"]},
    {"metrics": ["visitors", "pageviews", "events"], "dimensions": ["event:page"]},
    {"metrics": ["visitors", "events"], "dimensions": ["event:name"],
     "filters": [["is_not", "event:name", ["pageview"]]]},
    {"metrics": ALL_METRICS, "filters": [["is", "visit:device", ["Mobile"]]]},
    {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": ["visit:entry_page"]},
    {"metrics": ALL_METRICS, "dimensions": ["time:hour"]},
    {"metrics": ["visitors", "pageviews"], "dimensions": ["visit:country"],
     "filters": [["not", ["is", "visit:country", ["US"]]]]},
])
def test_rollup_and_raw_agree(shop: Client, body: dict[str, Any]) -> None:
    rollup, raw = ask(shop, body), ask(shop, body, force_raw=True)
    assert (rollup["meta"]["source"], raw["meta"]["source"]) == ("rollup", "raw")
    assert rollup["results"] == raw["results"]
    assert rollup["results"]


def test_rows_below_k_are_suppressed_before_pagination(shop: Client) -> None:
    """k=4: FR (3 visitors) and US (1) never appear, whatever the offset or order.

    (Together they hold 4 visitors, so DE need not be withheld with them; at k=5 it would
    be: total minus DE would isolate 4 visitors. See test_complementary_suppression.)"""
    body = {"metrics": ["pageviews"], "dimensions": ["visit:country"],
            "order_by": [["pageviews", "asc"]], "include": {"total_rows": True}}
    answer = ask(shop, body, k=4)
    assert table(answer) == [("DE", 14)]
    assert answer["meta"] == {"k": 4, "source": "rollup", "total_rows": 1,
                              "privacy": {"mode": "k_anonymous", "k": 4}, "timezone": "UTC"}
    for offset in (0, 1, 2):
        page = ask(shop, {**body, "pagination": {"limit": 1, "offset": offset}}, k=4)
        assert all(row["dimensions"] == ["DE"] for row in page["results"])
    raw = ask(shop, body, k=4, force_raw=True)
    assert table(raw) == [("DE", 14)] and raw["meta"]["total_rows"] == 1


def test_an_aggregate_below_k_is_withheld(shop: Client) -> None:
    """Filters pass the leaf check (DE: 7, / : 11) but their intersection on 2024-03-10 is 4."""
    answer = ask(shop, {"metrics": ["visits"], "date_range": ["2024-03-10", "2024-03-10"],
                        "filters": [["is", "visit:country", ["DE"]]]}, k=4)
    assert table(answer) == [(4,)]
    answer = ask(shop, {"metrics": ["visits"], "date_range": ["2024-03-10", "2024-03-10"]}, k=5)
    assert answer["results"] == []


def test_time_series_buckets_below_k_are_withheld(shop: Client) -> None:
    answer = ask(shop, {"metrics": ["visitors"], "dimensions": ["time:day"]}, k=4)
    assert table(answer) == [("2024-03-09", 10), ("2024-03-10", 4)]
    # 2024-03-10 has 4 < 5, and 2024-03-09 goes with it: the week's total minus the one
    # bucket shown must not isolate fewer than k (complementary suppression)
    assert ask(shop, {"metrics": ["visitors"], "dimensions": ["time:day"]}, k=5)["results"] == []


def test_complementary_suppression(shop: Client) -> None:
    """Countries DE 7, FR 3, US 1 of 11 at k=5: FR and US hold 4 together, so DE is
    withheld too (11 - 7 would be 4); pages / 11, /pricing 4, /blog 1: the withheld
    pages hold 5 together, so "/" stays."""
    countries = ask(shop, {"metrics": ["visitors"], "dimensions": ["visit:country"]}, k=5)
    assert countries["results"] == []
    pages = ask(shop, {"metrics": ["visitors"], "dimensions": ["event:page"]}, k=5)
    assert table(pages) == [("/", 11)]


def test_pagination_and_order_by(shop: Client) -> None:
    body = {"metrics": ["visitors"], "dimensions": ["event:page"],
            "order_by": [["event:page", "asc"]], "include": {"total_rows": True}}
    assert table(ask(shop, body)) == [("/", 11), ("/blog", 1), ("/pricing", 4)]
    page = ask(shop, {**body, "pagination": {"limit": 2, "offset": 1}})
    assert table(page) == [("/blog", 1), ("/pricing", 4)]
    assert page["meta"]["total_rows"] == 3
    assert page["query"]["pagination"] == {"limit": 2, "offset": 1}


def test_date_range_all_starts_at_the_oldest_data(shop: Client) -> None:
    answer = ask(shop, {"metrics": ["visitors"], "date_range": "all"})
    assert answer["query"]["date_range"] == ["2024-03-09T00:00:00+00:00",
                                             "2024-03-10T23:59:59+00:00"]
    assert table(answer) == [(11,)]


def test_an_empty_site_answers_zeros(stats_db: Client) -> None:
    answer = ask(stats_db, {"metrics": ALL_METRICS, "date_range": "all"})
    assert answer["results"] == [{"metrics": [0, 0, 0, 0.0, 0, 0, 0], "dimensions": []}]
    assert ask(stats_db, {"metrics": ["visitors"], "dimensions": ["visit:os"]})["results"] == []


def test_other_sites_data_is_never_counted(shop: Client) -> None:
    other = Traffic()
    other.visit(99, D9, ["/"], country="DE", source="Google")
    other.events = [[("other.example" if c == SITE else c) for c in e] for e in other.events]
    other.sessions = [["other.example", *s[1:]] for s in other.sessions]
    other.write(shop)
    assert table(ask(shop, {"metrics": ["visitors", "visits"]})) == [(11, 14)]


# --- HTTP ---------------------------------------------------------------------------------

KEYS = {"key-shop": SITE, "key-other": "other.example", "key-gone": "gone.example"}


def authorize(token: str, site_id: str) -> bool | None:
    if token not in KEYS:
        return None
    return KEYS[token] == site_id


@pytest.fixture
def http(shop: Client) -> Any:
    app = Flask(__name__)
    app.register_blueprint(stats_blueprint(StatsService(shop, k=5, clock=lambda: NOW),
                                           authorize=authorize))
    return app.test_client()


def post(http: Any, body: Any, bearer: str | None = "key-shop") -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return http.post("/api/v2/query", json=body, headers=headers)


def test_http_query_answers_in_plausible_shape(http: Any) -> None:
    response = post(http, {"site_id": SITE, "metrics": ["visitors", "pageviews"],
                           "date_range": "7d", "dimensions": ["event:page"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["results"] == [{"metrics": [11, 14], "dimensions": ["/"]}]
    assert body["meta"] == {"k": 5, "source": "rollup",
                            "privacy": {"mode": "k_anonymous", "k": 5}, "timezone": "UTC"}
    assert body["query"]["site_id"] == SITE and body["query"]["filters"] == []


@pytest.mark.parametrize(("token", "status"), [
    (None, 401), ("nope", 401), ("key-other", 403),
])
def test_http_rejects_missing_unknown_and_foreign_keys(http: Any, token: str | None,
                                                       status: int) -> None:
    response = post(http, {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d"}, token)
    assert response.status_code == status
    assert set(response.get_json()) == {"error"}


def test_http_malformed_authorization_header_is_401(http: Any) -> None:
    response = http.post("/api/v2/query", json={"site_id": SITE},
                         headers={"Authorization": "Basic a2V5LXNob3A="})
    assert response.status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"site_id": SITE, "metrics": ["visitors", "visitorz"], "date_range": "7d"}, "metrics[1]"),
    ({"site_id": SITE, "metrics": ["visitors"], "date_range": "8d"}, "date_range"),
    ({"site_id": SITE, "metrics": ["visitors"], "date_range": "7d",
      "filters": [["equals", "visit:country", ["DE"]]]}, "filters[0][0]"),
    ({"site_id": SITE, "metrics": ["bounce_rate"], "date_range": "7d",
      "dimensions": ["event:name"]}, "metrics[0]"),
    ({"site_id": SITE, "metrics": ["visitors"]}, "date_range"),
    ({"metrics": ["visitors"], "date_range": "7d"}, "site_id"),
])
def test_http_bad_fields_are_400_naming_the_field(http: Any, body: dict[str, Any],
                                                  field: str) -> None:
    response = post(http, body)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(field)


def test_http_bad_json_is_400(http: Any) -> None:
    response = http.post("/api/v2/query", data=b"{not json",
                         headers={"Authorization": "Bearer key-shop"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "body: not valid JSON"}
    assert post(http, ["a list"]).status_code == 400


def test_http_invalid_regular_expression_is_400_not_503(http: Any) -> None:
    response = post(http, {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d",
                           "filters": [["matches", "event:page", ["(unclosed"]]]})
    assert response.status_code == 400
    assert "is not a valid re2 regular expression" in response.get_json()["error"]
    backreference = post(http, {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d",
                                "filters": [["matches", "event:page", ["(a)\\1"]]]})
    assert backreference.status_code == 400  # re2 has no backreferences: linear time


def test_week_and_month_buckets_and_time_labels(shop: Client) -> None:
    """Weeks start on Monday (2024-03-04) but not before the range; imports are never included."""
    week = ask(shop, {"metrics": ["visitors", "pageviews"], "dimensions": ["time:week"],
                      "date_range": ["2024-03-06", "2024-03-12"],
                      "include": {"time_labels": True, "imports": True}})
    assert week["meta"]["source"] == "rollup"
    assert table(week) == [("2024-03-06", 11, 23)]  # 03-09 and 03-10: one week
    assert week["meta"]["time_labels"] == ["2024-03-06", "2024-03-11"]
    assert week["meta"]["imports_included"] is False
    month = ask(shop, {"metrics": ["visitors"], "dimensions": ["time:month"]}, force_raw=True)
    assert table(month) == [("2024-03-01", 11)]


def test_http_unknown_site_is_400(http: Any) -> None:
    response = post(http, {"site_id": "gone.example", "metrics": ["visitors"],
                           "date_range": "7d"}, "key-gone")
    assert response.status_code == 400
    assert response.get_json() == {"error": "site_id: unknown site"}


def test_http_storage_failure_is_503(shop: Client) -> None:
    class Broken(StatsService):
        def run(self, query: Any, *, force_raw: bool = False,
                caller: Any = None) -> dict[str, Any]:
            raise StorageError("Code: 210. connection refused")

    app = Flask(__name__)
    app.register_blueprint(stats_blueprint(Broken(shop, k=5, clock=lambda: NOW),
                                           authorize=authorize))
    response = post(app.test_client(), {"site_id": SITE, "metrics": ["visitors"],
                                        "date_range": "7d"})
    assert response.status_code == 503
    assert "Traceback" not in response.get_data(as_text=True)


def test_an_hourly_series_over_a_century_is_a_400_not_megabytes(shop: Client) -> None:
    with pytest.raises(BadQuery) as refused:
        ask(shop, {"metrics": ["visitors"], "dimensions": ["time:hour"],
                   "date_range": ["1970-01-01", "2105-12-31"], "include": {"time_labels": True}})
    assert str(refused.value).startswith("dimensions: time:hour covers at most 93 days")
    assert ask(shop, {"metrics": ["visitors"], "dimensions": ["time:hour"]})["results"]
