"""Plan a StatsQuery into ClickHouse SQL: rollups where they can serve, raw tables otherwise.

Pure: returns SQL text plus parameter dicts, runs nothing. Identifiers come only from the
whitelists below; every value a client sent travels as a bound `{name:Type}` parameter.

Rules (the rollup-vs-raw decision, `rollup_target`):
- rollup_daily serves a query whose date range is whole UTC days, with at most one
  non-time dimension D plus optionally time:day, and whose filters are only is/is_not
  (under and/or/not) on D — or, without D, on exactly one dimension, whose rows are then
  read. The rows of D must hold every measure needed: event:* rows hold only visitors,
  pageviews, events; entry/exit-page rows hold no `events`. visit:exit_page is never read
  from the rollup: its view counts a visitor under every exit page the visit ever had
  (uniqIfState over +1 rows of superseded states), which inflates visitors and so would
  weaken k-anonymity; raw sessions are aggregated exactly instead.
- rollup_hourly serves no dimension or only time:hour, no filters, whole-hour range.
- Everything else is raw. Event measures (visitors, pageviews, events) come from `events`;
  visit measures from `sessions`, collapsed exactly: sums over `sign` per session first,
  then visitors = uniq of visitor_id over sessions still alive. With an entry/exit-page
  dimension or filter and no event:* dimension, event measures come from `sessions` too
  (pageviews = Σ sign·pageviews, events = Σ sign·events), which is what the rollup holds
  for those dimensions; anonymous events (session_id 0) have no session and are not counted
  there. An event:* filter on sessions becomes `session_id IN (events matching it)`; an
  entry/exit-page filter on events becomes `session_id IN (sessions matching it)`.
- Engagement events (`name = 'engagement'`) measure a page view already counted: they
  are left out of every event measure here, as the rollup views leave them out.
- visitors is always computed (k-anonymity needs it) and always with `uniq`, never
  uniqExact, so rollup and raw answers agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract.rows import VISIT_DIMENSION_COLUMNS
from dashboards.query import (
    EVENT_DIMENSIONS,
    TIME_DIMENSIONS,
    Combine,
    Condition,
    FilterNode,
    Negate,
    StatsQuery,
)

MEASURES = ("visitors", "pageviews", "events", "visits", "bounces", "duration",
            "visit_pageviews")
VISIT_MEASURES = frozenset({"visits", "bounces", "duration", "visit_pageviews"})
METRIC_MEASURES: dict[str, tuple[str, ...]] = {
    "visitors": ("visitors",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "visits": ("visits",),
    "bounce_rate": ("bounces", "visits"),
    "visit_duration": ("duration", "visits"),
    "views_per_visit": ("visit_pageviews", "visits"),
}

EVENT_COLUMNS = {"event:page": "pathname", "event:name": "name", "event:hostname": "hostname",
                 **VISIT_DIMENSION_COLUMNS}
SESSION_COLUMNS = {"visit:entry_page": "entry_page", "visit:exit_page": "exit_page",
                   **VISIT_DIMENSION_COLUMNS}
SESSION_ONLY = frozenset({"visit:entry_page", "visit:exit_page"})
NOT_FROM_ROLLUP = frozenset({"visit:exit_page"})  # see the module docstring

TIME_EXPRESSIONS = {
    "time:day": "toString(toDate({col}))",
    "time:hour": "formatDateTime(toStartOfHour({col}), '%Y-%m-%d %H:00:00', 'UTC')",
}
TS = "DateTime64(3, 'UTC')"


@dataclass(frozen=True, slots=True)
class Statement:
    """One SELECT: its rows are the query's dimension values, then `measures` in order."""

    sql: str
    parameters: dict[str, Any]
    measures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """How a query is answered: from "rollup" or "raw", by one or two statements."""

    source: str
    table: str  # the table read (rollup) or the event-measure table (raw), for logs and tests
    statements: tuple[Statement, ...]


