"""Goals: what counts as a conversion, and in which currency a goal's revenue is reported.

Pure. Plausible configures goals per site (https://plausible.io/docs/goal-conversions):
custom-event goals (an event name, optionally a revenue goal with a currency) and pageview
goals ("Visit /path", wildcards allowed). crumbless keeps that model, minimally:

- every custom event name (not `pageview`, not `engagement`) is a goal by itself, named
  after the event, with no currency — no configuration needed for the common case;
- rows of the `goals` table (migration 5) add pageview goals, rename a custom-event goal
  (`display_name`) or make it a revenue goal (`currency`, ISO 4217).

Revenue is summed only over events whose own currency is the goal's currency; crumbless
converts no currencies (Plausible converts to the goal's currency at ingestion). A
custom-event goal without a configured currency whose stored revenue events all carry one
single currency reports revenue in that currency (`with_inferred_currencies`): revenue
sent by the tracker shows without a goals row; a goal with mixed currencies needs one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass

from contract.goals import NOT_GOALS as NOT_GOALS  # re-exported: one list, in contract
from dashboards.query import StatsQuery, filter_leaves

REVENUE_WARNINGS = {  # Plausible's codes and texts (lib/plausible/stats/query_result.ex)
    "no_single_revenue_currency":
        "Revenue metrics are null as there are multiple currencies for the selected "
        "event:goals.",
    "no_revenue_goals_matching": "Revenue metrics are null as there are no matching revenue goals.",
}


@dataclass(frozen=True, slots=True)
class Goal:
    """One configured goal: a custom event (`event_name`) or a pageview goal (`page_path`)."""

    display_name: str
    event_name: str = ""
    page_path: str = ""  # "/blog/*": `*` matches within one path segment, `**` across them
    currency: str = ""  # ISO 4217 for a revenue goal, else ""

    @property
    def is_page_goal(self) -> bool:
        return bool(self.page_path)


def page_regex(path: str) -> str:
    """The anchored re2 pattern of a pageview goal's path (`**` any, `*` within a segment)."""
    parts = [re.escape(part) for part in path.split("**")]
    return "^" + ".*".join(part.replace(r"\*", "[^/]*") for part in parts) + "$"


@dataclass(frozen=True, slots=True)
class GoalSet:
    """A site's configured goals, as SQL parameters and for the revenue decision."""

    goals: tuple[Goal, ...] = ()

    def sql_parameters(self) -> dict[str, list[str]]:
        events = [g for g in self.goals if not g.is_page_goal and g.event_name]
        pages = [g for g in self.goals if g.is_page_goal]
        return {
            "goal_events": [g.event_name for g in events],
            "goal_event_names": [g.display_name for g in events],
            "page_goal_names": [g.display_name for g in pages],
            "page_goal_patterns": [page_regex(g.page_path) for g in pages],
            "revenue_goal_names": [g.display_name for g in self.goals if g.currency],
            "revenue_goal_currencies": [g.currency for g in self.goals if g.currency],
        }

    def currency_of(self, display_name: str) -> str:
        return next((g.currency for g in self.goals if g.display_name == display_name), "")


def with_inferred_currencies(goals: GoalSet,
                             currencies: Mapping[str, Set[str]]) -> GoalSet:
    """`goals` where each custom-event goal without a currency takes its event's one currency.

    `currencies` maps event name → the currencies its stored revenue events carry. A
    configured goal keeps its currency; an event with revenue in exactly one currency and
    no configured goal becomes a goal of its own name in that currency; several
    currencies infer nothing (revenue stays null: the operator must choose one).
    """
    single = {name: next(iter(found)) for name, found in currencies.items()
              if len(found) == 1 and name not in NOT_GOALS}
    kept = tuple(Goal(g.display_name, g.event_name, g.page_path, single[g.event_name])
                 if not g.currency and not g.is_page_goal and g.event_name in single else g
                 for g in goals.goals)
    configured = {g.event_name for g in goals.goals if not g.is_page_goal}
    names = {g.display_name for g in goals.goals}
    added = tuple(Goal(name, name, "", currency) for name, currency in sorted(single.items())
                  if name not in configured and name not in names)
    return GoalSet(kept + added)


@dataclass(frozen=True, slots=True)
class Revenue:
    """How revenue metrics are answered: per goal row, in one currency, or null with a warning."""

    by_goal: bool = False  # event:goal dimension: each row in its goal's currency
    currency: str = ""  # otherwise: the one currency of the goals filtered on
    warning: str = ""  # a REVENUE_WARNINGS code when the metrics are null


def revenue_plan(query: StatsQuery, goals: GoalSet) -> Revenue:
    """Plausible's rule: the goal dimension, or exactly one currency among the filtered goals."""
    if "event:goal" in query.dimensions:
        return Revenue(by_goal=True)
    wanted = [leaf for leaf in query.filters
              if getattr(leaf, "dimension", "") == "event:goal"]
    matching = {g.currency for g in goals.goals if g.currency and any(
        _goal_matches(g.display_name, leaf.operator, leaf.values, leaf.case_sensitive)
        for leaf in filter_leaves(tuple(wanted)))}
    if not matching:
        return Revenue(warning="no_revenue_goals_matching")
    if len(matching) > 1:
        return Revenue(warning="no_single_revenue_currency")
    return Revenue(currency=matching.pop())


def _goal_matches(name: str, operator: str, values: tuple[str, ...], case_sensitive: bool) -> bool:
    fold = (lambda text: text) if case_sensitive else str.casefold
    if operator == "is":
        return any(fold(name) == fold(v) for v in values)
    return any(fold(v) in fold(name) for v in values)
