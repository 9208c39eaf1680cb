"""Attacks on k-anonymity by a determined key holder, on real chdb (issue 11).

The data set: 20 visitors on /common (DE, Google) at 10:xx and 11:xx on 2024-03-09, and
one visitor (FR) at 12:30 who views /secret-plan, fires "Refund" with plan=vip. k = 5.
Each test is an attack from docs/privacy.md; it fails if the attacker learns the rare
visitor's count, or learns whether a guessed value exists.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flask import Flask

from contract.errors import BadQuery
from dashboards.api import stats_blueprint
from dashboards.query import parse_query
from dashboards.stats import Caller, StatsService
from tests.integration.test_stats_api import (  # noqa: F401 (fixtures)
    D9,
    NOW,
    SITE,
    TODAY,
    Traffic,
    stats_client,
    stats_db,
)

K = 5
DAY = ["2024-03-09", "2024-03-09"]


def at(hour: int, minute: int = 0) -> dt.datetime:
    return D9 + dt.timedelta(hours=hour, minutes=minute)


@pytest.fixture
def rare(stats_db: Client) -> Client:  # noqa: F811 (the imported fixture)
    traffic = Traffic()
    for v in range(1, 21):
        traffic.visit(v, at(10 + v % 2, v), ["/common"], country="DE", source="Google")
    session = traffic.visit(99, at(12, 30), ["/secret-plan"], country="FR", source="Direct")
    traffic.custom(session, at(12, 31), "Refund", "/secret-plan", props={"plan": "vip"})
    traffic.write(stats_db)
    return stats_db


def service(client: Client) -> StatsService:
    return StatsService(client, k=K, clock=lambda: NOW)


def ask(svc: StatsService, body: dict[str, Any], caller: str = "attacker") -> dict[str, Any]:
    query = parse_query({"site_id": SITE, "date_range": DAY, "metrics": ["visitors"], **body},
                        today=TODAY, now=NOW)
    return svc.run(query, caller=Caller(caller))


def refusal(svc: StatsService, body: dict[str, Any], caller: str = "attacker") -> str:
    with pytest.raises(BadQuery) as refused:
        ask(svc, body, caller)
    assert refused.value.status == 400
    return str(refused.value)


def visitors(answer: dict[str, Any]) -> list[Any]:
    return [row["metrics"][0] for row in answer["results"]]


def test_the_unfiltered_total_is_answered(rare: Client) -> None:
    assert visitors(ask(service(rare), {})) == [21]


@pytest.mark.parametrize("filters", [
    [["is_not", "event:page", ["/secret-plan"]]],
    [["is", "event:page", ["/common", "/secret-plan"]]],
    [["not", ["is", "event:page", ["/secret-plan"]]]],
    [["is_not", "visit:country", ["FR"]]],
    [["contains_not", "event:page", ["secret"]]],
    [["matches_not", "event:page", ["^/secret"]]],
])
def test_differencing_by_excluding_or_adding_a_rare_value_is_refused(
        rare: Client, filters: list[Any]) -> None:
    """21 - answer(filter) would be the rare page's count: the filter is refused instead."""
    message = refusal(service(rare), {"filters": filters})
    assert "too narrow" in message and "filters[0]" in message
    assert "1 visitor" not in message and "21" not in message and "20" not in message


def test_guessing_a_path_with_contains_gets_the_same_refusal_right_or_wrong(rare: Client) -> None:
    """or(is /common, contains <guess>): a right guess and a wrong one are indistinguishable."""
    svc = service(rare)
    answers = []
    for guess in ("/sec", "/zzz", "/secret-plan", "/secret-planx"):
        answers.append(refusal(svc, {"filters": [["or", [["is", "event:page", ["/common"]],
                                                         ["contains", "event:page", [guess]]]]]})
                       .replace(repr(guess), "GUESS"))
    assert len(set(answers)) == 1, answers
    assert answers[0].startswith("filters[0][1][1][2][0]: GUESS is too narrow")


def test_a_value_matching_nobody_is_refused_like_a_value_matching_one(rare: Client) -> None:
    """Zeros would tell "nobody" from "a few": both get the same refusal."""
    svc = service(rare)
    for dimension, rare_value, absent in (("event:page", "/secret-plan", "/nobody"),
                                          ("visit:country", "FR", "JP")):
        one = refusal(svc, {"filters": [["is", dimension, [rare_value]]]})
        none = refusal(svc, {"filters": [["is", dimension, [absent]]]})
        assert one.replace(repr(rare_value), "V") == none.replace(repr(absent), "V")