def needed_measures(query: StatsQuery) -> frozenset[str]:
    """The base measures the requested metrics derive from, plus visitors (for k-anonymity)."""
    return frozenset({"visitors"}.union(*(METRIC_MEASURES[m] for m in query.metrics)))


def filter_dimensions(nodes: tuple[FilterNode, ...]) -> set[str]:
    """Every dimension a filter tree mentions."""
    return {leaf.dimension for leaf in _leaves(nodes)}


def rollup_target(query: StatsQuery) -> tuple[str, str] | None:
    """("rollup_daily", dim) or ("rollup_hourly", "") if a rollup can serve, else None."""
    dims = [d for d in query.dimensions if d not in TIME_DIMENSIONS]
    times = [d for d in query.dimensions if d in TIME_DIMENSIONS]
    filtered = filter_dimensions(query.filters)
    whole_days, whole_hours = query.date_range.whole_days(), query.date_range.whole_hours()
    if not query.filters and not dims and times != ["time:day"]:  # site totals by hour
        if not times and whole_days:
            return ("rollup_daily", "")  # fewer rows to merge than hourly
        return ("rollup_hourly", "") if whole_hours else None
    if len(dims) > 1 or times == ["time:hour"] or not whole_days:
        return None
    if any(leaf.operator not in ("is", "is_not") for leaf in _leaves(query.filters)):
        return None
    if dims:
        dim = dims[0]
        if filtered - {dim}:
            return None
    elif len(filtered) > 1:
        return None
    else:
        dim = next(iter(filtered), "")
    if dim in NOT_FROM_ROLLUP or not needed_measures(query) <= _rollup_measures(dim):
        return None
    return ("rollup_daily", dim)


def plan_query(query: StatsQuery, *, force_raw: bool = False) -> Plan:
    """The statements answering `query`; its date range must already be resolved."""
    _bounds(query)
    target = None if force_raw else rollup_target(query)
    if target is not None:
        table, dim = target
        return Plan("rollup", table, (_rollup_statement(query, table, dim),))
    return _raw_plan(query)


def _bounds(query: StatsQuery) -> tuple[dt.datetime, dt.datetime]:
    if query.date_range.start is None:
        raise ValueError("resolve date_range 'all' to a start before planning")
    return query.date_range.start, query.date_range.stop


def _rollup_measures(dim: str) -> frozenset[str]:
    if dim in EVENT_DIMENSIONS:
        return frozenset({"visitors", "pageviews", "events"})
    if dim in SESSION_ONLY:
        return frozenset(MEASURES) - {"events"}
    return frozenset(MEASURES)


def _leaves(nodes: tuple[FilterNode, ...]) -> list[Condition]:
    found: list[Condition] = []
    for node in nodes:
        if isinstance(node, Condition):
            found.append(node)
        elif isinstance(node, Combine):
            found.extend(_leaves(node.children))
        else:
            found.extend(_leaves((node.child,)))
    return found


