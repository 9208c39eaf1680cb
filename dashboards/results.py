"""Turn measured rows into a Stats API answer: merge, suppress, compute, order, paginate.

Pure. The order of the steps is the privacy contract: rows with fewer than k visitors are
removed first, so neither ordering, total_rows nor offset/limit can reveal them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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


def suppression_applies(query: StatsQuery) -> bool:
    """Breakdowns (a non-time dimension) and filtered queries are subject to k-anonymity."""
    return bool(query.filters) or any(d not in TIME_DIMENSIONS for d in query.dimensions)


def suppress(rows: list[Row], *, k: int, applies: bool) -> tuple[list[Row], int]:
    """Drop rows with fewer than k visitors when `applies`; return (kept, number dropped)."""
    if not applies:
        return rows, 0
    kept = [row for row in rows if row.get("visitors") >= k]
    return kept, len(rows) - len(kept)


def _ratio_half_up(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded half up, in integers (floats misround 1.665 and such)."""
    return (2 * numerator + denominator) // (2 * denominator)


def metric_value(metric: str, row: Row) -> int | float:
    """A Stats API metric from base measures; ratios are 0 when there are no visits."""
    visits = row.get("visits")
    if metric == "bounce_rate":
        return _ratio_half_up(100 * row.get("bounces"), visits) if visits > 0 else 0
    if metric == "visit_duration":
        return _ratio_half_up(row.get("duration"), visits) if visits > 0 else 0
    if metric == "views_per_visit":
        return _ratio_half_up(100 * row.get("visit_pageviews"), visits) / 100 if visits > 0 else 0.0
    return row.get(metric)


def order_rows(rows: list[tuple[tuple[str, ...], list[int | float]]],
               query: StatsQuery) -> list[tuple[tuple[str, ...], list[int | float]]]:
    """Sort by query.order_by, ties broken by the dimension values, so pages are stable."""
    ordered = sorted(rows, key=lambda r: r[0])
    for name, direction in reversed(query.order_by):
        if name in query.metrics:
            index = query.metrics.index(name)
            ordered.sort(key=lambda r: r[1][index], reverse=direction == "desc")
        else:
            index = query.dimensions.index(name)
            ordered.sort(key=lambda r: r[0][index], reverse=direction == "desc")
    return ordered


def build_answer(query: StatsQuery, rows: list[Row], *, k: int) -> tuple[list[dict[str, Any]],
                                                                         dict[str, Any]]:
    """(results, meta) for merged rows: suppress, compute metrics, order, count, paginate."""
    kept, suppressed = suppress(rows, k=k, applies=suppression_applies(query))
    computed = [(row.dimensions, [metric_value(m, row) for m in query.metrics]) for row in kept]
    ordered = order_rows(computed, query)
    page = ordered[query.offset:query.offset + query.limit]
    meta: dict[str, Any] = {"suppressed_rows": suppressed, "k": k}
    if query.include_total_rows:
        meta["total_rows"] = len(ordered)
    return [{"metrics": metrics, "dimensions": list(dims)} for dims, metrics in page], meta
