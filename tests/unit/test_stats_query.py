"""The Stats API's pure core: parsing and validation, date ranges, filter trees, the
rollup-vs-raw planner, SQL parameter binding, and k-anonymity suppression."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from contract.errors import BadQuery
from dashboards.goals import Goal, GoalSet, page_regex
from dashboards.plan import needed_measures, plan_query, reads_daily_visitors, rollup_target
from dashboards.query import Combine, Condition, DateRange, Negate, StatsQuery, parse_query
from dashboards.results import (
    Context,
    Row,
    build_answer,
    merge_rows,
    metric_value,
    order_rows,
    revenue_object,
    suppress,
    time_labels,
)

TODAY = dt.date(2024, 3, 10)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def parse(**fields: Any) -> StatsQuery:
    body = {"site_id": "shop.example", "metrics": ["visitors"], "date_range": "7d", **fields}
    return parse_query(body, today=TODAY)


def error_of(**fields: Any) -> str:
    with pytest.raises(BadQuery) as caught:
        parse(**fields)
    return str(caught.value)


# --- validation ---------------------------------------------------------------------------

def test_unknown_metric_names_its_position_and_the_accepted_list() -> None:
    assert error_of(metrics=["visitors", "visitorz"]) == (
        "metrics[1]: unknown metric 'visitorz'; accepted: visitors, visits, pageviews, "
        "views_per_visit, bounce_rate, visit_duration, events, scroll_depth, time_on_page, "
        "percentage, conversion_rate, group_conversion_rate, total_revenue, average_revenue")


@pytest.mark.parametrize(("fields", "prefix"), [
    ({"metrics": []}, "metrics:"),
    ({"metrics": "visitors"}, "metrics:"),
    ({"metrics": ["visitors", "visitors"]}, "metrics[1]:"),
    ({"metrics": [1]}, "metrics[0]: unknown metric int value"),
    ({"dimensions": ["visit:countri"]}, "dimensions[0]: unknown dimension 'visit:countri'"),
    ({"dimensions": ["time:day", "time:hour"]}, "dimensions[1]: only one time dimension"),
    ({"dimensions": ["event:page", "event:page"]}, "dimensions[1]:"),
    ({"metrics": ["visitors", "bounce_rate"], "dimensions": ["event:goal"]},
     "metrics[1]: 'bounce_rate' is a visit metric"),
    ({"date_range": "8d"}, "date_range: unknown range '8d'"),
    ({"date_range": ["2024-01-01"]}, "date_range: expected"),
    ({"date_range": ["2024-01-01", "2024-13-01"]}, "date_range[1]:"),
    ({"date_range": ["2024-02-01", "2024-01-01"]}, "date_range: the start is after the end"),
    ({"date_range": ["2024-01-01", "2024-01-02T00:00:00Z"]}, "date_range: both ends"),
    ({"filters": {"is": 1}}, "filters: expected a list"),
    ({"filters": [["is", "visit:country", "DE"]]}, "filters[0][2]: expected a non-empty list"),
    ({"filters": [["is", "visit:country", []]]}, "filters[0][2]:"),
    ({"filters": [["is", "visit:country", [1]]]}, "filters[0][2]:"),
    ({"filters": [["equals", "visit:country", ["D"]]]}, "filters[0][0]: unknown operator"),
    ({"filters": [["does_not_contain", "event:page", ["x"]]]},
     "filters[0][0]: 'does_not_contain' is not a Stats API v2 operator; use 'contains_not'"),
    ({"filters": [["matches", "event:page", ["a" * 257]]]}, "filters[0][2][0]: a regular"),
    ({"filters": [["is", "event:page", ["/"], {"case_sensitive": "no"}]]},
     "filters[0][3].case_sensitive:"),
    ({"filters": [["is", "event:page", ["/"], {"fuzzy": True}]]}, "filters[0][3]: expected"),
    ({"filters": [["has_done", ["is", "visit:country", ["DE"]]]]},
     "filters[0][1]: has_done takes filters on event dimensions only"),
    ({"filters": [["is", "visit:planet", ["Mars"]]]}, "filters[0][1]: unknown dimension"),
    ({"filters": [["is", "time:day", ["2024-01-01"]]]}, "filters[0][1]: time dimensions"),
    ({"filters": [["and", [["is", "visit:country", ["DE"]], ["is", "event:page"]]]]},
     "filters[0][1][1]: expected"),
    ({"filters": [["not", ["or", [["is", "visit:os", ["Mac"]], ["bogus"]]]]]},
     "filters[0][1][1][1][0]: unknown operator 'bogus'"),
    ({"filters": [["and", []]]}, "filters[0]: expected [\"and\""),
    ({"filters": [[]]}, "filters[0]: expected"),
    ({"order_by": [["pageviews", "desc"]]}, "order_by[0]: 'pageviews' is not among"),
    ({"order_by": [["visitors", "down"]]}, "order_by[0][1]:"),
    ({"order_by": ["visitors"]}, "order_by[0]: expected"),
    ({"pagination": {"limit": 0}}, "pagination.limit:"),
    ({"pagination": {"limit": 10_001}}, "pagination.limit:"),
    ({"pagination": {"limit": True}}, "pagination.limit:"),
    ({"pagination": {"offset": -1}}, "pagination.offset:"),
    ({"pagination": {"page": 2}}, "pagination.page: unknown field"),
    ({"include": {"time_labels": True}}, "include.time_labels: needs a time dimension"),
    ({"include": {"comparisons": {}}}, "include.comparisons.mode: expected one of"),
    ({"include": {"total_rows": "yes"}}, "include.total_rows:"),
    ({"site_id": 42}, "site_id:"),
    ({"period": "7d"}, "period: unknown field"),
])
def test_errors_name_the_field(fields: dict[str, Any], prefix: str) -> None:
    assert error_of(**fields).startswith(prefix)


def test_missing_required_fields_and_non_object_bodies() -> None:
    for missing in ("site_id", "metrics", "date_range"):
        body = {"site_id": "a.example", "metrics": ["visitors"], "date_range": "day"}
        del body[missing]
        with pytest.raises(BadQuery, match=rf"^{missing}: required"):
            parse_query(body, today=TODAY)
    with pytest.raises(BadQuery, match=r"^body:"):
        parse_query(["visitors"], today=TODAY)


def test_defaults_aliases_and_echo() -> None:
    query = parse(metrics=["pageviews", "visitors"], dimensions=["time", "visit:source"])
    assert query.dimensions == ("time:day", "visit:source")
    assert query.order_by == (("time:day", "asc"), ("pageviews", "desc"))
    assert (query.limit, query.offset, query.include_total_rows) == (10_000, 0, False)
    echo = query.echo()
    assert echo["date_range"] == ["2024-03-04T00:00:00+00:00", "2024-03-10T23:59:59+00:00"]
    assert echo["pagination"] == {"limit": 10_000, "offset": 0}
    assert echo["order_by"] == [["time:day", "asc"], ["pageviews", "desc"]]
    custom = parse(order_by=[["time", "desc"]], dimensions=["time"],
                   pagination={"limit": 5, "offset": 10}, include={"total_rows": True})
    assert custom.order_by == (("time:day", "desc"),)
    assert (custom.limit, custom.offset, custom.include_total_rows) == (5, 10, True)


# --- date ranges --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "first", "last"), [
    ("day", dt.date(2024, 3, 10), dt.date(2024, 3, 10)),
    ("7d", dt.date(2024, 3, 4), dt.date(2024, 3, 10)),
    ("30d", dt.date(2024, 2, 10), dt.date(2024, 3, 10)),  # 2024 is a leap year
    ("month", dt.date(2024, 3, 1), dt.date(2024, 3, 10)),
    ("6mo", dt.date(2023, 10, 1), dt.date(2024, 3, 10)),
    ("12mo", dt.date(2023, 4, 1), dt.date(2024, 3, 10)),
    ("year", dt.date(2024, 1, 1), dt.date(2024, 3, 10)),
    (["2024-01-01", "2024-01-31"], dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
])
def test_date_ranges_resolve_to_whole_utc_days_ending_inclusive(
        value: Any, first: dt.date, last: dt.date) -> None:
    date_range = parse(date_range=value).date_range
    assert date_range.start == utc(first.year, first.month, first.day)
    assert date_range.stop == utc(last.year, last.month, last.day) + dt.timedelta(days=1)
    assert date_range.whole_days()


def test_all_leaves_the_start_to_the_oldest_data() -> None:
    date_range = parse(date_range="all").date_range
    assert date_range == DateRange(None, utc(2024, 3, 11))
    with pytest.raises(ValueError, match="resolve"):
        plan_query(parse(date_range="all"))


def test_custom_datetimes_are_utc_with_an_inclusive_last_second() -> None:
    date_range = parse(date_range=["2024-01-01T12:00:00+02:00", "2024-01-01T15:59:59+02:00"]
                       ).date_range
    assert date_range == DateRange(utc(2024, 1, 1, 10), utc(2024, 1, 1, 14))
    assert date_range.whole_hours() and not date_range.whole_days()
    assert date_range.echo() == ["2024-01-01T10:00:00+00:00", "2024-01-01T13:59:59+00:00"]
    naive = parse(date_range=["2024-01-01T10:30:00", "2024-01-01T10:44:59"]).date_range
    assert naive.start == utc(2024, 1, 1, 10, 30) and not naive.whole_hours()


# --- filter trees -------------------------------------------------------------------------

def test_filter_trees_parse_into_nodes_and_echo_back() -> None:
    raw = [["is", "visit:country", ["DE", "AT"]],
           ["or", [["contains", "event:page", ["/blog"]],
                   ["not", ["is_not", "visit:source", ["Google"]]]]]]
    query = parse(filters=raw)
    assert query.filters == (
        Condition("is", "visit:country", ("DE", "AT")),
        Combine("or", (Condition("contains", "event:page", ("/blog",)),
                       Negate(Condition("is_not", "visit:source", ("Google",))))),
    )
    assert query.echo()["filters"] == raw


# --- planning -----------------------------------------------------------------------------

COUNTRY_DE = ["is", "visit:country", ["DE"]]


@pytest.mark.parametrize(("fields", "target"), [
    ({}, ("rollup_daily", "")),
    ({"dimensions": ["time:day"]}, ("rollup_daily", "")),
    ({"dimensions": ["time:hour"]}, ("rollup_hourly", "")),
    ({"date_range": ["2024-01-01T10:00:00Z", "2024-01-01T12:59:59Z"]}, ("rollup_hourly", "")),
    ({"dimensions": ["visit:country"]}, ("rollup_daily", "visit:country")),
    ({"dimensions": ["visit:country", "time:day"], "filters": [COUNTRY_DE]},
     ("rollup_daily", "visit:country")),
    ({"filters": [COUNTRY_DE]}, ("rollup_daily", "visit:country")),
    ({"filters": [["not", ["or", [COUNTRY_DE, ["is_not", "visit:country", ["AT"]]]]]]},
     ("rollup_daily", "visit:country")),
    ({"dimensions": ["event:page"], "metrics": ["visitors", "pageviews", "events"]},
     ("rollup_daily", "event:page")),
    ({"dimensions": ["visit:entry_page"], "metrics": ["visits", "pageviews"]},
     ("rollup_daily", "visit:entry_page")),
    # exit-page visitors: counted days' numbers, else raw sessions (never the states)
    ({"dimensions": ["visit:exit_page"]}, ("rollup_daily", "visit:exit_page")),
    # raw:
    ({"dimensions": ["visit:entry_page"], "metrics": ["events"]}, None),  # not in that rollup
    ({"filters": [["is", "event:page", ["/"]]], "metrics": ["visits"]}, None),
    ({"dimensions": ["visit:country", "visit:os"]}, None),
    ({"dimensions": ["visit:country"], "filters": [["is", "visit:os", ["Mac"]]]}, None),
    ({"filters": [COUNTRY_DE, ["is", "visit:os", ["Mac"]]]}, None),
    ({"filters": [["contains", "visit:country", ["D"]]]}, None),
    ({"dimensions": ["time:hour"], "filters": [COUNTRY_DE]}, None),
    ({"dimensions": ["time:hour", "visit:country"]}, None),
    ({"date_range": ["2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z"],
      "dimensions": ["visit:country"]}, None),
    ({"date_range": ["2024-01-01T10:30:00Z", "2024-01-01T10:44:59Z"]}, None),
])
def test_rollup_or_raw(fields: dict[str, Any], target: tuple[str, str] | None) -> None:
    query = parse(**fields)
    assert rollup_target(query) == target
    plan = plan_query(query)
    assert plan.source == ("raw" if target is None else "rollup")
    assert plan_query(query, force_raw=True).source == "raw"


def test_raw_plans_pick_the_tables_that_hold_the_measures() -> None:
    both = plan_query(parse(metrics=["pageviews", "bounce_rate"], dimensions=["visit:os"]),
                      force_raw=True)
    assert [s.measures for s in both.statements] == [("visitors", "pageviews"),
                                                     ("visits", "bounces")]
    visits_only = plan_query(parse(metrics=["visit_duration"], dimensions=["visit:os"]),
                             force_raw=True)
    assert visits_only.table == "sessions"
    assert [s.measures for s in visits_only.statements] == [("visitors", "visits", "duration")]
    exit_pages = plan_query(parse(metrics=["pageviews"], filters=[
        ["is", "visit:exit_page", ["/thanks"]]]))
    assert exit_pages.table == "rollup_daily" and len(exit_pages.statements) == 1
    sql = exit_pages.statements[0].sql  # the states of exit pages are never merged
    assert "FROM sessions" in sql and "uniqMerge" not in sql
    pages = plan_query(parse(metrics=["pageviews"], dimensions=["event:page"], filters=[
        ["is", "visit:entry_page", ["/"]]]))
    assert pages.table == "events"
    assert "session_id IN (SELECT session_id FROM sessions" in pages.statements[0].sql


def test_visitors_are_always_measured_for_k_anonymity() -> None:
    assert "visitors" in needed_measures(parse(metrics=["bounce_rate"]))


@pytest.mark.parametrize("force_raw", [False, True])
def test_client_values_only_travel_as_bound_parameters(force_raw: bool) -> None:
    evil = "x') OR 1=1 --{site:String}"
    query = parse(site_id="Shop.Example", metrics=["visitors", "visits"],
                  dimensions=["visit:country"],
                  filters=[["is", "visit:country", [evil]],
                           ["or", [["contains", "event:page", [evil]],
                                   ["is", "visit:exit_page", [evil]]]]])
    for statement in plan_query(query, force_raw=force_raw).statements:
        assert evil not in statement.sql and "shop.example" not in statement.sql
        assert statement.parameters["site"] == "shop.example"
        assert [evil] in statement.parameters.values()


@pytest.mark.parametrize(("name", "first", "last"), [
    ("28d", utc(2024, 2, 12), utc(2024, 3, 11)),
    ("91d", utc(2023, 12, 11), utc(2024, 3, 11)),
])
def test_28d_and_91d_end_today(name: str, first: dt.datetime, last: dt.datetime) -> None:
    assert parse(date_range=name).date_range == DateRange(first, last)


def test_24h_is_the_last_24_hours_to_the_second() -> None:
    query = parse_query({"site_id": "s", "metrics": ["visitors"], "date_range": "24h"},
                        today=TODAY, now=utc(2024, 3, 10, 12, 30) + dt.timedelta(seconds=5.5))
    stop = utc(2024, 3, 10, 12, 30) + dt.timedelta(seconds=6)
    assert query.date_range == DateRange(stop - dt.timedelta(days=1), stop)
    assert rollup_target(query) is None  # not whole hours: raw


def test_case_insensitive_and_regex_filters_render_bounded_sql() -> None:
    query = parse(filters=[["contains", "event:page", ["Blog"], {"case_sensitive": False}],
                           ["matches_not", "event:page", ["^/user/\\d+$"]],
                           ["is", "visit:country", ["de"], {"case_sensitive": False}]])
    assert query.filters[0].echo() == ["contains", "event:page", ["Blog"],
                                       {"case_sensitive": False}]
    assert rollup_target(query) is None
    sql = plan_query(query).statements[0].sql
    assert "positionCaseInsensitiveUTF8(pathname, v)" in sql
    assert "NOT (arrayExists(v -> match(pathname, v)" in sql
    assert "lowerUTF8(country)" in sql


def test_behavioural_filters_select_visits_by_their_events() -> None:
    query = parse(filters=[["has_not_done", ["is", "event:goal", ["Signup"]]]])
    assert query.filters[0].echo() == ["has_not_done", ["is", "event:goal", ["Signup"]]]
    assert rollup_target(query) is None
    sql = plan_query(query).statements[0].sql
    assert "NOT (session_id IN (SELECT session_id FROM events" in sql


def test_time_labels_cover_the_range_in_the_dimensions_format() -> None:
    week = parse(dimensions=["time:week"], date_range=["2024-03-06", "2024-03-19"],
                 include={"time_labels": True})
    assert time_labels(week) == ["2024-03-06", "2024-03-11", "2024-03-18"]
    month = parse(dimensions=["time:month"], date_range=["2024-01-15", "2024-03-01"])
    assert time_labels(month) == ["2024-01-01", "2024-02-01", "2024-03-01"]
    hours = parse(dimensions=["time:hour"], date_range="day")
    assert len(time_labels(hours)) == 24 and time_labels(hours)[0] == "2024-03-10 00:00:00"


def test_props_keys_goal_names_and_page_goals_are_bound_parameters() -> None:
    evil = "k') OR 1=1 --"
    goals = GoalSet((Goal("Visit /x'", page_path="/x'/*"), Goal("Buy", "buy'", currency="EUR")))
    query = parse(metrics=["visitors", "total_revenue"],
                  dimensions=["event:goal", f"event:props:{evil}"],
                  filters=[["contains", "event:goal", [evil]]])
    plan = plan_query(query, goals=goals)
    (statement,) = plan.statements
    assert evil not in statement.sql and "Visit /x'" not in statement.sql
    assert statement.parameters["page_goal_patterns"] == ["^/x'/[^/]*$"]
    assert statement.parameters["revenue_goal_currencies"] == ["EUR"]
    assert plan.revenue is not None and plan.revenue.by_goal and plan.source == "raw"


def test_page_goal_wildcards_become_anchored_re2_patterns() -> None:
    assert page_regex("/blog/*") == "^/blog/[^/]*$"
    assert page_regex("/docs/**") == "^/docs/.*$"
    assert page_regex("/a.b") == r"^/a\.b$"


def test_ratio_metrics_plan_their_divisors() -> None:
    """percentage: same filters, no dimensions; conversion rates drop top-level goal/props."""
    query = parse(metrics=["visitors", "percentage", "conversion_rate", "group_conversion_rate"],
                  dimensions=["visit:country", "event:goal"],
                  filters=[["is", "event:goal", ["Signup"]], ["is", "visit:device", ["Mobile"]]])
    plan = plan_query(query)
    by_metric = {d.metric: d for d in plan.denominators}
    assert by_metric["percentage"].dimensions == ()
    assert "goal" in by_metric["percentage"].statement.sql
    assert by_metric["conversion_rate"].dimensions == ()
    assert by_metric["conversion_rate"].source == "rollup"  # only the device filter is left
    assert by_metric["group_conversion_rate"].dimensions == (0,)
    assert plan.source == "raw"


def test_engagement_metrics_read_engagement_events_only() -> None:
    plan = plan_query(parse(metrics=["scroll_depth", "time_on_page"],
                            dimensions=["event:page"]))
    sqls = [s.sql for s in plan.statements]
    assert sum("name = 'engagement'" in sql for sql in sqls) == 2
    assert "name != 'engagement'" in sqls[0]  # visitors, for k-anonymity


def test_new_metric_values() -> None:
    row = Row(("/",), {"visitors": 3, "scroll_total": 245, "scroll_visitors": 3,
                       "engaged_ms": 10_500, "engaged_visits": 2})
    assert metric_value("scroll_depth", row) == 82  # 81.67
    assert metric_value("time_on_page", row) == 5  # 5.25 s
    context = Context(totals={"percentage": ((), {(): 7})})
    assert metric_value("percentage", row, context) == 42.9
    assert revenue_object(96_336_315_000, "USD") == {
        "short": "$96.3M", "long": "$96,336,315.00", "value": 96336315, "currency": "USD"}


# --- results and k-anonymity --------------------------------------------------------------

def rows(*pairs: tuple[str, int]) -> list[Row]:
    return [Row((value,), {"visitors": visitors, "pageviews": 10 * visitors})
            for value, visitors in pairs]


def test_suppress_drops_rows_below_k_zero_included_and_counts_them() -> None:
    kept, dropped = suppress(rows(("DE", 5), ("FR", 4), ("US", 0)), k=5)
    assert [r.dimensions for r in kept] == [("DE",)] and dropped == 2
    assert suppress([Row((), {})], k=5) == ([], 1)  # an aggregate of nobody: withheld too
    assert suppress([Row((), {})], k=1) == ([Row((), {})], 0)  # k = 1: zeros, as Plausible


def test_suppression_happens_before_ordering_total_rows_and_pagination() -> None:
    """Ascending by visitors with an offset would reveal small rows if suppressed later."""
    query = parse(metrics=["pageviews"], dimensions=["visit:country"],
                  order_by=[["pageviews", "asc"]], include={"total_rows": True},
                  pagination={"limit": 2, "offset": 0})
    data = rows(("DE", 9), ("FR", 1), ("US", 2), ("PL", 6), ("IT", 5))
    results, meta = build_answer(query, data, k=5)
    # FR and US (3 visitors together) are withheld, and IT with them (complementary
    # suppression: the total minus the rows shown must not isolate fewer than k)
    assert results == [{"metrics": [60], "dimensions": ["PL"]},
                       {"metrics": [90], "dimensions": ["DE"]}]
    assert meta == {"k": 5, "total_rows": 2}  # no count of withheld rows: docs/privacy.md
    later = parse(metrics=["pageviews"], dimensions=["visit:country"],
                  order_by=[["pageviews", "asc"]], pagination={"limit": 10, "offset": 1})
    assert build_answer(later, data, k=5)[0] == [{"metrics": [90], "dimensions": ["DE"]}]


def test_time_series_and_totals_withhold_small_buckets_too() -> None:
    query = parse(dimensions=["time:day"])
    data = [Row(("2024-03-09",), {"visitors": 1}), Row(("2024-03-10",), {"visitors": 5}),
            Row(("2024-03-11",), {"visitors": 6}), Row(("2024-03-12",), {"visitors": 4})]
    results, _ = build_answer(query, data, k=5)
    assert results == [{"metrics": [5], "dimensions": ["2024-03-10"]},
                       {"metrics": [6], "dimensions": ["2024-03-11"]}]
    assert build_answer(parse(), [Row((), {"visitors": 4})], k=5)[0] == []


def test_merge_rows_joins_statements_on_the_dimension_tuple() -> None:
    merged = merge_rows([(("visitors", "pageviews"), [("DE", 3, 7), ("FR", 1, 1)]),
                         (("visits",), [("DE", 4), ("AT", 2)])], 1)
    assert {r.dimensions: dict(r.measures) for r in merged} == {
        ("DE",): {"visitors": 3, "pageviews": 7, "visits": 4},
        ("FR",): {"visitors": 1, "pageviews": 1},
        ("AT",): {"visits": 2},
    }
    assert merge_rows([(("visitors",), [])], 0) == [Row((), {})]


def test_metric_arithmetic_rounds_half_up_and_guards_zero_visits() -> None:
    row = Row((), {"visits": 200, "bounces": 101, "duration": 2999, "visit_pageviews": 333})
    assert metric_value("bounce_rate", row) == 51  # 50.5 %
    assert metric_value("visit_duration", row) == 15  # 14.995 s
    assert metric_value("views_per_visit", row) == 1.67  # 1.665
    empty = Row((), {})
    assert [metric_value(m, empty) for m in ("bounce_rate", "visit_duration",
                                             "views_per_visit", "visitors")] == [0, 0, 0.0, 0]


def test_ties_are_broken_by_dimension_values() -> None:
    query = parse(dimensions=["event:page"])
    ordered = order_rows([(("/b",), [3]), (("/a",), [3]), (("/c",), [9])], query)
    assert [dims for dims, _ in ordered] == [("/c",), ("/a",), ("/b",)]


def test_ranges_snap_to_whole_hours_of_the_sites_zone() -> None:
    """A local-day range in a zone 5:30 off UTC stays as it is; a thin slice widens."""
    import datetime as dt

    from dashboards.guard import snap_to_hours
    from dashboards.query import DateRange

    utc = dt.UTC
    day = DateRange(dt.datetime(2024, 3, 9, 18, 30, tzinfo=utc),
                    dt.datetime(2024, 3, 10, 18, 30, tzinfo=utc), "Asia/Kolkata")
    assert snap_to_hours(day) == day
    minute = DateRange(dt.datetime(2024, 3, 10, 9, 40, tzinfo=utc),
                       dt.datetime(2024, 3, 10, 9, 41, tzinfo=utc), "Asia/Kolkata")
    assert snap_to_hours(minute) == DateRange(dt.datetime(2024, 3, 10, 9, 30, tzinfo=utc),
                                              dt.datetime(2024, 3, 10, 10, 30, tzinfo=utc),
                                              "Asia/Kolkata")
    berlin = DateRange(dt.datetime(2024, 3, 10, 9, 40, tzinfo=utc),
                       dt.datetime(2024, 3, 10, 9, 41, tzinfo=utc), "Europe/Berlin")
    assert snap_to_hours(berlin).timezone == "Europe/Berlin"
    assert snap_to_hours(berlin).start == dt.datetime(2024, 3, 10, 9, 0, tzinfo=utc)


def test_total_minus_the_rows_shown_never_isolates_fewer_than_k() -> None:
    """Browsers 6 + 5 shown of 15 with a 4-visitor row withheld: the 5-visitor row goes too,
    so the difference covers 9 visitors, not 4 (complementary suppression)."""
    from dashboards.results import Row, complement, suppress

    rows = [Row(("Chrome",), {"visitors": 6}), Row(("Safari",), {"visitors": 5}),
            Row(("Firefox",), {"visitors": 4})]
    kept, _ = suppress(rows, k=5)
    assert [r.dimensions for r in complement(rows, kept, k=5)] == [("Chrome",)]
    enough = [*rows[:2], Row(("Firefox",), {"visitors": 4}), Row(("Edge",), {"visitors": 3})]
    kept, _ = suppress(enough, k=5)  # 7 withheld already: nothing more to hide
    assert [r.dimensions for r in complement(enough, kept, k=5)] == [("Chrome",), ("Safari",)]
    assert complement(rows, rows, k=1) == rows


def test_counted_days_looked_up_once_become_constants() -> None:
    """Given the counted days (with their counts' versions), a rollup_daily statement reads
    them as constant sets: counted days and versions, the rest of the range; none known:
    every day from the states, and the counts are not read at all."""
    query = parse(dimensions=["visit:country"], date_range=["2024-01-01", "2024-01-05"])
    unknown = plan_query(query)
    assert reads_daily_visitors(unknown)
    assert "rollup_daily_visitors" not in unknown.statements[0].sql
    day = dt.date
    given = plan_query(query, counted={day(2024, 1, 2): 7, day(2024, 1, 4): 9,
                                       day(2023, 12, 1): 3})  # outside the range: ignored
    assert "rollup_daily_visitors FINAL" in given.statements[0].sql
    lists = [v for v in given.statements[0].parameters.values() if isinstance(v, list)]
    assert [day(2024, 1, 2), day(2024, 1, 4)] in lists and [7, 9] in lists
    assert [day(2024, 1, 1), day(2024, 1, 3), day(2024, 1, 5)] in lists
    assert not reads_daily_visitors(plan_query(query, force_raw=True))
