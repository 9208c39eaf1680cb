"""The differentially private mode: discrete Laplace noise (OpenDP), a budget ε per caller
per UTC day, and one noisy answer per (site, query, day) for everybody.

What it answers: the `visitors` metric, as an aggregate or a time:day / time:week /
time:month series, under any filters. Every bucket of the range is answered (a zero is
noised like any count), so which rows exist says nothing. Anything else is a 400 in this
mode: other metrics have no bound on what one visitor adds (pageviews, durations), and
other dimensions let one visitor touch many rows.

The unit of privacy is a visitor id, i.e. a visitor-day (ids are salted per day); one id
can reach two buckets (a visit running past midnight keeps its day's id for the grace
window), so the L1 sensitivity of the released vector is CONTRIBUTION = 2. OpenDP's
`make_laplace` over an integer vector with L1 distance is the discrete Laplace
(geometric) mechanism; `map(CONTRIBUTION)` is the ε it costs, which is what is charged.

State is in memory (docs/privacy.md: reset at UTC midnight and on restart). A repeated
identical query (same site, same normalised query, same day) returns the cached noisy
answer, to any caller, and is charged to a caller at most once: averaging repeats buys
nothing. OpenDP draws from the operating system's CSPRNG and cannot be seeded; the cache
is what makes answers consistent.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import opendp.prelude as dp

from contract.errors import BadQuery
from dashboards.query import StatsQuery

dp.enable_features("contrib")  # make_laplace is in OpenDP's "contrib" set (not yet vetted)

CONTRIBUTION = 2  # buckets one visitor id can reach (see the module docstring)
DP_DIMENSIONS = frozenset({"time:day", "time:week", "time:month"})
CACHE_SIZE = 10_000


class BudgetSpent(BadQuery):
    """The caller's ε for the period is spent (429)."""

    status = 429


@dataclass(frozen=True, slots=True)
class DpPolicy:
    """ε charged per query (noise scale = CONTRIBUTION / query_epsilon) and ε per caller
    per UTC day."""

    query_epsilon: float = 0.5
    budget: float = 5.0

    @property
    def scale(self) -> float:
        return CONTRIBUTION / self.query_epsilon


def check_dp_query(query: StatsQuery) -> None:
    """Raise BadQuery naming the field this mode cannot answer."""
    for i, metric in enumerate(query.metrics):
        if metric != "visitors":
            raise BadQuery(f"metrics[{i}]: only 'visitors' is answered in the differentially "
                           "private mode")
    for i, dimension in enumerate(query.dimensions):
        if dimension not in DP_DIMENSIONS:
            raise BadQuery(f"dimensions[{i}]: only time:day, time:week, time:month are answered "
                           "in the differentially private mode")


@dataclass
class _Answer:
    results: list[dict[str, Any]]
    charged: set[str] = field(default_factory=set)


class PrivacyAccountant:
    """Budgets per (caller, site, day) and the noisy answers per (site, query, day)."""

    def __init__(self, policy: DpPolicy) -> None:
        self.policy = policy
        self._measure = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)),
                                          dp.l1_distance(T=int), scale=policy.scale)
        self._day: dt.date | None = None
        self._spent: dict[tuple[str, str], float] = {}
        self._answers: OrderedDict[tuple[str, str], _Answer] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def query_cost(self) -> float:
        """The ε one answer costs, as OpenDP's privacy map states it."""
        return float(self._measure.map(CONTRIBUTION))  # type: ignore[no-untyped-call]  # OpenDP ships no hints for map

    def answer(self, caller: str, query: StatsQuery, today: dt.date,
               exact: Sequence[tuple[list[str], int]]) -> tuple[list[dict[str, Any]],
                                                                dict[str, Any]]:
        """(results, meta.privacy) for `exact` = [(dimension values, visitors), …], every
        bucket of the range present. Raises BudgetSpent before releasing anything."""
        key = (query.site_id, json.dumps(query.echo(), sort_keys=True))
        with self._lock:
            if self._day != today:
                self._day, self._spent, self._answers = today, {}, OrderedDict()
            cached = self._answers.get(key)
            spent = self._spent.get((caller, query.site_id), 0.0)
            cost = 0.0 if cached is not None and caller in cached.charged else self.query_cost
            if spent + cost > self.policy.budget + 1e-9:
                raise BudgetSpent(f"privacy budget: this key's ε = {self.policy.budget:g} for "
                                  f"{today.isoformat()} (UTC) is spent; repeated queries are "
                                  "free, new ones wait for the next day")
            if cached is None:
                noisy = self._measure([count for _, count in exact]) if exact else []
                cached = _Answer([{"metrics": [max(0, int(n))], "dimensions": dims}
                                  for (dims, _), n in zip(exact, noisy, strict=True)])
                self._answers[key] = cached
                if len(self._answers) > CACHE_SIZE:
                    self._answers.popitem(last=False)
            cached.charged.add(caller)
            self._spent[(caller, query.site_id)] = spent + cost
            remaining = self.policy.budget - spent - cost
        return cached.results, {
            "mode": "differentially_private", "mechanism": "discrete Laplace (OpenDP)",
            "noise_scale": self.policy.scale, "epsilon_charged": cost,
            "epsilon_budget": self.policy.budget, "epsilon_remaining": round(remaining, 9),
            "period": today.isoformat()}
