"""Goals, custom properties, revenue and engagement metrics of the Stats API on real chdb.

The data set is the reference shop traffic (tests/integration/test_stats_api.py) plus, on
2024-03-09: engagement events of visitors 7-10, three Purchase events with props and
revenue, and configured goals. Every expected number below is derived by hand from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from contract.errors import BadQuery
from dashboards.query import parse_query
from tests.integration.test_stats_api import (  # noqa: F401 (fixtures)
    D9,
    SITE,
    TODAY,
    ask,
    shop_traffic,
    stats_client,
    stats_db,
    table,
)

V7, V8, V9, V10 = 1007, 1008, 1009, 1010  # session ids of visitors 7-10 in shop_traffic()
GOAL_COLUMNS = ["site", "display_name", "event_name", "page_path", "currency", "deleted",
                "version"]


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return D9 + dt.timedelta(hours=hour, minutes=minute, seconds=second)


@pytest.fixture
def store(stats_db: Client) -> Client:  # noqa: F811 (the imported fixture)
    """Shop traffic plus engagement, purchases and goals.

    Engagement: "/" v7 scroll 50 / 6 s, v8 30 / 4 s; /pricing v7 80 then 20 (10 s + 5 s),
    v8 60 / 20 s, v9 no depth / 4 s, v10 100 / 12 s.
    Purchases (on /pricing): v9 30.50 USD plan=pro, v10 19.25 USD plan=basic,
    v7 100 EUR plan=pro. Goals: Purchase (USD revenue goal), Subscribe (EUR, no events),
    "Visit /pricing" (pageview goal); Signup is a goal by being a custom event.
    """
    traffic = shop_traffic()
    for session, minute in ((V7, 7), (V8, 8)):
        traffic.engagement(session, at(11, minute, 50), "/",
                           scroll=50 if session == V7 else 30, ms=6000 if session == V7 else 4000)
    traffic.engagement(V7, at(11, 8, 20), "/pricing", scroll=80, ms=10_000)
    traffic.engagement(V7, at(11, 8, 40), "/pricing", scroll=20, ms=5_000)
    traffic.engagement(V8, at(11, 9, 30), "/pricing", scroll=60, ms=20_000)
    traffic.engagement(V9, at(11, 10, 30), "/pricing", ms=4_000)
    traffic.engagement(V10, at(12, 1, 30), "/pricing", scroll=100, ms=12_000)
    traffic.custom(V9, at(11, 10, 10), "Purchase", "/pricing", props={"plan": "pro"},
                   revenue="30.50", currency="USD")
    traffic.custom(V10, at(12, 1, 10), "Purchase", "/pricing", props={"plan": "basic"},
                   revenue="19.25", currency="USD")
    traffic.custom(V7, at(11, 8, 30), "Purchase", "/pricing", props={"plan": "pro"},
                   revenue="100", currency="EUR")
    traffic.write(stats_db)
    stats_db.insert("goals", [
        [SITE, "Purchase", "Purchase", "", "USD", 0, 1],
        [SITE, "Subscribe", "Subscribe", "", "EUR", 0, 1],
        [SITE, "Visit /pricing", "", "/pricing", "", 0, 1],
        [SITE, "Visit /gone", "", "/gone", "", 0, 1],
        [SITE, "Visit /gone", "", "/gone", "", 1, 2],  # deleted: its latest version wins
    ], column_names=GOAL_COLUMNS)
    return stats_db


def usd(value: float, short: str, long: str) -> dict[str, Any]:
    return {"short": short, "long": long, "value": value, "currency": "USD"}


def test_goal_breakdown_with_conversion_rate_and_revenue(store: Client) -> None:
    """Conversions per goal; conversion rate over all 11 visitors; revenue in USD only."""
    answer = ask(store, {"metrics": ["visitors", "events", "conversion_rate", "total_revenue",
                                     "average_revenue"], "dimensions": ["event:goal"]})
    assert answer["meta"]["source"] == "raw"
    assert table(answer) == [
        ("Visit /pricing", 4, 8, 36.4, None, None),  # 8 /pricing views, 4 of them anonymous
        ("Purchase", 3, 3, 27.3, usd(49.75, "$49.8", "$49.75"), usd(24.875, "$24.9", "$24.88")),
        ("Signup", 2, 2, 18.2, None, None),
    ]


def test_goal_filter_answers_one_currency(store: Client) -> None:
    answer = ask(store, {"metrics": ["visitors", "conversion_rate", "total_revenue"],
                         "filters": [["is", "event:goal", ["Purchase"]]]})
    assert table(answer) == [(3, 27.3, usd(49.75, "$49.8", "$49.75"))]
    assert "metric_warnings" not in answer["meta"]


def test_goals_in_several_currencies_answer_null_with_plausibles_warning(store: Client) -> None:
    answer = ask(store, {"metrics": ["total_revenue"],
                         "filters": [["is", "event:goal", ["Purchase", "Subscribe"]]]})
    assert table(answer) == [(None,)]
    assert answer["meta"]["metric_warnings"] == {"total_revenue": {
        "code": "no_single_revenue_currency",
        "warning": "Revenue metrics are null as there are multiple currencies for the "
                   "selected event:goals."}}
    signups = ask(store, {"metrics": ["average_revenue"],
                          "filters": [["is", "event:goal", ["Signup"]]]})
    assert signups["meta"]["metric_warnings"]["average_revenue"]["code"] == \
        "no_revenue_goals_matching"


def test_group_conversion_rate_divides_by_each_group(store: Client) -> None:
    """Purchasers per country over that country's visitors: FR 2 of 3, US 1 of 1."""
    answer = ask(store, {"metrics": ["visitors", "group_conversion_rate", "conversion_rate"],
                         "dimensions": ["visit:country"],
                         "filters": [["is", "event:goal", ["Purchase"]]]})
    assert table(answer) == [("FR", 2, 66.7, 18.2), ("US", 1, 100.0, 9.1)]


