"""The dashboard URL's custom range and CSV cells: what the user asked for, or why not."""

from __future__ import annotations

import datetime as dt

from dashboards.ui.panels import MAX_CUSTOM_DAYS, parse_state
from dashboards.ui.views import csv_cell

TODAY = dt.date(2026, 3, 10)


def test_a_reversed_custom_range_is_swapped_and_says_so() -> None:
    s = parse_state({"period": "custom", "from": "2026-03-09", "to": "2026-03-01"},
                    today=TODAY, allowed_dimensions=())
    assert (s.period, s.first, s.last) == ("custom", dt.date(2026, 3, 1), dt.date(2026, 3, 9))
    assert s.errors == ("Custom range: from (2026-03-09) is after to (2026-03-01); showing "
                        "2026-03-01 to 2026-03-09.",)


def test_an_invalid_or_too_long_custom_range_falls_back_and_says_so() -> None:
    bad = parse_state({"period": "custom", "from": "2026-02-30", "to": "2026-03-01"},
                      today=TODAY, allowed_dimensions=())
    assert bad.period == "30d" and "must be dates (YYYY-MM-DD)" in bad.errors[0]
    assert "'2026-02-30'" in bad.errors[0] and "last 30 days instead" in bad.errors[0]
    first = TODAY - dt.timedelta(days=MAX_CUSTOM_DAYS + 1)
    long = parse_state({"period": "custom", "from": first.isoformat(),
                        "to": TODAY.isoformat()}, today=TODAY, allowed_dimensions=())
    assert long.period == "30d" and f"at most {MAX_CUSTOM_DAYS} days" in long.errors[0]
    fine = parse_state({"period": "custom", "from": "2026-03-01", "to": "2026-03-01"},
                       today=TODAY, allowed_dimensions=())
    assert fine.errors == () and fine.hourly


def test_csv_cells_write_nothing_for_no_value_and_defuse_formulas() -> None:
    assert csv_cell(None) == ""
    assert csv_cell({"value": None, "currency": "EUR"}) == ""
    assert csv_cell({"value": 50.0, "currency": "EUR"}) == "50.0 EUR"
    assert csv_cell("=HYPERLINK()") == "'=HYPERLINK()"
    assert csv_cell(0) == "0"
