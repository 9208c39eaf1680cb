"""Plan a StatsQuery into ClickHouse SQL: rollups where they can serve, raw tables otherwise.

Pure: returns SQL text plus parameter dicts, runs nothing. Identifiers come only from the
whitelists below; every value a client sent travels as a bound `{name:Type}` parameter.

Rules (the rollup-vs-raw decision, `rollup_target`):
- rollup_daily serves a query whose date range is whole UTC days, with at most one
  non-time dimension D plus optionally time:day, and whose filters are only is/is_not
  (under and/or/not) on D — or, without D, on exactly one dimension, whose rows are then
  read. The rows of D must hold every measure needed: event:* rows hold only visitors,
  pageviews, events; entry/exit-page rows hold no `events`. visit:exit_page's visitors
  never come from rollup_daily's states: a visit's exit page changes as it goes on, and a
  state cannot drop a visitor from an exit page the visit left (that would inflate
  visitors and so weaken k-anonymity). They come from rollup_daily_visitors for counted
  days (counted from raw sessions, each state collapsed) and from raw sessions otherwise.
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
- rollup_daily's visitors (schema 9): a visitor hash is made under its UTC day's salt, so
  the visitors of whole days add up. Past days counted by sinks/finalize.py are read from
  rollup_daily_visitors as numbers (the rows of each day's current count) when the caller
  passes them (`counted`, from COUNTED_DAYS: days whose change counter is still the one
  they were counted at); the other days merge their `uniq` states; the parts are summed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contract.rows import VISIT_DIMENSION_COLUMNS
from dashboards.goals import NOT_GOALS, GoalSet, Revenue, revenue_plan
from dashboards.query import (
    EVENT_DIMENSIONS,
    TIME_DIMENSIONS,
    Behaviour,
    Condition,
    FilterNode,
    Negate,
    StatsQuery,
    filter_leaves,
    has_behaviour,
    is_event_dimension,
    is_props,
    prop_key,
)
from dashboards.vocabulary import NAMED, base_dimension, display_sql
from sinks.finalize import DAY_CHANGES, EXIT_VISITORS, exit_page_visits
from sinks.migrations import ROLLUP_DIMENSIONS

MEASURES = ("visitors", "pageviews", "events", "visits", "bounces", "duration",
            "visit_pageviews")
# Measures of engagement events (scroll depth, engaged time) and revenue: raw events only.
SCROLL_MEASURES = ("scroll_total", "scroll_visitors")
ENGAGED_MEASURES = ("engaged_ms", "engaged_visits")
REVENUE_MEASURES = ("revenue_milli", "revenue_count")
VISIT_MEASURES = frozenset({"visits", "bounces", "duration", "visit_pageviews"})
METRIC_MEASURES: dict[str, tuple[str, ...]] = {
    "visitors": ("visitors",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "visits": ("visits",),
    "bounce_rate": ("bounces", "visits"),
    "visit_duration": ("duration", "visits"),
    "views_per_visit": ("visit_pageviews", "visits"),
    "scroll_depth": SCROLL_MEASURES,
    "time_on_page": ENGAGED_MEASURES,
    "total_revenue": REVENUE_MEASURES,
    "average_revenue": REVENUE_MEASURES,
    # Ratios to a second answer (Plan.denominators); the numerator is visitors.
    "percentage": (), "conversion_rate": (), "group_conversion_rate": (),
}
RATIO_METRICS = ("percentage", "conversion_rate", "group_conversion_rate")
NO_GOALS = GoalSet()
ROLLUP_DIMENSION_NAMES = frozenset(dim for dim, _, _ in ROLLUP_DIMENSIONS if dim)

_NAMED_COLUMNS = {named: VISIT_DIMENSION_COLUMNS[base] for named, (base, _) in NAMED.items()}
EVENT_COLUMNS = {"event:page": "pathname", "event:name": "name", "event:hostname": "hostname",
                 **VISIT_DIMENSION_COLUMNS, **_NAMED_COLUMNS}
# A visit's hostname is its entry page's; crumbless keeps no separate exit hostname.
SESSION_COLUMNS = {"visit:entry_page": "entry_page", "visit:exit_page": "exit_page",
                   "visit:entry_page_hostname": "hostname",
                   "visit:exit_page_hostname": "hostname",
                   **VISIT_DIMENSION_COLUMNS, **_NAMED_COLUMNS}
SESSION_ONLY = frozenset({"visit:entry_page", "visit:exit_page", "visit:entry_page_hostname",
                          "visit:exit_page_hostname"})
GOAL_FILTER_DIMENSIONS = ("event:goal",)  # and event:props:*: left out of conversion totals

# Buckets in the site's IANA zone ({tz:String}, a constant to ClickHouse), DST included.
TIME_EXPRESSIONS = {
    "time:day": "toString(toDate({col}, {{tz:String}}))",
    "time:hour": ("formatDateTime(toStartOfHour({col}, {{tz:String}}), '%Y-%m-%d %H:00:00',"
                  " {{tz:String}})"),
    # Plausible: weeks start on Monday, but never before the range's first (local) day
    "time:week": "toString(greatest(toMonday(toDate({col}, {{tz:String}})), {{start_day:Date}}))",
    "time:month": "toString(toStartOfMonth(toDate({col}, {{tz:String}})))",
}
UTC_ZONES = frozenset({"UTC", "Etc/UTC"})
TS = "DateTime64(3, 'UTC')"


@dataclass(frozen=True, slots=True)
class Statement:
    """One SELECT: its rows are the query's dimension values, then `measures` in order."""

    sql: str
    parameters: dict[str, Any]
    measures: tuple[str, ...]
    daily: bool = False  # reads rollup_daily's visitors: the counted days matter