def test_pageview_goal_and_goal_contains_filter(store: Client) -> None:
    visits = ask(store, {"metrics": ["visitors", "visits"],
                         "filters": [["contains", "event:goal", ["pricing"]]]})
    assert table(visits) == [(4, 4)]  # the sessions that viewed /pricing


def test_props_breakdown_with_percentage(store: Client) -> None:
    """Events without the prop count under "(none)", as in Plausible."""
    answer = ask(store, {"metrics": ["visitors", "events", "percentage"],
                         "dimensions": ["event:props:plan"]})
    assert table(answer) == [("(none)", 11, 25, 100.0), ("pro", 2, 2, 18.2),
                             ("basic", 1, 1, 9.1)]
    pro = ask(store, {"metrics": ["visitors", "events"],
                      "filters": [["is", "event:props:plan", ["pro"]]]})
    assert table(pro) == [(2, 2)]


def test_props_filter_on_visit_metrics_selects_sessions(store: Client) -> None:
    answer = ask(store, {"metrics": ["visits", "visit_duration"],
                         "filters": [["is", "event:props:plan", ["pro"]]]})
    assert table(answer) == [(2, 60)]  # the FR visits of 7 and 9, 60 s each


def test_scroll_depth_and_time_on_page_per_page(store: Client) -> None:
    """/pricing: max depth per visitor 80, 60, 100 -> 80; 51 s over 4 visits -> 13 s."""
    answer = ask(store, {"metrics": ["visitors", "scroll_depth", "time_on_page"],
                         "dimensions": ["event:page"]})
    assert table(answer) == [("/", 11, 40, 5), ("/pricing", 4, 80, 13), ("/blog", 1, 0, 0)]
    one = ask(store, {"metrics": ["scroll_depth", "time_on_page", "pageviews"],
                      "filters": [["is", "event:page", ["/pricing"]]]})
    assert table(one) == [(80, 13, 8)]


def test_engagement_never_counts_as_visitors_or_events(store: Client) -> None:
    answer = ask(store, {"metrics": ["visitors", "events", "pageviews"]})
    assert table(answer) == [(11, 28, 23)]  # 25 shop events + 3 purchases


def test_k_suppression_hides_small_goals_and_props(store: Client) -> None:
    goals = ask(store, {"metrics": ["visitors", "conversion_rate"],
                        "dimensions": ["event:goal"]}, k=3)
    # the goals under k hold fewer than k visitors together, so the smallest shown one
    # (Purchase, 3) is withheld with them: complementary suppression
    assert table(goals) == [("Visit /pricing", 4, 36.4)]
    goals = ask(store, {"metrics": ["visitors", "conversion_rate"],
                        "dimensions": ["event:goal"]}, k=1)
    assert ("Purchase", 3, 27.3) in table(goals)
    props = ask(store, {"metrics": ["visitors"], "dimensions": ["event:props:plan"]}, k=3)
    assert table(props) == [("(none)", 11)]


@pytest.mark.parametrize(("body", "message"), [
    ({"metrics": ["scroll_depth"]}, "metrics[0]: 'scroll_depth' needs an event:page"),
    ({"metrics": ["time_on_page"], "dimensions": ["visit:country"]},
     "metrics[0]: 'time_on_page' needs an event:page"),
    ({"metrics": ["visitors", "conversion_rate"]}, "metrics[1]: 'conversion_rate' needs an "
                                                   "event:goal"),
    ({"metrics": ["percentage"]}, "metrics[0]: 'percentage' needs at least one dimension"),
    ({"metrics": ["visitors"], "filters": [["is_not", "event:goal", ["Signup"]]]},
     "filters[0][0]: event:goal accepts only the operators is, contains"),
    ({"metrics": ["visitors"], "dimensions": ["event:props:"]}, "dimensions[0]: expected"),
])
def test_requirements_of_the_new_metrics_are_400s(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_query({"site_id": SITE, "date_range": "7d", **body}, today=TODAY)
    assert str(caught.value).startswith(message)
