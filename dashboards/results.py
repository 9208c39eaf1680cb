"""Turn measured rows into a Stats API answer: merge, suppress, compute, order, paginate.

Pure. The order of the steps is the privacy contract: rows with fewer than k visitors are
removed first, so neither ordering, total_rows nor offset/limit can reveal them.

Every released number is a row here (an aggregate is one row, a time series one row per
bucket), so the rule is the same for totals, buckets and breakdowns: with k > 1 a row is
withheld when its visitors are under k, zero included — "withheld" then never tells
"nobody" from "a few". How many rows were withheld is not reported (it would answer
guesses: docs/privacy.md, "No oracles"). With k = 1 nothing is withheld and an aggregate
over no data answers zeros, as Plausible does.

Complementary suppression: the rows of a breakdown add up to (about) the total of the
same query without the dimension, so "total minus the rows shown" would give the
withheld rows' visitors. When those come to 1..k-1, the smallest released rows are
withheld as well, until the withheld group holds at least k visitors (or nothing is
left to release): the difference then never isolates fewer than k.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import format_compact_currency, format_currency

from dashboards.goals import REVENUE_WARNINGS, GoalSet, Revenue
from dashboards.query import TIME_DIMENSIONS, StatsQuery


@dataclass(frozen=True, slots=True)
class Row:
    """One dimension-value tuple and its base measures (visitors, pageviews, visits, …)."""

    dimensions: tuple[str, ...]
    measures: Mapping[str, int] = field(default_factory=dict)

    def get(self, measure: str) -> int:
        return int(self.measures.get(measure, 0))


def merge_rows(parts: Iterable[tuple[Sequence[str], Iterable[Sequence[Any]]]],
               dimension_count: int) -> list[Row]:
    """Join the rows of several statements on their dimension tuple (missing measures: 0).

    Each part is (measure names, rows); a row is the dimension values then the measures.
    A query without dimensions always yields exactly one row, even over no data.
    """
    merged: dict[tuple[str, ...], dict[str, int]] = {}
    for measures, rows in parts:
        for row in rows:
            key = tuple(str(v) for v in row[:dimension_count])
            target = merged.setdefault(key, {})
            for name, value in zip(measures, row[dimension_count:], strict=True):
                target[name] = target.get(name, 0) + int(value)
    if dimension_count == 0 and not merged:
        merged[()] = {}
    return [Row(key, values) for key, values in merged.items()]


def suppress(rows: list[Row], *, k: int) -> tuple[list[Row], int]:
    """Drop every row under k visitors (zero included when k > 1); (kept, number dropped).

    With k = 1 nothing is dropped: an aggregate of all zeros stays, as Plausible answers it.
    """
    if k <= 1:
        return rows, 0
    kept = [row for row in rows if row.get("visitors") >= k]
    return kept, len(rows) - len(kept)


def complement(rows: list[Row], kept: list[Row], *, k: int) -> list[Row]:
    """Also withhold the smallest kept rows until the withheld ones hold 0 or >= k visitors.

    `rows` are all the rows measured, `kept` those that survived suppression. The sum of
    the withheld rows' visitors is what "total minus the rows shown" reveals (exactly so
    for a dimension that splits visitors, such as browser or country).
    """
    if k <= 1:
        return kept
    released = {row.dimensions for row in kept}
    hidden = sum(row.get("visitors") for row in rows if row.dimensions not in released)
    if hidden == 0 or hidden >= k:
        return kept
    extra: set[tuple[str, ...]] = set()
    for row in sorted(kept, key=lambda r: (r.get("visitors"), r.dimensions)):
        if hidden >= k:
            break
        extra.add(row.dimensions)
        hidden += row.get("visitors")
    return [row for row in kept if row.dimensions not in extra]


def non_time_key(query: StatsQuery, dimensions: tuple[str, ...]) -> tuple[str, ...]:
    """A row's values of the query's non-time dimensions (the key of a slice check)."""
    return tuple(v for d, v in zip(query.dimensions, dimensions, strict=True)
                 if d not in TIME_DIMENSIONS)


def _ratio_half_up(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded half up, in integers (floats misround 1.665 and such)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True, slots=True)
class Context:
    """What metrics need beyond a row's measures: divisors and the revenue currencies.

    `totals[metric]` = (positions of the query dimensions the divisor is grouped by,
    visitors per such group); `revenue` says in which currency revenue is reported.
    """

    totals: Mapping[str, tuple[tuple[int, ...], Mapping[tuple[str, ...], int]]] = \
        field(default_factory=dict)
    revenue: Revenue | None = None
    goals: GoalSet = field(default_factory=GoalSet)
    goal_position: int = -1  # index of event:goal among the query dimensions


def totals_by_group(positions: tuple[int, ...], rows: Iterable[Sequence[Any]]
                    ) -> dict[tuple[str, ...], int]:
    """{group: visitors} from a divisor statement's rows (group values, then visitors)."""
    width = len(positions)
    return {tuple(str(v) for v in row[:width]): int(row[width]) for row in rows}


