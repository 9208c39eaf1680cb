"""What a dashboard URL asks for, as Stats API query bodies: pure, no I/O, no clock.

A dashboard's state lives in its URL (bookmarkable, shareable):
  period=day|yesterday|7d|30d|month|lastmonth|12mo|custom  (from=YYYY-MM-DD&to=YYYY-MM-DD)
  compare=previous|year|off
  f=<dimension>|<operator>|<value>   (repeated; and-ed; operator is or is_not)
Every number on the page comes from a body built here and answered by the Stats API's
query layer (dashboards.query.parse_query + dashboards.stats.StatsService), so the UI
gets every feature and the k-anonymity suppression that layer applies. A panel whose
dimension or metric the query layer does not know yet is left off the page (it lights up
when the query layer gains it): `available` asks parse_query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from contract.errors import BadQuery
from dashboards.query import parse_query

PERIODS = {"day": "Today", "yesterday": "Yesterday", "7d": "Last 7 days",
           "30d": "Last 30 days", "month": "This month", "lastmonth": "Last month",
           "12mo": "Last 12 months", "custom": "Custom range"}
COMPARISONS = {"previous": "Previous period", "year": "Same period last year", "off": "None"}
FILTER_OPERATORS = ("is", "is_not")
MAX_FILTERS = 8
MAX_CUSTOM_DAYS = 3660  # about ten years, the longest retention (contract.retention)
TOP_METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
               "visit_duration")
METRIC_LABELS = {"visitors": "Unique visitors", "visits": "Total visits",
                 "pageviews": "Total pageviews", "views_per_visit": "Views per visit",
                 "bounce_rate": "Bounce rate", "visit_duration": "Visit duration",
                 "events": "Events", "conversion_rate": "Conversion rate",
                 "total_revenue": "Revenue"}
# For these a rise is bad news (the arrow's colour flips).
LOWER_IS_BETTER = frozenset({"bounce_rate"})


@dataclass(frozen=True, slots=True)
class Panel:
    """One breakdown card: a dimension, the metrics of its columns, a heading."""

    key: str
    title: str
    dimension: str
    metrics: tuple[str, ...] = ("visitors",)
    group: str = ""
    filters: tuple[list[Any], ...] = ()  # extra filters of this panel only
    needs_city: bool = False
    nonzero: str = ""  # a metric: rows where it is 0 are not listed


PANELS: tuple[Panel, ...] = (
    Panel("channels", "Channels", "visit:channel", group="Sources"),
    Panel("sources", "Sources", "visit:source", group="Sources"),
    Panel("referrers", "Referrers", "visit:referrer", group="Sources"),
    Panel("utm_source", "UTM source", "visit:utm_source", group="Campaigns"),
    Panel("utm_medium", "UTM medium", "visit:utm_medium", group="Campaigns"),
    Panel("utm_campaign", "UTM campaign", "visit:utm_campaign", group="Campaigns"),
    # A page reached by custom events alone would list with 0 pageviews: left out. (Not
    # a filter on event:name: a filter changes what the query layer must suppress.)
    Panel("pages", "Top pages", "event:page", ("visitors", "pageviews"), group="Pages",
          nonzero="pageviews"),
    Panel("entry_pages", "Entry pages", "visit:entry_page", ("visitors", "visits"),
          group="Pages"),
    Panel("exit_pages", "Exit pages", "visit:exit_page", ("visitors", "visits"),
          group="Pages"),
    Panel("countries", "Countries", "visit:country", group="Locations"),
    Panel("regions", "Regions", "visit:region", group="Locations"),
    Panel("cities", "Cities", "visit:city", group="Locations", needs_city=True),
    Panel("browsers", "Browsers", "visit:browser", group="Devices"),
    Panel("os", "Operating systems", "visit:os", group="Devices"),
    Panel("devices", "Devices", "visit:device", group="Devices"),
    Panel("goals", "Goals", "event:goal", ("visitors", "events", "conversion_rate"),
          group="Goals"),
    Panel("revenue", "Revenue", "event:goal", ("visitors", "total_revenue"), group="Goals"),
    Panel("events", "Custom events", "event:name", ("visitors", "events"), group="Goals",
          filters=(["is_not", "event:name", ["pageview"]],)),
)
PANEL_BY_KEY = {p.key: p for p in PANELS}


@dataclass(frozen=True, slots=True)
class Filter:
    """One chip: `dimension operator value`."""

    dimension: str
    operator: str
    value: str

    def param(self) -> str:
        return f"{self.dimension}|{self.operator}|{self.value}"

    def body(self) -> list[Any]:
        return [self.operator, self.dimension, [self.value]]


@dataclass(frozen=True, slots=True)
class DashboardState:
    """A dashboard URL, validated: the period, its comparison and the filters."""

    period: str
    first: dt.date
    last: dt.date  # inclusive
    compare: str
    filters: tuple[Filter, ...] = ()
    custom: tuple[str, str] | None = None
    errors: tuple[str, ...] = field(default=())

    @property
    def hourly(self) -> bool:
        return self.first == self.last

    def date_range(self) -> list[str]:
        return [self.first.isoformat(), self.last.isoformat()]

    def comparison_range(self) -> tuple[dt.date, dt.date] | None:
        """The comparison period's first and last day, or None when comparison is off."""
        if self.compare == "off":
            return None
        if self.compare == "year":
            return _year_back(self.first), _year_back(self.last)
        days = (self.last - self.first).days + 1
        return self.first - dt.timedelta(days=days), self.first - dt.timedelta(days=1)

    def params(self, **change: Any) -> dict[str, Any]:
        """URL parameters of this state with `change` applied (filters: a tuple)."""
        filters = change.pop("filters", self.filters)
        params: dict[str, Any] = {"period": self.period, "compare": self.compare}
        if self.period == "custom":
            params["from"], params["to"] = self.date_range()
        params.update(change)
        params["f"] = [f.param() for f in filters]
        return params

    def query_string(self, **change: Any) -> str:
        return urlencode(self.params(**change), doseq=True)

    def with_filter(self, item: Filter) -> str:
        """The query string with `item` added (replacing a filter on its dimension)."""
        kept = tuple(f for f in self.filters if f.dimension != item.dimension)
        return self.query_string(filters=(*kept, item))

    def without_filter(self, item: Filter) -> str:
        return self.query_string(filters=tuple(f for f in self.filters if f != item))