@dataclass(frozen=True, slots=True)
class Denominator:
    """The visitors a ratio metric divides by, grouped by `dimensions` (query positions)."""

    metric: str  # percentage | conversion_rate | group_conversion_rate
    statement: Statement
    dimensions: tuple[int, ...]
    source: str  # "rollup" | "raw"


@dataclass(frozen=True, slots=True)
class Plan:
    """How a query is answered: from "rollup" or "raw", by one or more statements."""

    source: str
    table: str  # the table read (rollup) or the event-measure table (raw), for logs and tests
    statements: tuple[Statement, ...]
    denominators: tuple[Denominator, ...] = ()
    revenue: Revenue | None = None


def needed_measures(query: StatsQuery) -> frozenset[str]:
    """The base measures the requested metrics derive from, plus visitors (for k-anonymity)."""
    return frozenset({"visitors"}.union(*(METRIC_MEASURES[m] for m in query.metrics)))


def filter_dimensions(nodes: tuple[FilterNode, ...]) -> set[str]:
    """Every dimension a filter tree mentions."""
    return {leaf.dimension for leaf in filter_leaves(nodes)}


def rollup_target(query: StatsQuery) -> tuple[str, str] | None:
    """("rollup_daily", dim) or ("rollup_hourly", "") if a rollup can serve, else None."""
    # A named dimension (visit:country_name) reads its base dimension's rows (visit:country).
    dims = [base_dimension(d) for d in query.dimensions if d not in TIME_DIMENSIONS]
    times = [d for d in query.dimensions if d in TIME_DIMENSIONS]
    filtered = {base_dimension(d) for d in filter_dimensions(query.filters)}
    whole_days, whole_hours = query.date_range.whole_days(), query.date_range.whole_hours()
    utc = query.date_range.timezone in UTC_ZONES
    if not query.filters and not dims and (times != ["time:day"] or not utc):
        if not times and whole_days and utc:
            return ("rollup_daily", "")  # fewer rows to merge than hourly
        # Another zone: UTC hours folded into its local days, hours, weeks, months (DST
        # included); a zone off by a fraction of an hour cuts no whole hours: raw.
        return ("rollup_hourly", "") if whole_hours else None
    if not utc:  # rollup_daily's days are UTC days
        return None
    if len(set(dims)) > 1 or times == ["time:hour"] or not whole_days:
        return None
    if has_behaviour(query.filters):
        return None
    if any(leaf.operator not in ("is", "is_not") or not leaf.case_sensitive
           for leaf in filter_leaves(query.filters)):
        return None
    if dims:
        dim = dims[0]
        if filtered - {dim}:
            return None
    elif len(filtered) > 1:
        return None
    else:
        dim = next(iter(filtered), "")
    if dim and dim not in ROLLUP_DIMENSION_NAMES:
        return None
    if not needed_measures(query) <= _rollup_measures(dim):
        return None
    return ("rollup_daily", dim)