class _Params:
    """Collects bound parameters under generated names (p0, p1, …)."""

    def __init__(self, fixed: dict[str, Any]) -> None:
        self.values = dict(fixed)

    def bind(self, value: Any, kind: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


def _condition_sql(column: str, leaf: Condition, params: _Params) -> str:
    values = params.bind(list(leaf.values), "Array(String)")
    if leaf.operator == "is":
        return f"{column} IN {values}"
    if leaf.operator == "is_not":
        return f"{column} NOT IN {values}"
    contains = f"arrayExists(v -> position({column}, v) > 0, {values})"  # case-sensitive
    return contains if leaf.operator == "contains" else f"NOT {contains}"


def _tree_sql(nodes: tuple[FilterNode, ...], leaf_sql: Callable[[Condition], str]) -> str:
    """The and-ed filter list as one SQL boolean; `leaf_sql` renders each condition."""
    def render(node: FilterNode) -> str:
        if isinstance(node, Condition):
            return f"({leaf_sql(node)})"
        if isinstance(node, Negate):
            return f"(NOT {render(node.child)})"
        joiner = " AND " if node.operator == "and" else " OR "
        return "(" + joiner.join(render(child) for child in node.children) + ")"
    return " AND ".join(render(node) for node in nodes) or "1"


def _select_list(query: StatsQuery, column_for: Callable[[str], str]) -> list[str]:
    return [f"{column_for(d)} AS d{i}" for i, d in enumerate(query.dimensions)]


def _group_by(query: StatsQuery) -> str:
    if not query.dimensions:
        return ""
    return "\nGROUP BY " + ", ".join(f"d{i}" for i in range(len(query.dimensions)))


def _rollup_statement(query: StatsQuery, table: str, dim: str) -> Statement:
    start, stop = _bounds(query)
    session_rows = dim in SESSION_ONLY
    exprs = {
        "visitors": "uniqMerge(visitors)",
        "pageviews": "sum(visit_pageviews)" if session_rows else "sum(pageviews)",
        "events": "sum(events)", "visits": "sum(visits)", "bounces": "sum(bounces)",
        "duration": "sum(duration)", "visit_pageviews": "sum(visit_pageviews)",
    }
    measures = tuple(m for m in MEASURES if m in needed_measures(query))
    select = [*_select_list(query, lambda d: TIME_EXPRESSIONS.get(d, "value").format(
        col="day" if table == "rollup_daily" else "hour")),
        *(f"{exprs[m]} AS m_{m}" for m in measures)]
    if table == "rollup_hourly":
        params = _Params({"site": query.site_id, "start_hour": start, "stop_hour": stop})
        where = ("site = {site:String} AND hour >= {start_hour:DateTime('UTC')}"
                 " AND hour < {stop_hour:DateTime('UTC')}")
    else:
        params = _Params({"site": query.site_id, "dim": dim, "first_day": start.date(),
                          "stop_day": stop.date()})
        where = ("site = {site:String} AND day >= {first_day:Date} AND day < {stop_day:Date}"
                 " AND dim = {dim:String}")
        if query.filters:
            where += " AND " + _tree_sql(query.filters,
                                         lambda leaf: _condition_sql("value", leaf, params))
    sql = f"SELECT {', '.join(select)}\nFROM {table}\nWHERE {where}{_group_by(query)}"
    return Statement(sql, params.values, measures)


def _raw_plan(query: StatsQuery) -> Plan:
    needed = needed_measures(query)
    touches_sessions_only = bool(SESSION_ONLY & (set(query.dimensions)
                                                 | filter_dimensions(query.filters)))
    event_dimension = any(d in EVENT_DIMENSIONS for d in query.dimensions)
    if touches_sessions_only and not event_dimension:
        measures = tuple(m for m in MEASURES if m in needed)
        return Plan("raw", "sessions", (_sessions_statement(query, measures),))
    visit_needed = tuple(m for m in MEASURES if m in needed & VISIT_MEASURES)
    use_events = bool(needed & {"pageviews", "events"}) or not visit_needed
    statements = []
    if use_events:
        statements.append(_events_statement(
            query, tuple(m for m in ("visitors", "pageviews", "events") if m in needed)))
    if visit_needed:
        extra = () if use_events else ("visitors",)
        statements.append(_sessions_statement(query, extra + visit_needed))
    return Plan("raw", "events" if use_events else "sessions", tuple(statements))


def _raw_params(query: StatsQuery) -> _Params:
    start, stop = _bounds(query)
    return _Params({
        "site": query.site_id, "start": start, "stop": stop,
        # Sessions may start up to a day before an event of theirs, events may follow a
        # session's start by up to a day: the cross-table subqueries widen their windows.
        "session_start": start - dt.timedelta(days=1), "event_stop": stop + dt.timedelta(days=1),
    })


def _events_statement(query: StatsQuery, measures: tuple[str, ...]) -> Statement:
    params = _raw_params(query)
    exprs = {"visitors": "uniqIf(visitor_id, visitor_id != 0)",
             "pageviews": "countIf(name = 'pageview')", "events": "count()"}

    def leaf_sql(leaf: Condition) -> str:
        if leaf.dimension in SESSION_ONLY:
            matches = _condition_sql(SESSION_COLUMNS[leaf.dimension], leaf, params)
            return ("session_id IN (SELECT session_id FROM sessions WHERE site = {site:String}"
                    f" AND start >= {{session_start:{TS}}} AND start < {{stop:{TS}}}"
                    f" AND {matches} GROUP BY session_id HAVING sum(sign) > 0)")
        return _condition_sql(EVENT_COLUMNS[leaf.dimension], leaf, params)

    where = _tree_sql(query.filters, leaf_sql)
    select = [*_select_list(query, lambda d: TIME_EXPRESSIONS[d].format(col="ts")
                            if d in TIME_DIMENSIONS else EVENT_COLUMNS[d]),
              *(f"{exprs[m]} AS m_{m}" for m in measures)]
    sql = (f"SELECT {', '.join(select)}\nFROM events\nWHERE site = {{site:String}}"
           f" AND ts >= {{start:{TS}}} AND ts < {{stop:{TS}}}\n  AND name != 'engagement'"
           f" AND {where}{_group_by(query)}")
    return Statement(sql, params.values, measures)


def _sessions_statement(query: StatsQuery, measures: tuple[str, ...]) -> Statement:
    """Collapse each session exactly (Σ sign per session) before aggregating; never FINAL."""
    params = _raw_params(query)
    outer = {"visitors": "uniqIf(visitor_id, s_live > 0)", "visits": "sum(s_live)",
             "bounces": "sum(s_bounces)", "duration": "sum(s_duration)",
             "visit_pageviews": "sum(s_pageviews)", "pageviews": "sum(s_pageviews)",
             "events": "sum(s_events)"}

    def leaf_sql(leaf: Condition) -> str:
        if leaf.dimension in EVENT_COLUMNS and leaf.dimension not in SESSION_COLUMNS:
            matches = _condition_sql(EVENT_COLUMNS[leaf.dimension], leaf, params)
            return ("session_id IN (SELECT session_id FROM events WHERE site = {site:String}"
                    f" AND ts >= {{start:{TS}}} AND ts < {{event_stop:{TS}}}"
                    f" AND session_id != 0 AND {matches})")
        return _condition_sql(SESSION_COLUMNS[leaf.dimension], leaf, params)

    where = _tree_sql(query.filters, leaf_sql)
    inner_dims = _select_list(query, lambda d: TIME_EXPRESSIONS[d].format(col="start")
                              if d in TIME_DIMENSIONS else SESSION_COLUMNS[d])
    inner = ", ".join(["session_id", "visitor_id", *inner_dims,
                       "sum(sign) AS s_live", "sum(sign * is_bounce) AS s_bounces",
                       "sum(sign * duration) AS s_duration", "sum(sign * pageviews) AS s_pageviews",
                       "sum(sign * events) AS s_events"])
    inner_group = "".join(f", d{i}" for i in range(len(query.dimensions)))
    outer_select = [*(f"d{i}" for i in range(len(query.dimensions))),
                    *(f"{outer[m]} AS m_{m}" for m in measures)]
    sql = (f"SELECT {', '.join(outer_select)}\nFROM (\n  SELECT {inner}\n  FROM sessions"
           f"\n  WHERE site = {{site:String}} AND start >= {{start:{TS}}}"
           f" AND start < {{stop:{TS}}}\n    AND {where}"
           f"\n  GROUP BY session_id, visitor_id{inner_group}"
           "\n  HAVING s_live != 0"  # a superseded state (+1 and -1 only) adds nothing
           f"\n){_group_by(query)}")
    return Statement(sql, params.values, measures)