def _year_back(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _month_start(day: dt.date, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def period_days(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of a named period ending today (UTC)."""
    if period == "day":
        return today, today
    if period == "yesterday":
        return today - dt.timedelta(days=1), today - dt.timedelta(days=1)
    if period == "7d":
        return today - dt.timedelta(days=6), today
    if period == "30d":
        return today - dt.timedelta(days=29), today
    if period == "month":
        return today.replace(day=1), today
    if period == "lastmonth":
        return _month_start(today, 1), today.replace(day=1) - dt.timedelta(days=1)
    if period == "12mo":
        return _month_start(today, 11), today
    raise ValueError(period)


def parse_state(args: Mapping[str, Any], *, today: dt.date,
                allowed_dimensions: Sequence[str]) -> DashboardState:
    """The state a URL's parameters ask for; anything malformed falls back and is noted."""
    errors: list[str] = []
    get = args.get
    period = str(get("period") or "30d")
    compare = str(get("compare") or "previous")
    if compare not in COMPARISONS:
        errors.append(f"compare: {compare[:20]!r} is not one of {', '.join(COMPARISONS)}")
        compare = "previous"
    custom = None
    if period == "custom":
        try:
            first = dt.date.fromisoformat(str(get("from") or ""))
            last = dt.date.fromisoformat(str(get("to") or ""))
        except ValueError:
            errors.append(f"Custom range: from {str(get('from') or '')[:12]!r} and to "
                          f"{str(get('to') or '')[:12]!r} must be dates (YYYY-MM-DD); showing "
                          "the last 30 days instead.")
            period = "30d"
        else:
            if last < first:
                errors.append(f"Custom range: from ({first}) is after to ({last}); showing "
                              f"{last} to {first}.")
                first, last = last, first
            if (last - first).days > MAX_CUSTOM_DAYS:
                errors.append(f"Custom range: at most {MAX_CUSTOM_DAYS} days; showing the "
                              "last 30 days instead.")
                period = "30d"
            else:
                custom = (first.isoformat(), last.isoformat())
    elif period not in PERIODS:
        errors.append(f"period: {period[:20]!r} is not one of {', '.join(PERIODS)}")
        period = "30d"
    if period != "custom":
        first, last = period_days(period, today)
    raw_filters = args.getlist("f") if hasattr(args, "getlist") else list(get("f") or [])
    filters: list[Filter] = []
    for raw in raw_filters[:MAX_FILTERS]:
        dimension, _, rest = str(raw).partition("|")
        operator, _, value = rest.partition("|")
        if dimension not in allowed_dimensions or operator not in FILTER_OPERATORS or not value:
            errors.append(f"filter {str(raw)[:60]!r} ignored")
            continue
        filters.append(Filter(dimension, operator, value[:300]))
    return DashboardState(period, first, last, compare, tuple(filters), custom, tuple(errors))


def query_body(site: str, state: DashboardState, *, metrics: Sequence[str],
               dimensions: Sequence[str] = (), extra_filters: Sequence[list[Any]] = (),
               days: tuple[dt.date, dt.date] | None = None, limit: int = 10) -> dict[str, Any]:
    """A Stats API v2 body for one part of the dashboard."""
    first, last = days or (state.first, state.last)
    body: dict[str, Any] = {
        "site_id": site, "metrics": list(metrics),
        "date_range": [first.isoformat(), last.isoformat()],
        "filters": [f.body() for f in state.filters] + list(extra_filters),
        "dimensions": list(dimensions),
        "pagination": {"limit": limit, "offset": 0},
    }
    if dimensions and not any(d.startswith("time") for d in dimensions):
        body["include"] = {"total_rows": True}
    return body


def series_dimension(state: DashboardState) -> str:
    """Hourly buckets for a one-day range, daily otherwise."""
    return "time:hour" if state.hourly else "time:day"


def available(body: dict[str, Any], today: dt.date) -> bool:
    """Whether the query layer understands this body (dimension and metrics known)."""
    try:
        parse_query(body, today=today)
    except BadQuery:
        return False
    return True


def change_percent(current: float | None, previous: float | None) -> int | None:
    """Whole-percent change from `previous` to `current`; None when there is no base."""
    if current is None or previous is None or previous == 0:
        return None
    return round((current - previous) * 100 / previous)


def series_labels(state: DashboardState) -> list[str]:
    """Every bucket of the time series, so days without data still show as 0."""
    if state.hourly:
        return [f"{state.first.isoformat()} {hour:02d}:00:00" for hour in range(24)]
    days = (state.last - state.first).days + 1
    return [(state.first + dt.timedelta(days=i)).isoformat() for i in range(days)]


def comparison_labels(state: DashboardState) -> list[str]:
    """Buckets of the comparison period, aligned one-to-one with series_labels."""
    span = state.comparison_range()
    if span is None:
        return []
    first, last = span
    if state.hourly:
        return [f"{first.isoformat()} {hour:02d}:00:00" for hour in range(24)]
    days = (last - first).days + 1
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(days)]


def format_metric(metric: str, value: Any) -> str:
    """A metric as a marketer reads it: 1.2k, 43%, 1m 05s, 2.31."""
    if value is None:
        return "\u2013"  # an en dash: no value
    if isinstance(value, dict):  # money: {"short", "long", "value", "currency"} (Stats API)
        if isinstance(value.get("long"), str):
            return str(value["long"])
        amount = value.get("value")
        return f"{amount:,.2f} {value.get('currency', '')}".strip() \
            if isinstance(amount, int | float) else "\u2013"
    if metric == "bounce_rate" or metric == "conversion_rate":
        return f"{value:g}%"
    if metric == "visit_duration":
        seconds = int(value)
        return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
    if metric == "views_per_visit":
        return f"{value:.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    number = int(value)
    if number >= 10_000_000:
        return f"{number / 1_000_000:.1f}M"
    if number >= 10_000:
        return f"{number / 1000:.1f}k"
    return f"{number:,}"