def plan_query(query: StatsQuery, *, goals: GoalSet = NO_GOALS,
               force_raw: bool = False, counted: Mapping[dt.date, int] | None = None) -> Plan:
    """The statements answering `query`; its date range must already be resolved.

    `goals` are the site's configured goals (event:goal, revenue currencies).
    """
    _bounds(query)
    revenue = (revenue_plan(query, goals)
               if any(m in query.metrics for m in ("total_revenue", "average_revenue")) else None)
    target = None if force_raw else rollup_target(query)
    if target is not None:
        table, dim = target
        plan = Plan("rollup", table, (_rollup_statement(query, table, dim, counted),))
    else:
        plan = _raw_plan(query, goals, revenue)
    denominators = tuple(_denominator(query, metric, goals, force_raw, counted)
                         for metric in query.metrics if metric in RATIO_METRICS)
    sources = {plan.source, *(d.source for d in denominators)}
    return Plan("rollup" if sources == {"rollup"} else "raw", plan.table, plan.statements,
                denominators, revenue)




def reads_daily_visitors(plan: Plan) -> bool:
    """Whether a statement of `plan` reads rollup_daily's visitors, so that the counted
    days of its range (COUNTED_DAYS) would answer part of it: plan again with `counted=`."""
    return any(statement.daily for statement in
               (*plan.statements, *(d.statement for d in plan.denominators)))


def _denominator(query: StatsQuery, metric: str, goals: GoalSet, force_raw: bool,
                 counted: Mapping[dt.date, int] | None) -> Denominator:
    """Plausible's divisors (lib/plausible/stats/sql/special_metrics.ex): percentage divides by
    the visitors of the same filters without dimensions; conversion_rate by those without the
    top-level goal and props filters; group_conversion_rate by the same, per group of the
    query's other dimensions."""
    filters = query.filters
    if metric != "percentage":
        filters = tuple(f for f in filters if not (
            isinstance(f, Condition)
            and (f.dimension in GOAL_FILTER_DIMENSIONS or is_props(f.dimension))))
    kept = tuple(i for i, d in enumerate(query.dimensions)
                 if metric == "group_conversion_rate" and d != "event:goal")
    total = dataclasses.replace(query, metrics=("visitors",), filters=filters,
                                dimensions=tuple(query.dimensions[i] for i in kept),
                                order_by=())
    plan = plan_query(total, goals=goals, force_raw=force_raw, counted=counted)
    return Denominator(metric, plan.statements[0], kept, plan.source)


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


