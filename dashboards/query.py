"""Parse and validate a Stats API v2 query (Plausible's shape) into a frozen StatsQuery.

Pure: no I/O, no clock. `today` is passed in so relative ranges are testable. Every
BadQuery names the offending field the way a client wrote it (`metrics[1]`,
`filters[0][1][2]`, `date_range`) and says what is accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from contract.errors import BadQuery
from contract.rows import VISIT_DIMENSION_COLUMNS
from dashboards.compare import Comparison, parse_comparison

METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
           "visit_duration", "events", "scroll_depth", "time_on_page", "percentage",
           "conversion_rate", "group_conversion_rate", "total_revenue", "average_revenue")
# Metrics that only exist per visit (sessions table); Plausible forbids them with event:* dims.
VISIT_METRICS = frozenset({"visits", "views_per_visit", "bounce_rate", "visit_duration"})

# Event dimensions that bounce_rate, visit_duration and views_per_visit may break down by, over
# the visits that had such an event (Plausible's docs: "with the exception of event:page and
# event:hostname"); `visits` goes with every event dimension.
PAGE_DIMENSIONS = frozenset({"event:page", "event:hostname"})

# Metrics Plausible only answers with an event:page dimension or filter (per-page engagement),
# with an event:goal dimension or filter (conversions), or with a breakdown (percentage).
PAGE_METRICS = frozenset({"scroll_depth", "time_on_page"})
GOAL_METRICS = frozenset({"conversion_rate", "group_conversion_rate"})
REVENUE_METRICS = frozenset({"total_revenue", "average_revenue"})

EVENT_DIMENSIONS = ("event:page", "event:name", "event:hostname", "event:goal")
PROPS_PREFIX = "event:props:"  # event:props:<key>: a custom property of the event
MAX_PROP_KEY = 300
VISIT_DIMENSIONS = (*VISIT_DIMENSION_COLUMNS, "visit:entry_page", "visit:exit_page",
                    "visit:entry_page_hostname", "visit:exit_page_hostname",
                    "visit:country_name", "visit:region_name", "visit:city_name")
TIME_DIMENSIONS = ("time:day", "time:hour", "time:week", "time:month")
DIMENSION_ALIASES = {"time": "time:day"}
DIMENSIONS = EVENT_DIMENSIONS + VISIT_DIMENSIONS + TIME_DIMENSIONS

FILTER_OPERATORS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
LOGICAL_OPERATORS = ("and", "or", "not")
BEHAVIOURAL_OPERATORS = ("has_done", "has_not_done")  # visits with / without such an event
RENAMED_OPERATORS = {"does_not_contain": "contains_not"}  # crumbless's old name → Plausible's
MAX_PATTERN = 256  # characters of one `matches` regular expression (re2, linear time)
RELATIVE_RANGES = ("day", "24h", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year",
                   "all")
QUERY_KEYS = ("site_id", "metrics", "date_range", "dimensions", "filters", "order_by",
              "pagination", "include")
# imports: crumbless imports nothing, so meta.imports_included is false when asked.
INCLUDE_KEYS = ("total_rows", "imports", "time_labels", "comparisons")
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 10_000
MAX_FILTER_DEPTH = 8

ONE_SECOND = dt.timedelta(seconds=1)
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Condition:
    """A leaf filter: `dimension` compared with any of `values` by `operator`."""

    operator: str  # one of FILTER_OPERATORS
    dimension: str
    values: tuple[str, ...]
    case_sensitive: bool = True

    def echo(self) -> list[Any]:
        modifiers = [] if self.case_sensitive else [{"case_sensitive": False}]
        return [self.operator, self.dimension, list(self.values), *modifiers]


@dataclass(frozen=True, slots=True)
class Combine:
    """`and` / `or` over child filters."""

    operator: str  # "and" | "or"
    children: tuple[FilterNode, ...]

    def echo(self) -> list[Any]:
        return [self.operator, [child.echo() for child in self.children]]


@dataclass(frozen=True, slots=True)
class Negate:
    """`not` of one child filter."""

    child: FilterNode

    def echo(self) -> list[Any]:
        return ["not", self.child.echo()]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """`has_done` / `has_not_done`: visits with (without) an event matching `child`."""

    operator: str  # one of BEHAVIOURAL_OPERATORS
    child: FilterNode

    def echo(self) -> list[Any]:
        return [self.operator, self.child.echo()]


FilterNode = Condition | Combine | Negate | Behaviour


@dataclass(frozen=True, slots=True)
class DateRange:
    """A half-open interval [start, stop) of UTC instants, cut at the midnights of the site's
    IANA `timezone`; start None means "from the oldest data"."""

    start: dt.datetime | None
    stop: dt.datetime
    timezone: str = "UTC"

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(zone(self.timezone))

    def whole_days(self) -> bool:
        """Whether both ends are midnights of the site's time zone."""
        return all(t is not None and self.local(t).time() == dt.time(0)
                   for t in (self.start, self.stop))

    def whole_hours(self) -> bool:
        return all(t is not None and t.minute == t.second == t.microsecond == 0
                   for t in (self.start, self.stop))

    def first_day(self) -> dt.date:
        """The site-local day of the start (the range must be resolved)."""
        assert self.start is not None
        return self.local(self.start).date()

    def last_day(self) -> dt.date:
        """The site-local day of the last instant in the range."""
        return self.local(self.stop - dt.timedelta(microseconds=1)).date()

    def echo(self) -> list[str | None]:
        """Inclusive ISO datetimes in the site's zone, as Plausible ("…T23:59:59+02:00")."""
        start = self.local(self.start).isoformat(timespec="seconds") if self.start else None
        return [start, self.local(self.stop - ONE_SECOND).isoformat(timespec="seconds")]


