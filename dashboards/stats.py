"""The Stats API's I/O shell: run a planned StatsQuery on ClickHouse and shape the answer.

Planning (dashboards.plan) and result shaping (dashboards.results) are pure; this module
only resolves "all" to the oldest stored day, runs the statements through sinks.client
(ClickHouse errors arrive as StorageError) and assembles the response.

Privacy is applied here, once, for every surface (Stats API, dashboards, CSV, shared
links), in this order: snap the range to whole hours; then either the differentially
private mode (dashboards.noise) for a caller that has it, or exact mode: refuse a filter
leaf under k (dashboards.guard), refuse or withhold what differs by under k from a range
the caller was already answered today, withhold every row under k (dashboards.results),
the comparison period included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from contract.errors import BadQuery, StorageError
from dashboards.compare import change, comparison_days
from dashboards.goals import Goal, GoalSet, with_inferred_currencies
from dashboards.guard import (
    RangeLedger,
    TooNarrow,
    common_pattern_values,
    leaf_probes,
    pattern_probe,
    slice_query,
    slices,
    snap_to_hours,
    too_narrow,
)
from dashboards.noise import DpPolicy, PrivacyAccountant, check_dp_query
from dashboards.plan import COUNTED_DAYS, UTC_ZONES, plan_query, reads_daily_visitors
from dashboards.query import (
    MAX_LIMIT,
    TIME_DIMENSIONS,
    Condition,
    DateRange,
    StatsQuery,
    filter_leaves,
    zone,
)
from dashboards.results import (
    Context,
    Row,
    build_answer,
    merge_rows,
    metric_value,
    suppress,
    time_labels,
    totals_by_group,
)
from sinks.client import run

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: `id` keys the range ledger and the privacy budget (an API key's digest,
    a shared link, a login); `dp` asks for the differentially private mode."""

    id: str = "owner"
    dp: bool = False


OWNER = Caller()
COUNTED_TTL_S = 2.0  # how long a range's counted days are taken as looked up