class _Params:
    """Collects bound parameters under generated names (p0, p1, …)."""

    def __init__(self, fixed: dict[str, Any]) -> None:
        self.values = dict(fixed)

    def bind(self, value: Any, kind: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


# The goals an event converts on (Array(String)): a custom event is the goal of its name
# (renamed by a configured goal), a pageview converts on every pageview goal it matches.
GOAL_EXPRESSION = (
    "arrayConcat(if(name NOT IN ('" + "', '".join(NOT_GOALS) + "'), [transform(toString(name),"
    " {goal_events:Array(String)}, {goal_event_names:Array(String)}, toString(name))], []),"
    " arrayFilter((g, r) -> name = 'pageview' AND match(pathname, r),"
    " {page_goal_names:Array(String)}, {page_goal_patterns:Array(String)}))")
REVENUE_CURRENCY_OF = ("transform({goal}, {{revenue_goal_names:Array(String)}},"
                       " {{revenue_goal_currencies:Array(String)}}, '')")


def _condition_sql(column: str, leaf: Condition, params: _Params) -> str:
    """One leaf on a String column; values bound; case folding and re2 as the leaf asks."""
    values = params.bind(list(leaf.values), "Array(String)")
    sensitive = leaf.case_sensitive
    if leaf.operator in ("is", "is_not"):
        test = (f"{column} IN {values}" if sensitive else
                f"has(arrayMap(v -> lowerUTF8(v), {values}), lowerUTF8({column}))")
    elif leaf.operator in ("contains", "contains_not"):
        position = "position" if sensitive else "positionCaseInsensitiveUTF8"
        test = f"arrayExists(v -> {position}({column}, v) > 0, {values})"
    else:  # matches / matches_not: ClickHouse match() is re2, linear time
        pattern = "v" if sensitive else "concat('(?i)', v)"
        test = f"arrayExists(v -> match({column}, {pattern}), {values})"
    negative = leaf.operator in ("is_not", "contains_not", "matches_not")
    return f"NOT ({test})" if negative else test


def _tree_sql(nodes: tuple[FilterNode, ...], leaf_sql: Callable[[Condition], str],
              behaviour_sql: Callable[[Behaviour], str] | None = None) -> str:
    """The and-ed filter list as one SQL boolean; `leaf_sql` renders each condition."""
    def render(node: FilterNode) -> str:
        if isinstance(node, Condition):
            return f"({leaf_sql(node)})"
        if isinstance(node, Behaviour):
            if behaviour_sql is None:
                raise ValueError("has_done / has_not_done are answered from raw tables only")
            return f"({behaviour_sql(node)})"
        if isinstance(node, Negate):
            return f"(NOT {render(node.child)})"
        joiner = " AND " if node.operator == "and" else " OR "
        return "(" + joiner.join(render(child) for child in node.children) + ")"
    return " AND ".join(render(node) for node in nodes) or "1"


def _group_by(query: StatsQuery) -> str:
    if not query.dimensions:
        return ""
    return "\nGROUP BY " + ", ".join(f"d{i}" for i in range(len(query.dimensions)))


def _rollup_statement(query: StatsQuery, table: str, dim: str,
                      counted: Mapping[dt.date, int] | None = None) -> Statement:
    start, stop = _bounds(query)
    session_rows = dim in SESSION_ONLY
    sums = {
        "pageviews": "visit_pageviews" if session_rows else "pageviews",
        "events": "events", "visits": "visits", "bounces": "bounces",
        "duration": "duration", "visit_pageviews": "visit_pageviews",
    }
    measures = tuple(m for m in MEASURES if m in needed_measures(query))
    col = "toDateTime(rday, 'UTC')" if table == "rollup_daily" else "hour"
    local = {"tz": query.date_range.timezone, "start_day": query.date_range.first_day()}
    if table == "rollup_hourly":
        params = _Params({"site": query.site_id, "start_hour": start, "stop_hour": stop,
                          **local})
        where = ("site = {site:String} AND hour >= {start_hour:DateTime('UTC')}"
                 " AND hour < {stop_hour:DateTime('UTC')}")
    else:
        params = _Params({"site": query.site_id, "dim": dim, "first_day": start.date(),
                          "stop_day": stop.date(), **local})
        where = ("site = {site:String} AND day >= {first_day:Date} AND day < {stop_day:Date}"
                 " AND dim = {dim:String}")
        if query.filters:
            where += " AND " + _tree_sql(query.filters, lambda leaf: _condition_sql(
                display_sql(leaf.dimension, "value", params.bind), leaf, params))
    dims = [f"{TIME_EXPRESSIONS[d].format(col=col) if d in TIME_DIMENSIONS else display_sql(d, 'value', params.bind)} AS d{i}"  # noqa: E501
            for i, d in enumerate(query.dimensions)]
    if table == "rollup_daily":
        by_day = any(d in TIME_DIMENSIONS for d in query.dimensions)
        # the range's days as constant sets: the counted ones (with the version of their
        # count) and the rest; `counted` None: none is known to be counted
        first, stop_day = start.date(), stop.date()
        in_range = [first + dt.timedelta(days=i) for i in range((stop_day - first).days)]
        known = {d: v for d, v in (counted or {}).items() if first <= d < stop_day}
        days = (params.bind(sorted(known), "Array(Date)"),
                params.bind([known[d] for d in sorted(known)], "Array(UInt64)"),
                params.bind([d for d in in_range if d not in known], "Array(Date)"))
        source = _daily_source(measures, sums, where, by_day, days,
                               exits=dim == "visit:exit_page", counted=bool(known))
        select = [*dims, *(f"sum(x_{m}) AS m_{m}" for m in measures)]
        # a value left only by superseded visit states (an exit page the visit moved on
        # from: +1 and -1) sums to nothing: not a row, as on raw sessions
        empty = " AND ".join(f"m_{m} = 0" for m in measures)
        sql = (f"SELECT {', '.join(select)}\nFROM ({source})\nWHERE 1{_group_by(query)}"
               + (f"\nHAVING NOT ({empty})" if query.dimensions else ""))
    else:
        select = [*dims, *(f"{'uniqMerge(visitors)' if m == 'visitors' else f'sum({sums[m]})'}"
                           f" AS m_{m}" for m in measures)]
        sql = f"SELECT {', '.join(select)}\nFROM {table}\nWHERE {where}{_group_by(query)}"
    return Statement(sql, params.values, measures, daily=table == "rollup_daily")


# The days of a range whose counts in rollup_daily_visitors are current, with the version
# of that count: counted when the day's change counter (sinks/finalize.py: DAY_CHANGES) was
# what it is now. A caller runs it and passes the answer to plan_query(counted=...).
COUNTED_DAYS = """SELECT day, version FROM rollup_daily_visitors FINAL
    WHERE site = {site:String} AND dim = '' AND value = ''
      AND day >= {first_day:Date} AND day < {stop_day:Date}
      AND (day, fingerprint) IN (
        SELECT day, """ + DAY_CHANGES + """ FROM rollup_daily
        WHERE site = {site:String} AND dim = '' AND day >= {first_day:Date}
          AND day < {stop_day:Date} GROUP BY day)"""
_ZERO = {"visitors": "toUInt64(0)", "pageviews": "toUInt64(0)", "events": "toUInt64(0)"}


def _daily_source(measures: tuple[str, ...], sums: dict[str, str], where: str,
                  by_day: bool, days: tuple[str, str, str], *, exits: bool = False,
                  counted: bool = True) -> str:
    """rollup_daily's rows as (rday, value, x_<measure>…) for the caller to sum: visitors
    of counted days as stored numbers, of the other days as their states merged per value
    (and day, if `by_day`: `rday` is otherwise meaningless); the sums from rollup_daily. A
    hash lives under one UTC day, so counted days and the rest add up (sinks/finalize.py).
    `days`: bound parameters of the counted days, the versions of their counts, and the
    other days (COUNTED_DAYS, looked up by the caller); `counted`: whether any day is.
    A counted day's rows are those of its current count (version >= the totals row's): a
    recount writes every key anew, so a key an earlier count left (an exit page the visit
    moved on from) is not read."""
    counted_days, versions, open_days = days
    def row(given: dict[str, str]) -> str:
        return ", ".join(f"{given.get(m, _ZERO.get(m, 'toInt64(0)'))} AS x_{m}"
                         for m in measures)
    numbers = f"SELECT day AS rday, value, {row({'visitors': 'visitors'})}\n" \
              f"FROM rollup_daily_visitors FINAL WHERE {where} AND day IN {counted_days}" \
              f" AND version >= transform(day, {counted_days}, {versions}, toUInt64(0))"
    states, merge = "rollup_daily", "uniqMerge(visitors)"
    if exits:  # exit pages of days not counted yet: the visits as they ended, from raw
        states, merge = exit_page_visits(open_days), EXIT_VISITORS
    merged = f"SELECT {'day' if by_day else 'toDate(0)'} AS rday, value, " \
             f"{row({'visitors': merge})}\n" \
             f"FROM {states} WHERE {where} AND day IN {open_days}\n" \
             f"GROUP BY {'day, ' if by_day else ''}value"
    parts = [numbers, merged] if counted else [merged]
    if len(measures) > 1:
        cast = {m: f"toUInt64({sums[m]})" if m in ("pageviews", "events")
                else f"toInt64({sums[m]})" for m in measures if m != "visitors"}
        parts.append(f"SELECT day AS rday, value, {row(cast)}\nFROM rollup_daily WHERE {where}")
    return "\nUNION ALL\n".join(parts)


def _raw_plan(query: StatsQuery, goals: GoalSet, revenue: Revenue | None) -> Plan:
    needed = needed_measures(query)
    touches_sessions_only = bool(SESSION_ONLY & (set(query.dimensions)
                                                 | filter_dimensions(query.filters)))
    event_dimension = any(is_event_dimension(d) for d in query.dimensions)
    engagement = [_engagement_statement(query, goals, kind) for kind in ("scroll", "engaged")
                  if needed & set(SCROLL_MEASURES if kind == "scroll" else ENGAGED_MEASURES)]
    if touches_sessions_only and not event_dimension and not needed & set(REVENUE_MEASURES):
        measures = tuple(m for m in MEASURES if m in needed)
        return Plan("raw", "sessions",
                    (_sessions_statement(query, measures, goals), *engagement))
    visit_needed = tuple(m for m in MEASURES if m in needed & VISIT_MEASURES)
    use_events = bool(needed & {"pageviews", "events", *REVENUE_MEASURES}) or not visit_needed
    statements = []
    if use_events:
        event_measures = ("visitors", "pageviews", "events", *REVENUE_MEASURES)
        statements.append(_events_statement(
            query, tuple(m for m in event_measures if m in needed), goals, revenue))
    if visit_needed:
        extra = () if use_events else ("visitors",)
        statements.append(_sessions_statement(query, extra + visit_needed, goals))
    return Plan("raw", "events" if use_events else "sessions", (*statements, *engagement))


def _raw_params(query: StatsQuery, goals: GoalSet) -> _Params:
    start, stop = _bounds(query)
    return _Params({
        "site": query.site_id, "start": start, "stop": stop,
        "start_day": query.date_range.first_day(), "tz": query.date_range.timezone,
        # Sessions may start up to a day before an event of theirs, events may follow a
        # session's start by up to a day: the cross-table subqueries widen their windows.
        "session_start": start - dt.timedelta(days=1), "event_stop": stop + dt.timedelta(days=1),
        **goals.sql_parameters(),
    })


def _event_column(dimension: str, params: _Params) -> str:
    """The String expression of an event dimension (props: '(none)' when unset, as Plausible)."""
    if is_props(dimension):
        key = params.bind(prop_key(dimension), "String")
        return f"if(props[{key}] != '', props[{key}], '(none)')"
    return display_sql(dimension, EVENT_COLUMNS[dimension], params.bind)


def _event_leaf(leaf: Condition, params: _Params) -> str:
    """A condition on one event row (goal: any goal the event converts on)."""
    if leaf.dimension == "event:goal":
        return f"arrayExists(goal -> {_condition_sql('goal', leaf, params)}, {GOAL_EXPRESSION})"
    return _condition_sql(_event_column(leaf.dimension, params), leaf, params)


def _event_dimension_sql(dimension: str, params: _Params) -> str:
    if dimension in TIME_DIMENSIONS:
        return TIME_EXPRESSIONS[dimension].format(col="ts")
    if dimension == "event:goal":
        return f"arrayJoin({GOAL_EXPRESSION})"  # one row per goal the event converts on
    return _event_column(dimension, params)


def _behaviour_sql(node: Behaviour, params: _Params) -> str:
    """Visits that had (has_done) or never had (has_not_done) an event matching the child."""
    had = ("session_id IN (SELECT session_id FROM events WHERE site = {site:String}"
           f" AND ts >= {{session_start:{TS}}} AND ts < {{event_stop:{TS}}}"
           " AND session_id != 0 AND name != 'engagement' AND "
           f"{_tree_sql((node.child,), lambda leaf: _event_leaf(leaf, params))})")
    return had if node.operator == "has_done" else f"session_id != 0 AND NOT ({had})"


def _events_where(query: StatsQuery, params: _Params) -> str:
    def leaf_sql(leaf: Condition) -> str:
        if leaf.dimension in SESSION_ONLY:
            matches = _condition_sql(_session_column(leaf.dimension, params), leaf, params)
            return ("session_id IN (SELECT session_id FROM sessions WHERE site = {site:String}"
                    f" AND start >= {{session_start:{TS}}} AND start < {{stop:{TS}}}"
                    f" AND {matches} GROUP BY session_id HAVING sum(sign) > 0)")
        return _event_leaf(leaf, params)
    return _tree_sql(query.filters, leaf_sql, lambda node: _behaviour_sql(node, params))


def _events_statement(query: StatsQuery, measures: tuple[str, ...], goals: GoalSet,
                      revenue: Revenue | None) -> Statement:
    params = _raw_params(query, goals)
    dims = [f"{_event_dimension_sql(d, params)} AS d{i}" for i, d in enumerate(query.dimensions)]
    if revenue is None or revenue.warning:
        in_currency = "0"
    elif revenue.by_goal:
        goal = f"d{query.dimensions.index('event:goal')}"
        in_currency = f"revenue_currency = {REVENUE_CURRENCY_OF.format(goal=goal)}"
    else:
        in_currency = f"revenue_currency = {params.bind(revenue.currency, 'String')}"
    exprs = {"visitors": "uniqIf(visitor_id, visitor_id != 0)",
             "pageviews": "countIf(name = 'pageview')", "events": "count()",
             # revenue in thousandths (Decimal(18, 3) is exact there), and conversions with one
             "revenue_milli": f"toInt64(ifNull(sumIf(revenue_amount, {in_currency}), 0) * 1000)",
             "revenue_count": f"countIf(revenue_amount IS NOT NULL AND {in_currency})"}
    where = _events_where(query, params)
    select = [*dims, *(f"{exprs[m]} AS m_{m}" for m in measures)]
    # By goal and no pageview goal configured: page views convert on nothing, so they are
    # left out up front, which the sorting key (site, day, name, ts) turns into skipped
    # granules (~90 % of a site's events are page views). The answer is the same.
    names = ("name NOT IN ('" + "', '".join(NOT_GOALS) + "')"
             if "event:goal" in query.dimensions and not goals.sql_parameters()["page_goal_names"]
             else "name != 'engagement'")
    sql = (f"SELECT {', '.join(select)}\nFROM events\nWHERE site = {{site:String}}"
           f" AND ts >= {{start:{TS}}} AND ts < {{stop:{TS}}}\n  AND {names}"
           f" AND {where}{_group_by(query)}")
    return Statement(sql, params.values, measures)


def _engagement_statement(query: StatsQuery, goals: GoalSet, kind: str) -> Statement:
    """Engagement events (one per page view left): scroll depth or engaged time per group.

    scroll: Plausible's average over visitors of each visitor's deepest scroll on the group
    (special_metrics.ex, maybe_add_scroll_depth); unreported depths (-1) are left out.
    engaged: total engaged milliseconds and the visits they belong to (time_on_page =
    seconds per visit). Events without a visitor or session (no consent) are left out.
    """
    params = _raw_params(query, goals)
    dims = [f"{_event_dimension_sql(d, params)} AS d{i}" for i, d in enumerate(query.dimensions)]
    where = (f"site = {{site:String}} AND ts >= {{start:{TS}}} AND ts < {{stop:{TS}}}"
             f"\n  AND name = 'engagement' AND {_events_where(query, params)}")
    outer_dims = [f"d{i}" for i in range(len(query.dimensions))]
    if kind == "scroll":
        inner = ", ".join([*dims, "visitor_id", "max(least(scroll_depth, 100)) AS deepest"])
        outer = ", ".join([*outer_dims, "toInt64(sum(deepest)) AS m_scroll_total",
                           "toInt64(count()) AS m_scroll_visitors"])
        sql = (f"SELECT {outer}"
               f"\nFROM (\n  SELECT {inner}\n  FROM events\n  WHERE {where}"
               " AND scroll_depth >= 0 AND visitor_id != 0"
               f"\n  GROUP BY {', '.join([*outer_dims, 'visitor_id'])}\n){_group_by(query)}")
        return Statement(sql, params.values, SCROLL_MEASURES)
    select = [*dims, "toInt64(sum(engagement_ms)) AS m_engaged_ms",
              "toInt64(uniq(session_id)) AS m_engaged_visits"]
    sql = (f"SELECT {', '.join(select)}\nFROM events\nWHERE {where} AND session_id != 0"
           f"{_group_by(query)}")
    return Statement(sql, params.values, ENGAGED_MEASURES)


def _session_column(dimension: str, params: _Params) -> str:
    """The answered (Plausible-vocabulary) value of a visit dimension on `sessions`."""
    return display_sql(dimension, SESSION_COLUMNS[dimension], params.bind)


def _sessions_statement(query: StatsQuery, measures: tuple[str, ...],
                        goals: GoalSet) -> Statement:
    """Collapse each session exactly (Σ sign per session) before aggregating; never FINAL.

    Event dimensions (visit metrics by event:page, event:hostname, props, …) join each live
    session to the distinct values of its events (Plausible: a page's visits are the visits
    that had an event on it), restricted by the top-level event filters. Bounces count, as
    Plausible's, only the visits that *entered* on the page of an event:page dimension or
    top-level event:page filter: then `bounce_visits` (those visits) is the divisor.
    """
    params = _raw_params(query, goals)
    outer = {"visitors": "uniqIf(visitor_id, s_live > 0)", "visits": "sum(s_live)",
             "bounces": "sum(s_bounces)", "duration": "sum(s_duration)",
             "visit_pageviews": "sum(s_pageviews)", "pageviews": "sum(s_pageviews)",
             "events": "sum(s_events)"}

    def leaf_sql(leaf: Condition) -> str:
        if leaf.dimension not in SESSION_COLUMNS:  # an event dimension: sessions having one
            return ("session_id IN (SELECT session_id FROM events WHERE site = {site:String}"
                    f" AND ts >= {{start:{TS}}} AND ts < {{event_stop:{TS}}}"
                    f" AND session_id != 0 AND {_event_leaf(leaf, params)})")
        return _condition_sql(_session_column(leaf.dimension, params), leaf, params)

    where = _tree_sql(query.filters, leaf_sql, lambda node: _behaviour_sql(node, params))
    joined = [i for i, d in enumerate(query.dimensions) if is_event_dimension(d)]
    inner_dims = [f"{TIME_EXPRESSIONS[d].format(col='start') if d in TIME_DIMENSIONS else _session_column(d, params)} AS d{i}"  # noqa: E501
                  for i, d in enumerate(query.dimensions) if i not in joined]
    inner = ", ".join(["session_id", "visitor_id", *inner_dims, "any(entry_page) AS s_entry",
                       "sum(sign) AS s_live", "sum(sign * is_bounce) AS s_bounces",
                       "sum(sign * duration) AS s_duration", "sum(sign * pageviews) AS s_pageviews",
                       "sum(sign * events) AS s_events"])
    inner_group = "".join(f", d{i}" for i in range(len(query.dimensions)) if i not in joined)
    entered = [f"s_entry = d{i}" for i in joined if query.dimensions[i] == "event:page"]
    entered += [_condition_sql("s_entry", node, params) for node in query.filters
                if isinstance(node, Condition) and node.dimension == "event:page"]
    if entered and "bounces" in measures:
        condition = " AND ".join(f"({c})" for c in entered)
        outer["bounces"] = f"sumIf(s_bounces, {condition})"
        outer["bounce_visits"] = f"sumIf(s_live, {condition})"
        measures = (*measures, "bounce_visits")
    outer_select = [*(f"d{i}" for i in range(len(query.dimensions))),
                    *(f"{outer[m]} AS m_{m}" for m in measures)]
    source = (f"(\n  SELECT {inner}\n  FROM sessions"
              f"\n  WHERE site = {{site:String}} AND start >= {{start:{TS}}}"
              f" AND start < {{stop:{TS}}}\n    AND {where}"
              f"\n  GROUP BY session_id, visitor_id{inner_group}"
              "\n  HAVING s_live != 0"  # a superseded state (+1 and -1 only) adds nothing
              "\n)")
    if joined:
        event_filters = tuple(node for node in query.filters if not isinstance(node, Behaviour)
                              and all(is_event_dimension(leaf.dimension)
                                      for leaf in filter_leaves((node,))))
        values = ", ".join(f"{_event_dimension_sql(query.dimensions[i], params)} AS d{i}"
                           for i in joined)
        source = (f"{source} AS s\nINNER JOIN (\n  SELECT DISTINCT session_id, {values}"
                  "\n  FROM events WHERE site = {site:String}"
                  f" AND ts >= {{start:{TS}}} AND ts < {{event_stop:{TS}}}"
                  "\n    AND session_id != 0 AND name != 'engagement' AND "
                  f"{_tree_sql(event_filters, lambda leaf: _event_leaf(leaf, params))}"
                  "\n) AS e USING (session_id)")
    sql = f"SELECT {', '.join(outer_select)}\nFROM {source}{_group_by(query)}"
    return Statement(sql, params.values, measures)