def revenue_object(milli: int, currency: str) -> dict[str, Any]:
    """Plausible's Revenue: {short, long, value, currency}, formatted for en-US as Plausible.

    Source: docs/stats-api.md of plausible/docs ("Revenue metric response type").
    """
    amount = Decimal(milli) / 1000
    value: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
    # CLDR's short format compacts from 1000 on ($96.3M); below, one fraction digit ($49.8).
    short = (format_compact_currency(amount, currency, locale="en_US", fraction_digits=1)
             if abs(amount) >= 1000 else
             format_currency(amount, currency, format="¤#,##0.0", locale="en_US",
                             currency_digits=False))
    return {"short": short,
            "long": format_currency(amount, currency, locale="en_US"),
            "value": value, "currency": currency}


def _revenue(metric: str, row: Row, context: Context) -> dict[str, Any] | None:
    plan = context.revenue
    if plan is None or plan.warning:
        return None
    currency = (context.goals.currency_of(row.dimensions[context.goal_position])
                if plan.by_goal else plan.currency)
    if not currency:
        return None
    milli, count = row.get("revenue_milli"), row.get("revenue_count")
    if metric == "average_revenue":
        milli = _ratio_half_up(milli, count) if count else 0
    return revenue_object(milli, currency)


def _share(metric: str, row: Row, context: Context) -> float | None:
    """visitors / divisor * 100, one decimal, as Plausible's round(x / y * 100, 1)."""
    positions, totals = context.totals[metric]
    total = totals.get(tuple(row.dimensions[i] for i in positions), 0)
    if total <= 0:
        return None if metric == "percentage" else 0.0
    return _ratio_half_up(1000 * row.get("visitors"), total) / 10


def metric_value(metric: str, row: Row, context: Context | None = None) -> Any:
    """A Stats API metric from base measures; ratios are 0 when there are no visits."""
    if metric in ("percentage", "conversion_rate", "group_conversion_rate"):
        return _share(metric, row, context or Context())
    if metric in ("total_revenue", "average_revenue"):
        return _revenue(metric, row, context or Context())
    if metric == "scroll_depth":
        seen = row.get("scroll_visitors")
        return _ratio_half_up(row.get("scroll_total"), seen) if seen else 0
    if metric == "time_on_page":
        visits = row.get("engaged_visits")
        return _ratio_half_up(row.get("engaged_ms"), 1000 * visits) if visits else 0
    visits = row.get("visits")
    if metric == "bounce_rate":  # over the visits that entered on the page, where one is set
        entered = row.get("bounce_visits") if "bounce_visits" in row.measures else visits
        return _ratio_half_up(100 * row.get("bounces"), entered) if entered > 0 else 0
    if metric == "visit_duration":
        return _ratio_half_up(row.get("duration"), visits) if visits > 0 else 0
    if metric == "views_per_visit":
        return _ratio_half_up(100 * row.get("visit_pageviews"), visits) / 100 if visits > 0 else 0.0
    return row.get(metric)


