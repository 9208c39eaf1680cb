"""Property tests of the Stats API's and admin API's input parsers (issue 12): any input
is either parsed or a BadRequest naming the field — never another exception."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.ratelimit import Limit, RateLimiter
from contract.errors import BadRequest
from crumbless.admin import drain_timeout, site_policy
from dashboards.api import MAX_JSON_DEPTH, check_json
from dashboards.query import FIRST_DAY, LAST_DAY, parse_date_range, parse_query

TODAY = dt.date(2026, 11, 30)
iso_like = st.one_of(
    st.dates().map(str),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(first=iso_like, last=iso_like)
def test_any_custom_date_range_resolves_inside_clickhouse_range_or_names_the_field(
        first: str, last: str) -> None:
    try:
        dates = parse_date_range([first, last], today=TODAY)
    except BadRequest as exc:
        assert str(exc).startswith("date_range")
        return
    assert dates.start is not None and dates.start.tzinfo is not None
    assert FIRST_DAY <= dates.start.date() and dates.stop.date() <= LAST_DAY + dt.timedelta(1)


@settings(max_examples=300, deadline=None)
@given(filters=json_values)
def test_any_filters_value_parses_or_names_the_filters_field(filters: Any) -> None:
    body = {"site_id": "example.com", "metrics": ["visitors"], "date_range": "day",
            "filters": filters}
    try:
        parse_query(body, today=TODAY)
    except BadRequest as exc:
        assert str(exc).startswith("filters"), str(exc)


@settings(max_examples=300, deadline=None)
@given(value=json_values, depth=st.integers(0, 200),
       text=st.text(st.characters(), max_size=10))
def test_check_json_rejects_exactly_deep_nesting_and_unencodable_strings(
        value: Any, depth: int, text: str) -> None:
    nested: Any = [value, text]
    for _ in range(depth):
        nested = [nested]
    try:
        check_json({"filters": nested})
    except BadRequest as exc:
        assert str(exc).startswith("filters")
        too_deep = "nested deeper" in str(exc)
        assert too_deep or "surrogate" in str(exc)
        if too_deep:
            assert depth + 2 > MAX_JSON_DEPTH - 3
        return
    text.encode("utf-8")  # it passed, so its strings encode (this would raise otherwise)


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.none(), st.text(max_size=12),
                     st.floats().map(str), st.integers().map(str)))
def test_drain_timeout_is_a_bounded_number_or_names_timeout(raw: str | None) -> None:
    try:
        value = drain_timeout(raw)
    except BadRequest as exc:
        assert str(exc).startswith("timeout:")
        return
    assert 0 <= value <= 600


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["no_consent", "store_truncated_ip", "city_geo",
                                             "domain"]), json_values, max_size=4))
def test_site_policy_keeps_only_well_typed_fields(body: dict[str, Any]) -> None:
    try:
        policy = site_policy(body)
    except BadRequest as exc:
        assert str(exc).split(":")[0] in body
        return
    assert all(isinstance(policy[k], bool) for k in ("store_truncated_ip", "city_geo")
               if k in policy)
    assert policy.get("no_consent", "full") in ("drop", "anonymous", "full")


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(0.1, 1000), burst=st.integers(1, 1000),
       gaps=st.lists(st.floats(0, 2), min_size=1, max_size=300))
def test_a_client_never_gets_more_than_its_burst_plus_the_rate_over_time(
        rate: float, burst: int, gaps: list[float]) -> None:
    limiter = RateLimiter(Limit(rate, burst), max_keys=10)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += limiter.take(b"k", now) == 0.0
    assert allowed <= burst + rate * now + 1e-6
