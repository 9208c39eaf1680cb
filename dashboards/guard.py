"""k-anonymity against a determined caller: filter-leaf coverage, hour snapping, and the
ledger of date ranges a caller has already been answered.

Pure except for RangeLedger's in-memory state (a lock and a dict). The shell
(dashboards.stats) runs the probe queries this module builds and feeds the counts back.
The threat model and what each rule does and does not hold is in docs/privacy.md.

Rules (exact mode, k > 1):
- Every filter leaf, value by value, in its *positive* form (`is_not` → `is`,
  `contains_not` → `contains`, `matches_not` → `matches`; the same case modifier), over
  the queried range and with no other filter, must cover at least k visitors — zero
  included — or the query is refused (TooNarrow, a 400 naming the leaf and the value,
  never a count). Excluding a group reveals as much as selecting it; refusing zero as well
  as 1..k-1 makes the refusal say only "fewer than k", never "somebody".
- A `contains`/`matches` pattern (and its `_not` form) matches only values that each
  cover at least k visitors in the queried range (`common_pattern_values`): it is resolved
  to the list of such values before anything is measured, so a broad pattern that would
  also catch a rare value (`^/(common|secret)`) answers exactly as if the rare value did
  not exist — a right guess and a wrong one get the same numbers.
- Date ranges snap outward to whole hours of the site's zone (`snap_to_hours`).
- A caller's answered ranges are remembered for the UTC day (RangeLedger). A new range
  that overlaps a remembered one and differs from it is refused if a slice of the
  difference (`slices`) holds 1..k-1 visitors under the query's filters; rows of a
  breakdown whose own slice count is 1..k-1 are withheld. A slice of nobody changes no
  number and is allowed (refusing it would refuse "today" then "7 days" on a quiet site).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from contract.errors import BadQuery
from dashboards.query import (
    TIME_DIMENSIONS,
    Behaviour,
    Combine,
    Condition,
    DateRange,
    FilterNode,
    Negate,
    StatsQuery,
)

ONE_HOUR = dt.timedelta(hours=1)
POSITIVE = {"is": "is", "is_not": "is", "contains": "contains", "contains_not": "contains",
            "matches": "matches", "matches_not": "matches"}
MAX_LEAF_VALUES = 64  # values over all leaves of one query; each costs one probe
MAX_RANGES_PER_DAY = 64  # distinct date ranges one caller may ask per site per UTC day


class TooNarrow(BadQuery):
    """A filter leaf, or the difference from an earlier range, covers fewer than k visitors."""

    status = 400


class TooManyRanges(BadQuery):
    """The caller asked more distinct date ranges today than the ledger audits."""

    status = 429


@dataclass(frozen=True, slots=True)
class Probe:
    """One leaf value to count: `query` is the visitors-only aggregate of it alone."""

    field: str  # where the client wrote it, e.g. filters[0][1][2][1]
    value: str
    query: StatsQuery


PATTERN_OPERATORS = frozenset({"contains", "contains_not", "matches", "matches_not"})
UNRESOLVED_DIMENSIONS = frozenset({"event:goal"})  # goals match by their own definition


def visitors_query(query: StatsQuery, *, dimensions: tuple[str, ...],
                   filters: tuple[FilterNode, ...] | None = None,
                   date_range: DateRange | None = None) -> StatsQuery:
    """`query` reduced to exact visitors by `dimensions`: the shape of every probe.

    Its own filters and range unless others are given; no ordering, paging, include or
    comparison (a probe's counts are only read here, never released).
    """
    return dataclasses.replace(
        query, metrics=("visitors",), dimensions=dimensions,
        filters=query.filters if filters is None else filters,
        date_range=query.date_range if date_range is None else date_range,
        order_by=(), offset=0, include_total_rows=False, include=(), comparison=None)


def pattern_probe(query: StatsQuery, leaf: Condition) -> StatsQuery:
    """Visitors per value of `leaf`'s dimension among the values its positive form matches,
    over the query's range and with no other filter."""
    positive = Condition(POSITIVE[leaf.operator], leaf.dimension, leaf.values,
                         leaf.case_sensitive)
    return visitors_query(query, dimensions=(leaf.dimension,), filters=(positive,))


def common_pattern_values(nodes: tuple[FilterNode, ...],
                          common: Callable[[Condition], tuple[str, ...]]
                          ) -> tuple[FilterNode, ...]:
    """The filter tree with every pattern leaf replaced by an `is`/`is_not` list of the
    values it matches that cover at least k visitors (`common` finds them)."""
    def walk(node: FilterNode) -> FilterNode:
        if isinstance(node, Condition):
            if (node.operator in PATTERN_OPERATORS
                    and node.dimension not in UNRESOLVED_DIMENSIONS):
                negated = node.operator.endswith("_not")
                return Condition("is_not" if negated else "is", node.dimension, common(node))
            return node
        if isinstance(node, Combine):
            return dataclasses.replace(node, children=tuple(walk(c) for c in node.children))
        return dataclasses.replace(node, child=walk(node.child))  # Negate, Behaviour
    return tuple(walk(node) for node in nodes)


def leaves_with_paths(nodes: tuple[FilterNode, ...]) -> Iterator[tuple[str, Condition]]:
    """(field path as the client wrote it, leaf) for every condition, under and/or/not and
    has_done/has_not_done."""
    def walk(node: FilterNode, path: str) -> Iterator[tuple[str, Condition]]:
        if isinstance(node, Condition):
            yield path, node
        elif isinstance(node, Combine):
            for i, child in enumerate(node.children):
                yield from walk(child, f"{path}[1][{i}]")
        elif isinstance(node, Negate | Behaviour):
            yield from walk(node.child, f"{path}[1]")
    for i, node in enumerate(nodes):
        yield from walk(node, f"filters[{i}]")


def leaf_probes(query: StatsQuery) -> list[Probe]:
    """The single-value, positive-form probes of every leaf of `query` (resolved range).

    Raises BadQuery when the query has more than MAX_LEAF_VALUES values in all.
    """
    probes: list[Probe] = []
    for field, leaf in leaves_with_paths(query.filters):
        for i, value in enumerate(leaf.values):
            alone = Condition(POSITIVE[leaf.operator], leaf.dimension, (value,),
                              leaf.case_sensitive)
            probes.append(Probe(f"{field}[2][{i}]", value,
                                visitors_query(query, dimensions=(), filters=(alone,))))
    if len(probes) > MAX_LEAF_VALUES:
        raise BadQuery(f"filters: at most {MAX_LEAF_VALUES} values in all leaves together")
    return probes


def too_narrow(probe: Probe, k: int) -> TooNarrow:
    """The refusal for a leaf value under k: names it, never says its count."""
    return TooNarrow(f"{probe.field}: {probe.value[:60]!r} is too narrow: it matches fewer than "
                     f"k={k} visitors in this date range (no count is given for values under k)")


def snap_to_hours(date_range: DateRange) -> DateRange:
    """The smallest range of whole hours of the site's zone holding `date_range`.

    Start down, stop up. Hours are the zone's own (a zone 30 minutes off UTC snaps to its
    half hours), so a local-day range is left as it is.
    """
    def floor(t: dt.datetime) -> dt.datetime:
        local = date_range.local(t)
        return (local - dt.timedelta(minutes=local.minute, seconds=local.second,
                                     microseconds=local.microsecond)).astimezone(dt.UTC)
    start = floor(date_range.start) if date_range.start is not None else None
    stop = floor(date_range.stop)
    if stop < date_range.stop:
        stop += ONE_HOUR
    return dataclasses.replace(date_range, start=start, stop=stop)


def slices(new: DateRange, old: DateRange) -> list[DateRange]:
    """The pieces by which two overlapping ranges differ: up to one at each end.

    Empty when the ranges are equal or do not overlap (disjoint ranges are separate
    answers, each suppressed on its own).
    """
    assert new.start is not None and old.start is not None
    if new == old or new.stop <= old.start or old.stop <= new.start:
        return []
    pieces = []
    if new.start != old.start:
        pieces.append(DateRange(min(new.start, old.start), max(new.start, old.start),
                                new.timezone))
    if new.stop != old.stop:
        pieces.append(DateRange(min(new.stop, old.stop), max(new.stop, old.stop),
                                new.timezone))
    return pieces


def slice_query(query: StatsQuery, piece: DateRange) -> StatsQuery:
    """`query`'s filters over `piece`, visitors only, by its non-time dimensions."""
    dims = tuple(d for d in query.dimensions if d not in TIME_DIMENSIONS)
    return visitors_query(query, dimensions=dims, date_range=piece)


class RangeLedger:
    """The date ranges each (caller, site) was answered today (UTC), in memory.

    Reset at each UTC midnight and when the process restarts (docs/privacy.md says what
    that allows). Thread-safe: the Flask app may serve requests on several threads.
    """

    def __init__(self, max_ranges: int = MAX_RANGES_PER_DAY) -> None:
        self._max = max_ranges
        self._day: dt.date | None = None
        self._ranges: dict[tuple[str, str], list[DateRange]] = {}
        self._lock = threading.Lock()

    def earlier(self, caller: str, site: str, today: dt.date) -> list[DateRange]:
        """The ranges `caller` was answered for `site` today, oldest first."""
        with self._lock:
            if self._day != today:
                self._day, self._ranges = today, {}
            return list(self._ranges.get((caller, site), []))

    def check_room(self, caller: str, site: str, date_range: DateRange) -> None:
        """Raise TooManyRanges if `date_range` is new and the caller's day is full."""
        with self._lock:
            known = self._ranges.get((caller, site), [])
            if date_range not in known and len(known) >= self._max:
                raise TooManyRanges(f"date_range: at most {self._max} different date ranges "
                                    "per site and day; ask one of the ranges already asked")

    def record(self, caller: str, site: str, date_range: DateRange) -> None:
        with self._lock:
            known = self._ranges.setdefault((caller, site), [])
            if date_range not in known:
                known.append(date_range)