def _sortable(value: Any) -> float:
    """A metric as a sort key: revenue by its value, null lowest."""
    if isinstance(value, dict):
        return float(value["value"])
    return float("-inf") if value is None else float(value)


def order_rows(rows: list[tuple[tuple[str, ...], list[Any]]],
               query: StatsQuery) -> list[tuple[tuple[str, ...], list[Any]]]:
    """Sort by query.order_by, ties broken by the dimension values, so pages are stable."""
    ordered = sorted(rows, key=lambda r: r[0])
    for name, direction in reversed(query.order_by):
        if name in query.metrics:
            index = query.metrics.index(name)
            ordered.sort(key=lambda r: _sortable(r[1][index]), reverse=direction == "desc")
        else:
            index = query.dimensions.index(name)
            ordered.sort(key=lambda r: r[0][index], reverse=direction == "desc")
    return ordered


def time_labels(query: StatsQuery) -> list[str]:
    """Every bucket label of the query's time dimension over its date range (Plausible's
    include.time_labels), in the format of the dimension's values."""
    span = query.date_range
    start, stop = span.start, span.stop
    if start is None:
        return []
    time = next(d for d in query.dimensions if d in TIME_DIMENSIONS)
    labels: list[str] = []
    if time == "time:hour":  # local hours: 23 on a spring-forward day, 25 in autumn
        moment = start.replace(minute=0, second=0, microsecond=0)
        while moment < stop:
            hour = span.local(moment).strftime("%Y-%m-%d %H:00:00")
            if hour not in labels[-2:]:
                labels.append(hour)
            moment += dt.timedelta(hours=1)
        return labels
    first = span.first_day()
    day, last = first, span.last_day()
    while day <= last:
        if time == "time:week":
            label = max(day - dt.timedelta(days=day.weekday()), first)
        elif time == "time:month":
            label = day.replace(day=1)
        else:
            label = day
        if not labels or labels[-1] != label.isoformat():
            labels.append(label.isoformat())
        day += dt.timedelta(days=1)
    return labels


def build_answer(query: StatsQuery, rows: list[Row], *, k: int, context: Context | None = None,
                 withheld: frozenset[tuple[str, ...]] = frozenset()
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(results, meta) for merged rows: suppress, compute metrics, order, count, paginate.

    `withheld`: non-time dimension keys (non_time_key) to drop as well, before anything
    else sees the rows (dashboards.guard's slice check of overlapping date ranges).
    """
    context = context or Context()
    kept, _ = suppress(rows, k=k)
    if withheld:
        kept = [row for row in kept if non_time_key(query, row.dimensions) not in withheld]
    if query.dimensions:
        kept = complement(rows, kept, k=k)
    if (k <= 1 and query.comparison is not None and len(query.dimensions) == 1
            and query.dimensions[0] in TIME_DIMENSIONS):
        # Plausible: a compared time series has a row per bucket, zeros where nothing was.
        # Only without k-anonymity: with k > 1 an empty bucket is withheld like a thin one,
        # so that "nobody" and "a few" look alike.
        seen = {row.dimensions for row in kept}
        kept += [Row((label,)) for label in time_labels(query) if (label,) not in seen]
    computed = [(row.dimensions, [metric_value(m, row, context) for m in query.metrics])
                for row in kept]
    ordered = order_rows(computed, query)
    page = ordered[query.offset:query.offset + query.limit]
    meta: dict[str, Any] = {"k": k}
    if query.include_total_rows:
        meta["total_rows"] = len(ordered)
    if "imports" in dict(query.include):
        meta["imports_included"] = False  # crumbless has no imported data
    if query.includes("time_labels"):
        meta["time_labels"] = time_labels(query)
    if context.revenue is not None and context.revenue.warning:
        code = context.revenue.warning
        meta["metric_warnings"] = {
            m: {"code": code, "warning": REVENUE_WARNINGS[code]}
            for m in query.metrics if m in ("total_revenue", "average_revenue")}
    return [{"metrics": metrics, "dimensions": list(dims)} for dims, metrics in page], meta