class StatsService:
    """Answers StatsQuery objects from one ClickHouse client, k-anonymity applied."""

    def __init__(self, client: Client, *, k: int, clock: Callable[[], dt.datetime],
                 dp_sites: frozenset[str] = frozenset(),
                 dp_policy: DpPolicy | None = None) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self._client = client
        self._k = k
        self._clock = clock
        self._dp_sites = dp_sites
        self._ledger = RangeLedger()
        self._accountant = PrivacyAccountant(dp_policy or DpPolicy())
        # (site, first day, stop day) -> (monotonic time looked up, counted days); a
        # dashboard asks ~20 questions over one range within a second
        self._counted: dict[tuple[str, dt.date, dt.date], tuple[float, dict[dt.date, int]]] = {}
        self._counted_lock = threading.Lock()

    def caller_for_key(self, key_digest: str, site_id: str) -> Caller:
        """An API key's caller: differentially private when the site is in dp_sites."""
        return Caller(f"key:{key_digest}", dp=site_id in self._dp_sites)

    @property
    def k(self) -> int:
        return self._k

    def now(self) -> dt.datetime:
        """The service's clock in UTC ("24h" ends at it)."""
        now = self._clock()
        return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)

    def today(self, timezone: str = "UTC") -> dt.date:
        """Today in the site's zone by the service's clock; relative date ranges end on it."""
        return self.now().astimezone(zone(timezone)).date()

    def site_exists(self, site_id: str) -> bool:
        """Whether `site_id` is a registered, not deleted site (latest version wins)."""
        return self.site_timezone(site_id) is not None

    def site_timezone(self, site_id: str) -> str | None:
        """The IANA zone of a registered, not deleted site; None if there is no such site."""
        rows = run(self._client, "SELECT argMax(deleted, version), argMax(timezone, version)"
                   " FROM sites WHERE domain = {site:String} GROUP BY domain", {"site": site_id})
        if not rows or rows[0][0] != 0:
            return None
        return str(rows[0][1] or "UTC")

    def resolve(self, query: StatsQuery) -> StatsQuery:
        """The query with date_range "all" starting at the site's oldest stored day."""
        if query.date_range.start is not None:
            return query
        rows = run(self._client, "SELECT toString(min(day)), count() FROM rollup_daily"
                   " WHERE site = {site:String}", {"site": query.site_id})
        stop = query.date_range.stop
        tz = query.date_range.timezone
        if rows and rows[0][1]:
            first = dt.date.fromisoformat(rows[0][0])  # a UTC day: its local day may be earlier
            start = _midnight(first - dt.timedelta(days=0 if tz in UTC_ZONES else 1), tz)
        else:  # no data yet: the range is just today
            start = _midnight(self.today(tz), tz)
        return dataclasses.replace(query, date_range=DateRange(min(start, stop), stop, tz))

    def goals(self, query: StatsQuery) -> GoalSet:
        """The site's configured goals (latest version of each), if the query needs goals;
        with revenue metrics, custom-event goals take the one currency of their stored
        revenue events when none is configured (dashboards.goals.with_inferred_currencies)."""
        needs = ("event:goal" in query.dimensions
                 or any(leaf.dimension == "event:goal" for leaf in filter_leaves(query.filters))
                 or any(m in ("total_revenue", "average_revenue") for m in query.metrics))
        if not needs:
            return GoalSet()
        rows = run(self._client, "SELECT display_name, argMax(event_name, version),"
                   " argMax(page_path, version), argMax(currency, version)"
                   " FROM goals WHERE site = {site:String} GROUP BY display_name"
                   " HAVING argMax(deleted, version) = 0 ORDER BY display_name",
                   {"site": query.site_id})
        configured = GoalSet(tuple(Goal(*row) for row in rows))
        if not any(m in ("total_revenue", "average_revenue") for m in query.metrics):
            return configured
        sent = run(self._client, "SELECT name, groupUniqArray(revenue_currency) FROM events"
                   " WHERE site = {site:String} AND revenue_amount IS NOT NULL"
                   " AND revenue_currency != '' GROUP BY name", {"site": query.site_id})
        return with_inferred_currencies(configured, {name: set(found) for name, found in sent})

    def check_patterns(self, query: StatsQuery) -> None:
        """Compile every `matches` pattern with ClickHouse's own re2 first, so a bad one is a
        400 naming it rather than a failed query (503)."""
        for leaf in filter_leaves(query.filters):
            if leaf.operator not in ("matches", "matches_not"):
                continue
            for pattern in leaf.values:
                try:
                    run(self._client, "SELECT match('', {pattern:String})", {"pattern": pattern})
                except StorageError:
                    raise BadQuery(f"filters: {pattern[:40]!r} is not a valid re2 regular "
                                   "expression") from None

    def _visitors(self, query: StatsQuery) -> dict[tuple[str, ...], int]:
        """Exact visitors per dimension tuple of a visitors-only query."""
        rows, _, _ = self._measure(query, force_raw=False)
        return {row.dimensions: row.get("visitors") for row in rows}

    def _check_leaves(self, query: StatsQuery) -> None:
        """Refuse the query if any filter leaf value covers fewer than k visitors."""
        for probe in leaf_probes(query):
            if self._visitors(probe.query).get((), 0) < self._k:
                raise too_narrow(probe, self._k)

    def _common_patterns(self, query: StatsQuery) -> StatsQuery:
        """The query with each contains/matches leaf resolved to the values it matches that
        cover at least k visitors each (dashboards.guard.common_pattern_values)."""
        def common(leaf: Condition) -> tuple[str, ...]:
            counts = self._visitors(pattern_probe(query, leaf))
            return tuple(sorted(key[0] for key, visitors in counts.items()
                                if visitors >= self._k))
        return dataclasses.replace(query, filters=common_pattern_values(query.filters, common))

    def _check_slices(self, query: StatsQuery, caller: Caller) -> set[tuple[str, ...]]:
        """Refuse an aggregate that differs by 1..k-1 visitors from a range `caller` was
        answered today; for a breakdown, the non-time keys whose rows moved by 1..k-1 (to
        withhold). A slice of nobody changes nothing and is allowed (docs/privacy.md)."""
        today = self.today()
        self._ledger.check_room(caller.id, query.site_id, query.date_range)
        pieces = {piece for old in self._ledger.earlier(caller.id, query.site_id, today)
                  for piece in slices(query.date_range, old)}
        thin: set[tuple[str, ...]] = set()
        for piece in sorted(pieces, key=lambda p: (p.start, p.stop)):
            counts = self._visitors(slice_query(query, piece))
            moved = {key for key, visitors in counts.items() if 0 < visitors < self._k}
            if moved and not any(d not in TIME_DIMENSIONS for d in query.dimensions):
                raise TooNarrow(
                    f"date_range: differs from a range this caller asked today by "
                    f"{piece.echo()[0]} to {piece.echo()[1]}, which holds fewer than k="
                    f"{self._k} visitors for these filters; ask the same range or one that "
                    "differs by whole busier hours")
            thin |= moved
        return thin

    def _counted_days(self, query: StatsQuery) -> dict[dt.date, int]:
        """The days of the query's range whose visitors are counted and current, with the
        version of each count (COUNTED_DAYS), remembered for COUNTED_TTL_S: a late event
        into a counted day reaches answers from its states within that time, not at once."""
        start, stop = query.date_range.start, query.date_range.stop
        assert start is not None  # resolved before measuring
        key = (query.site_id, start.date(), stop.date())
        now = time.monotonic()
        with self._counted_lock:
            seen = self._counted.get(key)
            if seen is not None and now - seen[0] < COUNTED_TTL_S:
                return seen[1]
        days = {row[0]: int(row[1]) for row in run(
            self._client, COUNTED_DAYS,
            {"site": query.site_id, "first_day": key[1], "stop_day": key[2]})}
        with self._counted_lock:
            if len(self._counted) > 1000:  # many sites and ranges: forget the old ones
                self._counted = {k: v for k, v in self._counted.items()
                                 if now - v[0] < COUNTED_TTL_S}
            self._counted[key] = (now, days)
        return days

    def _measure(self, query: StatsQuery, force_raw: bool) -> tuple[list[Row], Context, str]:
        """Rows of base measures, the metrics' context and the source that answered."""
        goals = self.goals(query)
        plan = plan_query(query, goals=goals, force_raw=force_raw)
        if reads_daily_visitors(plan):
            # Which days of the range are counted (and by which count): constants for the
            # statements, so that they read the counts of those days and the states of
            # the others.
            plan = plan_query(query, goals=goals, force_raw=force_raw,
                              counted=self._counted_days(query))
        parts = [(statement.measures, run(self._client, statement.sql, statement.parameters))
                 for statement in plan.statements]
        rows = merge_rows(parts, len(query.dimensions))
        totals = {d.metric: (d.dimensions, totals_by_group(
            d.dimensions, run(self._client, d.statement.sql, d.statement.parameters)))
            for d in plan.denominators}
        goal_position = (query.dimensions.index("event:goal")
                         if "event:goal" in query.dimensions else -1)
        return rows, Context(totals, plan.revenue, goals, goal_position), plan.source

    def run(self, query: StatsQuery, *, force_raw: bool = False,
            caller: Caller = OWNER) -> dict[str, Any]:
        """The Stats API response for `query` as `caller` may see it; `force_raw` skips the
        rollups (for checks)."""
        query = self.resolve(dataclasses.replace(query,
                                                 date_range=snap_to_hours(query.date_range)))
        check_bucket_count(query)
        self.check_patterns(query)
        if caller.dp:
            return self._run_dp(query, caller)
        asked = query
        thin: set[tuple[str, ...]] = set()
        if self._k > 1:
            self._check_leaves(query)
            query = self._common_patterns(query)
            thin = self._check_slices(query, caller)
        began = time.perf_counter()
        rows, context, source = self._measure(query, force_raw)
        results, meta = build_answer(query, rows, k=self._k, context=context,
                                     withheld=frozenset(thin))
        if query.comparison is not None:
            source = self._compare(query, results, force_raw, source)
        self._ledger.record(caller.id, query.site_id, query.date_range)
        log.debug("stats query site=%s source=%s rows=%d released=%d in %.1f ms",
                  query.site_id, source, len(rows), len(results),
                  (time.perf_counter() - began) * 1000)
        return {"results": results,
                "meta": {**meta, "source": source, "timezone": query.date_range.timezone,
                         "privacy": {"mode": "k_anonymous", "k": self._k}},
                "query": asked.echo()}

    def _run_dp(self, query: StatsQuery, caller: Caller) -> dict[str, Any]:
        """The differentially private answer: every bucket of the range, noised once."""
        check_dp_query(query)
        counts = self._visitors(query)
        if query.dimensions:
            exact = [([label], counts.get((label,), 0)) for label in time_labels(query)]
        else:
            exact = [([], counts.get((), 0))]
        results, privacy = self._accountant.answer(caller.id, query,
                                                   self.today(query.date_range.timezone), exact)
        return {"results": results,
                "meta": {"privacy": privacy, "timezone": query.date_range.timezone},
                "query": query.echo()}

    def _compare(self, query: StatsQuery, results: list[dict[str, Any]], force_raw: bool,
                 source: str) -> str:
        """Add Plausible's `comparison` member to every result row (in place); the source.

        The comparison period is k-suppressed like the main one: a compared row below k
        answers null metrics and null change (its count is not released), a row the
        comparison period does not have answers zeros, as Plausible's.
        """
        assert query.comparison is not None and query.date_range.start is not None
        tz = query.date_range.timezone
        new_first, new_last = comparison_days(query.comparison, query.date_range.first_day(),
                                              query.date_range.last_day(), self.today(tz))
        other = dataclasses.replace(
            query, comparison=None, offset=0, limit=MAX_LIMIT, include_total_rows=False,
            date_range=DateRange(_midnight(new_first, tz),
                                 _midnight(new_last + dt.timedelta(days=1), tz), tz))
        rows, context, other_source = self._measure(other, force_raw)
        kept, _ = suppress(rows, k=self._k)
        released = {row.dimensions: [metric_value(m, row, context) for m in other.metrics]
                    for row in kept}
        withheld = {row.dimensions for row in rows} - set(released)
        time_index = next((i for i, d in enumerate(query.dimensions) if d in TIME_DIMENSIONS),
                          None)
        labels = (dict(zip(time_labels(query), time_labels(other), strict=False))
                  if time_index is not None else {})
        empty = [metric_value(m, Row(()), context) for m in query.metrics]
        for result in results:
            dims = [labels.get(v) if i == time_index else v
                    for i, v in enumerate(result["dimensions"])]
            key = tuple(str(d) for d in dims)
            if key in withheld:
                metrics: list[Any] = [None] * len(query.metrics)
            else:
                metrics = released.get(key, empty)
            result["comparison"] = {
                "dimensions": dims, "metrics": metrics,
                "change": [change(m, old, new) for m, old, new
                           in zip(query.metrics, metrics, result["metrics"], strict=True)]}
        return "rollup" if {source, other_source} == {"rollup"} else "raw"


MAX_HOURLY_DAYS = 93  # a time:hour series covers at most about a quarter (2,232 buckets)


def check_bucket_count(query: StatsQuery) -> None:
    """Refuse a time:hour series over more than MAX_HOURLY_DAYS (resolved range): a
    century of hours is tens of megabytes for one answer and seconds of work per call."""
    span = query.date_range
    if ("time:hour" in query.dimensions and span.start is not None
            and span.stop - span.start > dt.timedelta(days=MAX_HOURLY_DAYS)):
        raise BadQuery(f"dimensions: time:hour covers at most {MAX_HOURLY_DAYS} days; "
                       "use time:day, time:week or time:month for longer ranges")


def _midnight(day: dt.date, timezone: str) -> dt.datetime:
    """The UTC instant of `day`'s midnight in `timezone`."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone(timezone)).astimezone(dt.UTC)