def zone(name: str) -> dt.tzinfo:
    """The tzinfo of an IANA zone name ("UTC" without a lookup)."""
    return dt.UTC if name in ("UTC", "Etc/UTC") else ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """A validated, normalised Stats API query."""

    site_id: str
    metrics: tuple[str, ...]
    date_range: DateRange
    dimensions: tuple[str, ...] = ()
    filters: tuple[FilterNode, ...] = ()  # implicitly and-ed, as in Plausible
    order_by: tuple[tuple[str, str], ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    include_total_rows: bool = False
    include: tuple[tuple[str, bool], ...] = ()  # the include options as given, for the echo
    comparison: Comparison | None = None  # include.comparisons

    def includes(self, option: str) -> bool:
        return dict(self.include).get(option, False)

    def echo(self) -> dict[str, Any]:
        """The normalised query as the response's `query` member."""
        include: dict[str, Any] = dict(self.include)
        if self.comparison is not None:
            include["comparisons"] = self.comparison.echo()
        return {
            "site_id": self.site_id,
            "metrics": list(self.metrics),
            "date_range": self.date_range.echo(),
            "filters": [f.echo() for f in self.filters],
            "dimensions": list(self.dimensions),
            "order_by": [list(pair) for pair in self.order_by],
            "include": include,
            "pagination": {"limit": self.limit, "offset": self.offset},
        }


def is_props(dimension: str) -> bool:
    """Whether `dimension` is a custom property, `event:props:<key>`."""
    return dimension.startswith(PROPS_PREFIX)


def is_event_dimension(dimension: str) -> bool:
    """Event dimensions: a property of each event, not of its visit."""
    return dimension in EVENT_DIMENSIONS or is_props(dimension)


def prop_key(dimension: str) -> str:
    return dimension[len(PROPS_PREFIX):]


def parse_query(raw: Any, *, today: dt.date, now: dt.datetime | None = None,
                timezone: str = "UTC") -> StatsQuery:
    """Validate a decoded JSON body into a StatsQuery; raise BadQuery naming the bad field.

    `today` is the site's local day and `timezone` its IANA zone: date ranges are its days.
    """
    if not isinstance(raw, Mapping):
        raise BadQuery("body: expected a JSON object")
    for key in raw:
        if key not in QUERY_KEYS:
            raise BadQuery(f"{str(key)[:50]}: unknown field; accepted: {', '.join(QUERY_KEYS)}")
    for required in ("site_id", "metrics", "date_range"):
        if required not in raw:
            raise BadQuery(f"{required}: required")
    metrics = _metrics(raw["metrics"])
    dimensions = _dimensions(raw.get("dimensions", []))
    for dimension in dimensions:
        if is_event_dimension(dimension) and dimension not in PAGE_DIMENSIONS:
            for i, metric in enumerate(metrics):
                if metric in VISIT_METRICS - {"visits"}:
                    raise BadQuery(f"metrics[{i}]: '{metric}' is a visit metric and cannot be "
                                   f"combined with the event dimension '{dimension}' (only "
                                   "with event:page and event:hostname)")
    filters = tuple(_filter(f, f"filters[{i}]", 0)
                    for i, f in enumerate(_list(raw.get("filters", []), "filters")))
    _metric_requirements(metrics, dimensions, filters)
    limit, offset = _pagination(raw.get("pagination", {}))
    raw_include = raw.get("include", {})
    comparison = None
    if isinstance(raw_include, Mapping) and raw_include.get("comparisons") is not None:
        comparison = parse_comparison(raw_include["comparisons"])
        raw_include = {k: v for k, v in raw_include.items() if k != "comparisons"}
    include = _include(raw_include)
    if dict(include).get("time_labels") and not any(d in TIME_DIMENSIONS for d in dimensions):
        raise BadQuery("include.time_labels: needs a time dimension")
    return StatsQuery(
        site_id=_site_id(raw["site_id"]),
        metrics=metrics,
        date_range=parse_date_range(raw["date_range"], today=today, now=now,
                                    timezone=timezone),
        dimensions=dimensions,
        filters=filters,
        order_by=_order_by(raw.get("order_by"), metrics, dimensions),
        limit=limit,
        offset=offset,
        include_total_rows=dict(include).get("total_rows", False),
        include=include,
        comparison=comparison,
    )


def filter_leaves(nodes: tuple[FilterNode, ...]) -> list[Condition]:
    """Every leaf condition of a filter tree, in order."""
    found: list[Condition] = []
    for node in nodes:
        if isinstance(node, Condition):
            found.append(node)
        elif isinstance(node, Combine):
            found.extend(filter_leaves(node.children))
        else:
            found.extend(filter_leaves((node.child,)))
    return found


def has_behaviour(nodes: tuple[FilterNode, ...]) -> bool:
    """Whether a filter tree holds a has_done / has_not_done node."""
    def walk(node: FilterNode) -> bool:
        if isinstance(node, Behaviour):
            return True
        if isinstance(node, Combine):
            return any(walk(child) for child in node.children)
        if isinstance(node, Negate):
            return walk(node.child)
        return False
    return any(walk(node) for node in nodes)


def _metric_requirements(metrics: tuple[str, ...], dimensions: tuple[str, ...],
                         filters: tuple[FilterNode, ...]) -> None:
    """Plausible's preconditions of the page, goal and breakdown metrics, as 400s."""
    mentioned = set(dimensions) | {leaf.dimension for leaf in filter_leaves(filters)}
    for i, metric in enumerate(metrics):
        if metric in PAGE_METRICS and "event:page" not in mentioned:
            raise BadQuery(f"metrics[{i}]: '{metric}' needs an event:page dimension or filter")
        if metric in GOAL_METRICS and "event:goal" not in mentioned:
            raise BadQuery(f"metrics[{i}]: '{metric}' needs an event:goal dimension or filter")
        if metric == "percentage" and not dimensions:
            raise BadQuery(f"metrics[{i}]: 'percentage' needs at least one dimension")


def parse_date_range(value: Any, *, today: dt.date, now: dt.datetime | None = None,
                     timezone: str = "UTC") -> DateRange:
    """Resolve a named or custom range to UTC datetimes; relative ranges end today inclusive.

    Days are the site's (`timezone`): "day" of a Berlin site starts at 23:00 or 22:00 UTC.
    A datetime without an offset is read in the site's zone.

    "24h" is the 24 hours up to `now` (default: the end of `today`), to the second.
    """
    if value == "24h":
        moment = now.astimezone(dt.UTC) if now is not None else _midnight(today + ONE_DAY, timezone)
        stop = moment.replace(microsecond=0) + (ONE_SECOND if now is not None else dt.timedelta())
        return DateRange(stop - ONE_DAY, stop, timezone)
    if isinstance(value, str):
        if value not in RELATIVE_RANGES:
            raise BadQuery(f"date_range: unknown range {value[:30]!r}; accepted: "
                           f"{', '.join(RELATIVE_RANGES)} or [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
        first = {
            "day": today,
            "7d": today - dt.timedelta(days=6),
            "28d": today - dt.timedelta(days=27),
            "30d": today - dt.timedelta(days=29),
            "91d": today - dt.timedelta(days=90),
            "month": today.replace(day=1),
            "6mo": _months_back(today, 5),
            "12mo": _months_back(today, 11),
            "year": today.replace(month=1, day=1),
            "all": None,
        }[value]
        return DateRange(_midnight(first, timezone) if first else None,
                         _midnight(today + ONE_DAY, timezone), timezone)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, str) for v in value)):
        raise BadQuery("date_range: expected one of " + ", ".join(RELATIVE_RANGES)
                       + " or a pair of ISO dates [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
    first, last = (_date_or_datetime(v, f"date_range[{i}]", timezone) for i, v in enumerate(value))
    if type(first) is not type(last):
        raise BadQuery("date_range: both ends must be dates, or both datetimes")
    if isinstance(first, dt.datetime) and isinstance(last, dt.datetime):
        start, stop = first, last.replace(microsecond=0) + ONE_SECOND  # end second inclusive
    else:
        start, stop = _midnight(first, timezone), _midnight(last + ONE_DAY, timezone)
    if stop <= start:
        raise BadQuery("date_range: the start is after the end")
    return DateRange(start, stop, timezone)


def _months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def _midnight(day: dt.date, timezone: str = "UTC") -> dt.datetime:
    """The UTC instant of `day`'s midnight in `timezone` (DST-aware, via zoneinfo)."""
    local = dt.datetime(day.year, day.month, day.day, tzinfo=zone(timezone))
    return local.astimezone(dt.UTC)


# ClickHouse's DateTime holds 1970-01-01 to 2106-02-07; a range outside is a client error.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2105, 12, 31)


def _date_or_datetime(text: str, field: str, timezone: str = "UTC") -> dt.date:
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
        else:
            moment = dt.datetime.fromisoformat(text)
            # A datetime without an offset is read in the site's zone, like the API's days.
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone(timezone))
            moment = moment.astimezone(dt.UTC)  # OverflowError near year 1 or 9999
            day = moment.date()
    except (ValueError, OverflowError):
        raise BadQuery(f"{field}: {text[:40]!r} is not an ISO date (YYYY-MM-DD) "
                       f"or datetime between {FIRST_DAY} and {LAST_DAY}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadQuery(f"{field}: {text[:40]!r} is outside {FIRST_DAY} to {LAST_DAY}")
    return moment if len(text) != 10 else day


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadQuery(f"{field}: expected a list")
    return value


def _site_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 253:
        raise BadQuery("site_id: expected the site's domain as a string")
    return value.strip().lower()


def _metrics(value: Any) -> tuple[str, ...]:
    items = _list(value, "metrics")
    if not items:
        raise BadQuery(f"metrics: at least one metric is required; accepted: {', '.join(METRICS)}")
    for i, metric in enumerate(items):
        if metric not in METRICS:
            raise BadQuery(f"metrics[{i}]: unknown metric {_show(metric)}; "
                           f"accepted: {', '.join(METRICS)}")
        if metric in items[:i]:
            raise BadQuery(f"metrics[{i}]: '{metric}' is listed twice")
    return tuple(items)


def _dimension(value: Any, field: str, accepted: tuple[str, ...]) -> str:
    name = DIMENSION_ALIASES.get(value, value) if isinstance(value, str) else value
    if isinstance(name, str) and is_props(name):
        if not 0 < len(prop_key(name)) <= MAX_PROP_KEY:
            raise BadQuery(f"{field}: expected event:props:<key> with a key of 1 to "
                           f"{MAX_PROP_KEY} characters")
        return name
    if name not in accepted:
        raise BadQuery(f"{field}: unknown dimension {_show(value)}; accepted: "
                       f"{', '.join(accepted)}, event:props:<key>")
    return str(name)


def _dimensions(value: Any) -> tuple[str, ...]:
    dimensions: list[str] = []
    for i, item in enumerate(_list(value, "dimensions")):
        name = _dimension(item, f"dimensions[{i}]", DIMENSIONS + tuple(DIMENSION_ALIASES))
        if name in dimensions:
            raise BadQuery(f"dimensions[{i}]: '{name}' is listed twice")
        if name in TIME_DIMENSIONS and any(d in TIME_DIMENSIONS for d in dimensions):
            raise BadQuery(f"dimensions[{i}]: only one time dimension per query")
        dimensions.append(name)
    return tuple(dimensions)


def _filter(value: Any, field: str, depth: int) -> FilterNode:
    if depth > MAX_FILTER_DEPTH:
        raise BadQuery(f"{field}: filters nest deeper than {MAX_FILTER_DEPTH} levels")
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise BadQuery(f"{field}: expected [operator, dimension, [values]] or "
                       "[\"and\"|\"or\", [filters]] or [\"not\", filter]")
    operator = value[0]
    if operator in ("and", "or"):
        if len(value) != 2 or not isinstance(value[1], list) or not value[1]:
            raise BadQuery(f"{field}: expected [\"{operator}\", [filter, ...]]")
        return Combine(operator, tuple(_filter(child, f"{field}[1][{i}]", depth + 1)
                                       for i, child in enumerate(value[1])))
    if operator == "not":
        if len(value) != 2:
            raise BadQuery(f"{field}: expected [\"not\", filter]")
        return Negate(_filter(value[1], f"{field}[1]", depth + 1))
    if operator in BEHAVIOURAL_OPERATORS:
        if len(value) != 2:
            raise BadQuery(f"{field}: expected [\"{operator}\", filter]")
        child = _filter(value[1], f"{field}[1]", depth + 1)
        if has_behaviour((child,)) or not all(
                is_event_dimension(leaf.dimension) for leaf in filter_leaves((child,))):
            raise BadQuery(f"{field}[1]: {operator} takes filters on event dimensions only "
                           "(event:page, event:name, event:goal, event:props:*, …)")
        return Behaviour(operator, child)
    if operator in RENAMED_OPERATORS:
        raise BadQuery(f"{field}[0]: '{operator}' is not a Stats API v2 operator; "
                       f"use '{RENAMED_OPERATORS[operator]}'")
    if operator not in FILTER_OPERATORS:
        raise BadQuery(f"{field}[0]: unknown operator {_show(operator)}; accepted: "
                       f"{', '.join(FILTER_OPERATORS + LOGICAL_OPERATORS + BEHAVIOURAL_OPERATORS)}")
    if len(value) not in (3, 4):
        raise BadQuery(f"{field}: expected [\"{operator}\", dimension, [values]] or "
                       f"[\"{operator}\", dimension, [values], {{\"case_sensitive\": false}}]")
    case_sensitive = _modifiers(value[3], f"{field}[3]") if len(value) == 4 else True
    if isinstance(value[1], str) and (value[1] in TIME_DIMENSIONS
                                      or value[1] in DIMENSION_ALIASES):
        raise BadQuery(f"{field}[1]: time dimensions cannot be filtered; set date_range")
    dimension = _dimension(value[1], f"{field}[1]", EVENT_DIMENSIONS + VISIT_DIMENSIONS)
    if dimension == "event:goal" and operator not in ("is", "contains"):
        raise BadQuery(f"{field}[0]: event:goal accepts only the operators is, contains")
    clauses = value[2]
    if (not isinstance(clauses, list) or not clauses
            or not all(isinstance(c, str) for c in clauses)):
        raise BadQuery(f"{field}[2]: expected a non-empty list of strings")
    if operator in ("matches", "matches_not"):
        for i, pattern in enumerate(clauses):
            if not 0 < len(pattern) <= MAX_PATTERN:
                raise BadQuery(f"{field}[2][{i}]: a regular expression of 1 to {MAX_PATTERN} "
                               "characters (re2 syntax) is expected")
    return Condition(operator, dimension, tuple(clauses), case_sensitive)


def _modifiers(value: Any, field: str) -> bool:
    """The optional 4th filter element, {"case_sensitive": bool}; returns case_sensitive."""
    if not isinstance(value, Mapping) or set(value) - {"case_sensitive"}:
        raise BadQuery(f"{field}: expected {{\"case_sensitive\": true|false}}")
    flag = value.get("case_sensitive", True)
    if not isinstance(flag, bool):
        raise BadQuery(f"{field}.case_sensitive: expected true or false")
    return flag


def _order_by(value: Any, metrics: tuple[str, ...],
              dimensions: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if value is None:  # Plausible's default: time ascending, then the first metric descending
        time = [(d, "asc") for d in dimensions if d in TIME_DIMENSIONS]
        return (*time, (metrics[0], "desc"))
    pairs: list[tuple[str, str]] = []
    for i, item in enumerate(_list(value, "order_by")):
        if not (isinstance(item, list) and len(item) == 2
                and all(isinstance(x, str) for x in item)):
            raise BadQuery(f"order_by[{i}]: expected [metric_or_dimension, \"asc\"|\"desc\"]")
        name = DIMENSION_ALIASES.get(item[0], item[0])
        if name not in metrics and name not in dimensions:
            raise BadQuery(f"order_by[{i}]: {_show(item[0])} is not among the query's "
                           "metrics or dimensions")
        if item[1] not in ("asc", "desc"):
            raise BadQuery(f"order_by[{i}][1]: expected \"asc\" or \"desc\"")
        pairs.append((name, item[1]))
    return tuple(pairs)


def _pagination(value: Any) -> tuple[int, int]:
    if not isinstance(value, Mapping):
        raise BadQuery("pagination: expected an object {\"limit\": n, \"offset\": n}")
    for key in value:
        if key not in ("limit", "offset"):
            raise BadQuery(f"pagination.{str(key)[:30]}: unknown field; accepted: limit, offset")
    limit, offset = value.get("limit", DEFAULT_LIMIT), value.get("offset", 0)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"pagination.limit: expected an integer from 1 to {MAX_LIMIT}")
    if type(offset) is not int or offset < 0:
        raise BadQuery("pagination.offset: expected an integer >= 0")
    return limit, offset


def _include(value: Any) -> tuple[tuple[str, bool], ...]:
    if not isinstance(value, Mapping):
        raise BadQuery("include: expected an object such as {\"total_rows\": true}")
    for key, flag in value.items():
        if key not in INCLUDE_KEYS:
            raise BadQuery(f"include.{str(key)[:30]}: unknown option; accepted: "
                           f"{', '.join(INCLUDE_KEYS)}")
        if not isinstance(flag, bool):
            raise BadQuery(f"include.{key}: expected true or false")
    return tuple((str(key), flag) for key, flag in value.items())


def _show(value: Any) -> str:
    """A client value quoted for an error message, cut short."""
    return repr(value)[:60] if isinstance(value, str) else f"{type(value).__name__} value"
