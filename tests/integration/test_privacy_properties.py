"""Property-based checks of k-anonymity on real chdb: random filter trees and hour ranges over
a seeded data set with rare values (hypothesis, a bounded number of examples).

The ground truth is computed here in Python from the same events: a visitor matches a tree
when one of its events in the range does (the Stats API's event-level filter semantics).
Checked, for every generated query, against docs/privacy.md:
- a tree holding a value that covers fewer than k visitors in the range (zero included)
  is refused; otherwise the answer is the true count if it is at least k, else withheld;
- no released number is under k;
- two ranges asked in turn by one caller never both answer when one holds the other and
  their difference is 1..k-1 visitors.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from contract.errors import BadQuery
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
PAGES = ["/", "/pricing", "/blog", "/rare-a", "/rare-b", "/absent"]
COUNTRIES = ["DE", "FR", "IS", "JP"]  # IS is rare, JP absent
Event = tuple[int, int, str, str]  # visitor, hour, page, country


def seeded_events() -> list[Event]:
    """60 visitors over 08:00-16:00 on 2024-03-09; /rare-a and /rare-b and IS are rare."""
    rng = random.Random(11)
    events: list[Event] = []
    for visitor in range(1, 61):
        country = "IS" if visitor in (7, 41) else rng.choice(["DE", "DE", "FR"])
        hour = rng.randrange(8, 16)
        pages = rng.sample(["/", "/pricing", "/blog"], rng.randint(1, 2))
        if visitor in (3, 33):
            pages.append("/rare-a")
        if visitor == 50:
            pages.append("/rare-b")
        events += [(visitor, hour, page, country) for page in pages]
    return events


EVENTS = seeded_events()
CALLERS = itertools.count()  # a fresh caller (ledger) per example


@pytest.fixture
def seeded(stats_db: Client) -> Client:  # noqa: F811 (the imported fixture)
    traffic = Traffic()
    by_visitor: dict[int, list[Event]] = {}
    for row in EVENTS:
        by_visitor.setdefault(row[0], []).append(row)
    for visitor, evs in by_visitor.items():
        traffic.visit(visitor, D9 + dt.timedelta(hours=evs[0][1], minutes=visitor % 50),
                      [e[2] for e in evs], country=evs[0][3], source="Google", step=20)
    traffic.write(stats_db)
    return stats_db


def leaf_strategy() -> st.SearchStrategy[list[Any]]:
    # common values drawn more often than rare ones, so most trees get past the leaf check
    pages = st.lists(st.sampled_from(PAGES[:3] * 4 + PAGES[3:]), min_size=1, max_size=2,
                     unique=True)
    countries = st.lists(st.sampled_from(COUNTRIES[:2] * 4 + COUNTRIES[2:]), min_size=1,
                         max_size=2, unique=True)
    return st.one_of(
        st.tuples(st.sampled_from(["is", "is_not"]), st.just("event:page"), pages),
        st.tuples(st.sampled_from(["is", "is_not"]), st.just("visit:country"), countries),
        st.tuples(st.sampled_from(["contains", "contains_not"]), st.just("event:page"),
                  st.lists(st.sampled_from(["pric", "/b", "/", "rare", "zz"]), min_size=1,
                           max_size=2, unique=True)),
    ).map(lambda t: [t[0], t[1], list(t[2])])


trees = st.recursive(
    leaf_strategy(),
    lambda children: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=2))
        .map(lambda t: [t[0], t[1]]),
        children.map(lambda c: ["not", c])),
    max_leaves=3)
hours = st.tuples(st.integers(8, 13), st.integers(1, 8)).map(
    lambda t: (t[0], min(16, t[0] + t[1])))


def matches(tree: list[Any], event: Event, common: set[str] | None = None) -> bool:
    """The tree on one event (event:page from the event, visit:country from its visit).

    With `common` (the pages of at least K visitors in the range), a `contains` pattern
    matches only those pages, as the service resolves patterns; None: raw semantics (the
    leaf check's view of a pattern alone)."""
    op = tree[0]
    if op in ("and", "or"):
        found = [matches(child, event, common) for child in tree[1]]
        return all(found) if op == "and" else any(found)
    if op == "not":
        return not matches(tree[1], event, common)
    value = event[2] if tree[1] == "event:page" else event[3]
    if op in ("is", "is_not"):
        hit = value in tree[2]
    else:
        hit = (common is None or value in common) and any(v in value for v in tree[2])
    return not hit if op.endswith("_not") else hit


def leaf_values(tree: list[Any]) -> list[tuple[str, str, str]]:
    if tree[0] in ("and", "or"):
        return [leaf for child in tree[1] for leaf in leaf_values(child)]
    if tree[0] == "not":
        return leaf_values(tree[1])
    positive = re.sub("_not$", "", tree[0])
    return [(positive, tree[1], value) for value in tree[2]]


def common_pages(span: tuple[int, int]) -> set[str]:
    """Pages with at least K visitors in the range."""
    visitors: dict[str, set[int]] = {}
    for visitor, hour, page, _ in EVENTS:
        if span[0] <= hour < span[1]:
            visitors.setdefault(page, set()).add(visitor)
    return {page for page, seen in visitors.items() if len(seen) >= K}


def covered(tree: list[Any], span: tuple[int, int], *, resolved: bool = True) -> set[int]:
    common = common_pages(span) if resolved else None
    return {e[0] for e in EVENTS if span[0] <= e[1] < span[1] and matches(tree, e, common)}


def body(tree: list[Any], span: tuple[int, int]) -> dict[str, Any]:
    def hour(h: int) -> str:
        return (D9 + dt.timedelta(hours=h)).isoformat()
    return {"site_id": SITE, "metrics": ["visitors"], "filters": [tree],
            "date_range": [hour(span[0]), hour(span[1] - 1).replace("00:00+", "59:59+")]}


def answer(service: StatsService, tree: list[Any], span: tuple[int, int],
           caller: str) -> int | str | None:
    """The released count, None when withheld, "refused" when refused."""
    try:
        result = service.run(parse_query(body(tree, span), today=TODAY, now=NOW),
                             caller=Caller(caller))
    except BadQuery:
        return "refused"
    released = [row["metrics"][0] for row in result["results"]]
    assert all(n >= K for n in released)
    return released[0] if released else None


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tree=trees, first=hours, second=hours)
def test_no_answer_nor_difference_of_two_isolates_fewer_than_k(
        seeded: Client, tree: list[Any], first: tuple[int, int],
        second: tuple[int, int]) -> None:
    service = StatsService(seeded, k=K, clock=lambda: NOW)
    caller = f"c{next(CALLERS)}"
    narrow = any(len(covered([op, dim, [value]], first, resolved=False)) < K
                 for op, dim, value in leaf_values(tree))
    truth = covered(tree, first)
    got = answer(service, tree, first, caller)
    if narrow:
        assert got == "refused"
        event("refused: a leaf value under k")
        return
    event("answered" if isinstance(got, int) else "withheld")
    assert got == (len(truth) if len(truth) >= K else None)
    later = answer(service, tree, second, caller)
    other = covered(tree, second)
    if isinstance(got, int) and isinstance(later, int) and (truth <= other or other <= truth):
        event("two nested answers compared")
        assert not 0 < len(truth ^ other) < K, (tree, first, second)