@pytest.mark.parametrize("filters", [
    [["has_done", ["is", "event:name", ["Refund"]]]],
    [["has_not_done", ["is", "event:name", ["Refund"]]]],
    [["is", "event:props:plan", ["vip"]]],
    [["is", "event:goal", ["Refund"]]],
    [["contains", "event:page", ["SECRET"], {"case_sensitive": False}]],
    [["and", [["is", "visit:country", ["DE"]],
              ["or", [["is", "event:page", ["/common"]], ["not", ["is", "event:page",
                                                                  ["/secret-plan"]]]]]]]],
])
def test_rare_values_are_refused_inside_any_tree_goal_props_and_behaviour(
        rare: Client, filters: list[Any]) -> None:
    assert "too narrow" in refusal(service(rare), {"filters": filters})


def test_suppressed_rows_is_no_oracle(rare: Client) -> None:
    """A breakdown under a broad pattern that may or may not also match a hidden page answers
    exactly the same either way: no count of withheld rows."""
    svc = service(rare)
    right = ask(svc, {"dimensions": ["event:page"], "include": {"total_rows": True},
                      "filters": [["matches", "event:page", ["^/(common|secret)"]]]})
    wrong = ask(svc, {"dimensions": ["event:page"], "include": {"total_rows": True},
                      "filters": [["matches", "event:page", ["^/(common|zzz)"]]]})
    assert right["meta"] == wrong["meta"]
    assert "suppressed_rows" not in json.dumps(right["meta"])
    # and the pattern matches only values of >= k visitors: /secret-plan is not among them
    assert right["results"] == wrong["results"] == [{"metrics": [20], "dimensions": ["/common"]}]


def test_a_one_minute_range_snaps_to_the_hour_and_is_withheld_under_k(rare: Client) -> None:
    answer = ask(service(rare), {"date_range": ["2024-03-09T12:30:00", "2024-03-09T12:30:59"]})
    assert answer["query"]["date_range"] == ["2024-03-09T12:00:00+00:00",
                                             "2024-03-09T12:59:59+00:00"]
    assert answer["results"] == []  # one visitor in that hour: withheld, not [1]


def test_time_hour_series_withholds_thin_buckets(rare: Client) -> None:
    answer = ask(service(rare), {"dimensions": ["time:hour"]})
    # 12:00 holds the rare visitor alone: withheld, and the 10:00 bucket with it, so the
    # day's total (21) minus the buckets shown (10) isolates 11, not 1
    assert [row["dimensions"][0] for row in answer["results"]] == ["2024-03-09 11:00:00"]
    assert visitors(answer) == [10]


def test_breakdown_rows_under_k_are_withheld_before_pagination(rare: Client) -> None:
    answer = ask(service(rare), {"dimensions": ["visit:country"], "include": {"total_rows": True},
                                 "pagination": {"limit": 1, "offset": 1}})
    # FR (1) is withheld, and DE (20) with it: 21 - 20 would be FR's one visitor
    assert answer["results"] == [] and answer["meta"]["total_rows"] == 0


def test_overlapping_windows_cannot_be_subtracted(rare: Client) -> None:
    """[10:00, 12:00) then [10:00, 13:00): the difference is the rare visitor's hour."""
    svc = service(rare)
    first = ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T11:59:59"]})
    assert visitors(first) == [20]
    message = refusal(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T12:59:59"]})
    assert message.startswith("date_range: differs from a range this caller asked today")
    # the other order too, and with a time series or a filter that passes the leaf check
    svc = service(rare)
    ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T12:59:59"]})
    refusal(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T11:59:59"]})
    refusal(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T11:59:59"],
                  "dimensions": ["time:day"]})


def test_overlapping_windows_of_a_breakdown_withhold_the_rows_that_moved_by_under_k(
        rare: Client) -> None:
    svc = service(rare)
    ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T10:59:59"],
              "dimensions": ["event:page"]})
    # [10, 13) differs by 11:00-13:00: /common gains 10 (kept by the slice check), the
    # rare page is under k; with only these two rows, /common is withheld as its
    # complement (21 - 20 = 1)
    answer = ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T12:59:59"],
                       "dimensions": ["event:page"]})
    assert answer["results"] == []
    # vs [10, 11): /common moved by 10 (kept); the FR row moved by 1 (withheld, as under k)
    answer = ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T13:59:59"],
                       "dimensions": ["visit:country"]})
    assert answer["results"] == []


