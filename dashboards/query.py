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

from contract.errors import BadQuery
from contract.rows import VISIT_DIMENSION_COLUMNS

METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
           "visit_duration", "events")
# Metrics that only exist per visit (sessions table); Plausible forbids them with event:* dims.
VISIT_METRICS = frozenset({"visits", "views_per_visit", "bounce_rate", "visit_duration"})

EVENT_DIMENSIONS = ("event:page", "event:name", "event:hostname")
VISIT_DIMENSIONS = (*VISIT_DIMENSION_COLUMNS, "visit:entry_page", "visit:exit_page")
TIME_DIMENSIONS = ("time:day", "time:hour")
DIMENSION_ALIASES = {"time": "time:day"}
DIMENSIONS = EVENT_DIMENSIONS + VISIT_DIMENSIONS + TIME_DIMENSIONS

FILTER_OPERATORS = ("is", "is_not", "contains", "does_not_contain")
LOGICAL_OPERATORS = ("and", "or", "not")
RELATIVE_RANGES = ("day", "7d", "30d", "month", "6mo", "12mo", "year", "all")
QUERY_KEYS = ("site_id", "metrics", "date_range", "dimensions", "filters", "order_by",
              "pagination", "include")
INCLUDE_KEYS = ("total_rows", "imports")  # imports: accepted for Plausible clients; no-op here
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

    def echo(self) -> list[Any]:
        return [self.operator, self.dimension, list(self.values)]


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


FilterNode = Condition | Combine | Negate


@dataclass(frozen=True, slots=True)
class DateRange:
    """A half-open UTC interval [start, stop); start None means "from the oldest data"."""

    start: dt.datetime | None
    stop: dt.datetime

    def whole_days(self) -> bool:
        return all(t is not None and t.time() == dt.time(0) for t in (self.start, self.stop))

    def whole_hours(self) -> bool:
        return all(t is not None and t.minute == t.second == t.microsecond == 0
                   for t in (self.start, self.stop))

    def echo(self) -> list[str | None]:
        """Inclusive ISO datetimes, as Plausible echoes them ("…T23:59:59+00:00")."""
        start = self.start.isoformat(timespec="seconds") if self.start else None
        return [start, (self.stop - ONE_SECOND).isoformat(timespec="seconds")]


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

    def echo(self) -> dict[str, Any]:
        """The normalised query as the response's `query` member."""
        include = {"total_rows": True} if self.include_total_rows else {}
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


def parse_query(raw: Any, *, today: dt.date) -> StatsQuery:
    """Validate a decoded JSON body into a StatsQuery; raise BadQuery naming the bad field."""
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
        if dimension in EVENT_DIMENSIONS:
            for i, metric in enumerate(metrics):
                if metric in VISIT_METRICS:
                    raise BadQuery(f"metrics[{i}]: '{metric}' is a visit metric and cannot be "
                                   f"combined with the event dimension '{dimension}'")
    limit, offset = _pagination(raw.get("pagination", {}))
    return StatsQuery(
        site_id=_site_id(raw["site_id"]),
        metrics=metrics,
        date_range=parse_date_range(raw["date_range"], today=today),
        dimensions=dimensions,
        filters=tuple(_filter(f, f"filters[{i}]", 0)
                      for i, f in enumerate(_list(raw.get("filters", []), "filters"))),
        order_by=_order_by(raw.get("order_by"), metrics, dimensions),
        limit=limit,
        offset=offset,
        include_total_rows=_include(raw.get("include", {})),
    )


def parse_date_range(value: Any, *, today: dt.date) -> DateRange:
    """Resolve a named or custom range to UTC datetimes; relative ranges end today inclusive."""
    if isinstance(value, str):
        if value not in RELATIVE_RANGES:
            raise BadQuery(f"date_range: unknown range {value[:30]!r}; accepted: "
                           f"{', '.join(RELATIVE_RANGES)} or [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
        first = {
            "day": today,
            "7d": today - dt.timedelta(days=6),
            "30d": today - dt.timedelta(days=29),
            "month": today.replace(day=1),
            "6mo": _months_back(today, 5),
            "12mo": _months_back(today, 11),
            "year": today.replace(month=1, day=1),
            "all": None,
        }[value]
        return DateRange(_midnight(first) if first else None, _midnight(today) + ONE_DAY)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, str) for v in value)):
        raise BadQuery("date_range: expected one of " + ", ".join(RELATIVE_RANGES)
                       + " or a pair of ISO dates [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
    first, last = (_date_or_datetime(v, f"date_range[{i}]") for i, v in enumerate(value))
    if type(first) is not type(last):
        raise BadQuery("date_range: both ends must be dates, or both datetimes")
    if isinstance(first, dt.datetime) and isinstance(last, dt.datetime):
        start, stop = first, last.replace(microsecond=0) + ONE_SECOND  # end second inclusive
    else:
        start, stop = _midnight(first), _midnight(last) + ONE_DAY
    if stop <= start:
        raise BadQuery("date_range: the start is after the end")
    return DateRange(start, stop)


def _months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


# ClickHouse's DateTime holds 1970-01-01 to 2106-02-07; a range outside is a client error.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2105, 12, 31)


def _date_or_datetime(text: str, field: str) -> dt.date:
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
        else:
            moment = dt.datetime.fromisoformat(text)
            # A datetime without an offset is read as UTC, like every other time in the API.
            moment = (moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None
                      else moment.astimezone(dt.UTC))
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
    if name not in accepted:
        raise BadQuery(f"{field}: unknown dimension {_show(value)}; accepted: "
                       f"{', '.join(accepted)}")
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
    if operator not in FILTER_OPERATORS:
        raise BadQuery(f"{field}[0]: unknown operator {_show(operator)}; accepted: "
                       f"{', '.join(FILTER_OPERATORS + LOGICAL_OPERATORS)}")
    if len(value) != 3:
        raise BadQuery(f"{field}: expected [\"{operator}\", dimension, [values]]")
    if isinstance(value[1], str) and (value[1] in TIME_DIMENSIONS
                                      or value[1] in DIMENSION_ALIASES):
        raise BadQuery(f"{field}[1]: time dimensions cannot be filtered; set date_range")
    dimension = _dimension(value[1], f"{field}[1]", EVENT_DIMENSIONS + VISIT_DIMENSIONS)
    clauses = value[2]
    if (not isinstance(clauses, list) or not clauses
            or not all(isinstance(c, str) for c in clauses)):
        raise BadQuery(f"{field}[2]: expected a non-empty list of strings")
    return Condition(operator, dimension, tuple(clauses))


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


def _include(value: Any) -> bool:
    if not isinstance(value, Mapping):
        raise BadQuery("include: expected an object such as {\"total_rows\": true}")
    for key, flag in value.items():
        if key not in INCLUDE_KEYS:
            raise BadQuery(f"include.{str(key)[:30]}: unknown option; accepted: "
                           f"{', '.join(INCLUDE_KEYS)}")
        if not isinstance(flag, bool):
            raise BadQuery(f"include.{key}: expected true or false")
    return bool(value.get("total_rows", False))


def _show(value: Any) -> str:
    """A client value quoted for an error message, cut short."""
    return repr(value)[:60] if isinstance(value, str) else f"{type(value).__name__} value"
