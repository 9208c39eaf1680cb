"""`include.comparisons`: the comparison period of a query and each metric's change.

Pure. The rules are Plausible's (lib/plausible/stats/comparisons.ex, compare.ex and
query_runner.ex of plausible/analytics):

- `previous_period`: the same number of days right before the range (a range running into
  the future is cut at today first); `year_over_year`: the range 365 days earlier (cut at
  today the same way); `custom`: the given `date_range` (two ISO dates).
- `match_day_of_week`: the comparison is shifted to the nearest day that is the same
  weekday as the range's first day (never onto that first day itself).
- change: bounce_rate in percentage points (null when the old rate is 0), conversion
  rates in points to one decimal, every other metric in percent rounded to an integer
  (100 from 0 to more, 0 from 0 to 0), null when either side is null.
- each result row carries `comparison: {dimensions, metrics, change}`; a time dimension is
  mapped label by label onto the comparison's buckets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contract.errors import BadQuery

MODES = ("previous_period", "year_over_year", "custom")
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A parsed `include.comparisons` object."""

    mode: str
    first: dt.date | None = None  # custom mode: the comparison's first and last day
    last: dt.date | None = None
    match_day_of_week: bool = False

    def echo(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.first is not None and self.last is not None:
            out["date_range"] = [self.first.isoformat(), self.last.isoformat()]
        if self.match_day_of_week:
            out["match_day_of_week"] = True
        return out


def parse_comparison(value: Any) -> Comparison:
    """Validate `include.comparisons`; BadQuery names the field."""
    field = "include.comparisons"
    if not isinstance(value, Mapping):
        raise BadQuery(f"{field}: expected an object such as {{\"mode\": \"previous_period\"}}")
    for key in value:
        if key not in ("mode", "date_range", "match_day_of_week"):
            raise BadQuery(f"{field}.{str(key)[:30]}: unknown field; accepted: mode, "
                           "date_range, match_day_of_week")
    mode = value.get("mode")
    if mode not in MODES:
        raise BadQuery(f"{field}.mode: expected one of {', '.join(MODES)}")
    match = value.get("match_day_of_week", False)
    if not isinstance(match, bool):
        raise BadQuery(f"{field}.match_day_of_week: expected true or false")
    if mode != "custom":
        if "date_range" in value:
            raise BadQuery(f"{field}.date_range: only with mode custom")
        return Comparison(mode, match_day_of_week=match)
    pair = value.get("date_range")
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
        raise BadQuery(f"{field}.date_range: expected [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
    try:
        first, last = (dt.date.fromisoformat(v) for v in pair)
    except ValueError:
        raise BadQuery(f"{field}.date_range: expected ISO dates YYYY-MM-DD") from None
    if last < first:
        raise BadQuery(f"{field}.date_range: the start is after the end")
    return Comparison(mode, first, last, match)


def comparison_days(comparison: Comparison, first: dt.date, last: dt.date,
                    today: dt.date) -> tuple[dt.date, dt.date]:
    """The comparison's first and last day for a query over [first, last] (local days)."""
    if comparison.mode == "custom":
        assert comparison.first is not None and comparison.last is not None
        return comparison.first, comparison.last
    end = min(last, today)
    if comparison.mode == "year_over_year":
        new_first, new_last = first - 365 * ONE_DAY, end - 365 * ONE_DAY
    else:
        shift = (first - end).days - 1
        new_first, new_last = first + shift * ONE_DAY, end + shift * ONE_DAY
    if comparison.match_day_of_week and new_first.weekday() != first.weekday():
        after = new_first + ((first.weekday() - new_first.weekday()) % 7) * ONE_DAY
        before = after - 7 * ONE_DAY
        candidates = sorted((abs((c - new_first).days), c) for c in (after, before)
                            if c != first)
        moved = candidates[0][1]
        new_last += (moved - new_first)
        new_first = moved
    return new_first, new_last


def _round(value: float, digits: int = 0) -> float:
    """Rounded half away from zero, as Elixir's round/1 and Float.round/2."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))


def _number(value: Any) -> float | None:
    if isinstance(value, dict):  # a Revenue object
        return float(value["value"])
    return None if value is None else float(value)


def change(metric: str, old: Any, new: Any) -> int | float | None:
    """Plausible's change of `metric` from `old` (comparison) to `new` (main)."""
    before, after = _number(old), _number(new)
    if before is None or after is None:
        return None
    if metric == "bounce_rate":
        return int(after - before) if before > 0 else None
    if metric in ("conversion_rate", "group_conversion_rate"):
        return _round(after - before, 1)
    if before == 0:
        return 100 if after > 0 else 0
    return int(_round((after - before) / before * 100))