def test_a_breakdown_row_that_moved_by_under_k_is_withheld_even_when_itself_big(
        stats_db: Client) -> None:  # noqa: F811 (the imported fixture)
    """DE: 6 visitors at 10:xx, 2 more at 12:xx. [10, 11) then [10, 13): DE is 8 (>= k) but
    8 - 6 = 2 would isolate the two late visitors: the row is withheld."""
    traffic = Traffic()
    for v in range(1, 7):
        traffic.visit(v, at(10, v), ["/"], country="DE", source="Google")
    for v in (7, 8):
        traffic.visit(v, at(12, v), ["/"], country="DE", source="Google")
    for v in range(9, 20):
        traffic.visit(v, at(11, v), ["/"], country="FR", source="Google")
    traffic.write(stats_db)
    svc = service(stats_db)
    first = ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T10:59:59"],
                      "dimensions": ["visit:country"]})
    assert first["results"] == [{"metrics": [6], "dimensions": ["DE"]}]
    later = ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T12:59:59"],
                      "dimensions": ["visit:country"]})
    assert later["results"] == [{"metrics": [11], "dimensions": ["FR"]}]
    # a fresh caller sees DE's 8: only the difference is what must not be learned
    fresh = ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T12:59:59"],
                      "dimensions": ["visit:country"]}, caller="fresh")
    assert {"metrics": [8], "dimensions": ["DE"]} in fresh["results"]


def test_a_fresh_caller_is_not_refused_for_another_callers_ranges(rare: Client) -> None:
    svc = service(rare)
    ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T11:59:59"]}, caller="a")
    assert visitors(ask(svc, {"date_range": ["2024-03-09T10:00:00", "2024-03-09T12:59:59"]},
                        caller="b")) == [21]


def test_24h_snaps_to_whole_hours(rare: Client) -> None:
    now = dt.datetime(2024, 3, 10, 9, 17, 42, tzinfo=dt.UTC)
    svc = StatsService(rare, k=K, clock=lambda: now)
    query = parse_query({"site_id": SITE, "date_range": "24h", "metrics": ["visitors"]},
                        today=now.date(), now=now)
    answer = svc.run(query)
    assert answer["query"]["date_range"] == ["2024-03-09T09:00:00+00:00",
                                             "2024-03-10T09:59:59+00:00"]
    assert visitors(answer) == [21]


def test_http_refusal_is_a_400_naming_the_leaf(rare: Client) -> None:
    app = Flask(__name__)
    app.register_blueprint(stats_blueprint(service(rare), authorize=lambda key, site: True))
    response = app.test_client().post(
        "/api/v2/query", headers={"Authorization": "Bearer k1"},
        json={"site_id": SITE, "metrics": ["visitors"], "date_range": DAY,
              "filters": [["is_not", "event:page", ["/secret-plan"]]]})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("filters[0][2][0]: '/secret-plan' is too "
                                                   "narrow")


@pytest.mark.parametrize(("right", "wrong"), [
    (["matches", "event:page", ["^/(common|secret)"]],
     ["matches", "event:page", ["^/(common|zzz)"]]),
    (["contains", "event:page", ["/common", "secret"]],
     ["contains", "event:page", ["/common", "zzz"]]),
    (["matches", "visit:country", ["^(DE|F)"]], ["matches", "visit:country", ["^(DE|X)"]]),
    (["matches", "event:props:plan", ["^(v|zzz)"]], ["matches", "event:props:plan", ["^(q|zzz)"]]),
])
def test_a_broad_pattern_cannot_carry_a_guess_at_a_rare_value(
        rare: Client, right: list[Any], wrong: list[Any]) -> None:
    """A pattern matches only values that each cover >= k visitors, so tucking a guess at a
    rare value inside a common alternative answers exactly like a wrong guess."""
    svc = service(rare)
    answers = []
    for leaf in (right, wrong):
        try:
            answers.append(ask(svc, {"filters": [leaf]}, caller=str(leaf))["results"])
        except BadQuery as refused:  # the pattern alone may be too narrow: same for both
            answers.append(str(refused).split(":", 1)[0])
    assert answers[0] == answers[1]


def test_a_pattern_still_selects_the_common_values_it_matches(rare: Client) -> None:
    answer = ask(service(rare), {"filters": [["matches", "event:page", ["^/(common|secret)"]]],
                                 "dimensions": ["event:page"]})
    assert answer["results"] == [{"metrics": [20], "dimensions": ["/common"]}]
    assert answer["query"]["filters"] == [["matches", "event:page", ["^/(common|secret)"]]]
