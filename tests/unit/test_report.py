"""The admin commands' human-readable output (crumbless/report.py)."""

from __future__ import annotations

from typing import Any

from crumbless import report


def shown(ids: int, keep: list[int]) -> dict[str, Any]:
    tiers = {"raw": 30, "sessions": 30, "hourly": 90, "daily": 760, "ids": ids, "kafka": 72}
    return {"tables": [{"table": "events", "ttl": "toDateTime(ts) + toIntervalDay(keep_days)",
                        "column_ttls": {}, "rows": 1234, "bytes": 5_000_000,
                        "sites": [{"site": "a.com", "rows": 1234, "oldest": "2026-11-01",
                                   "newest": "2026-11-30", "keep_days": keep,
                                   "id_keep_days": [30], "bytes_estimate": 5_000_000}]}],
            "policy": {"default": tiers, "sites": {"a.com": tiers}, "overrides": {}},
            "salts": {"lifetime": "the UTC day of use plus 2 hours, then destroyed"}}


def test_ids_kept_with_the_row_are_not_shown_as_a_number() -> None:
    text = report.retention_show(shown(ids=30, keep=[30]))
    assert "with the row" in text
    assert "7 days" in report.retention_show(shown(ids=7, keep=[30]))


def test_keep_days_read_as_days_not_a_list() -> None:
    text = report.retention_show(shown(ids=30, keep=[30]))
    assert "[30]" not in text and "30 days" in text
    assert "14, 30 days" in report.retention_show(shown(ids=30, keep=[14, 30]))
    assert "1,234" in text and "4.8 MB" in text


def test_empty_answers_say_so() -> None:
    assert report.retention_audit([]) == "no retention changes recorded yet"
    assert report.sites([]).startswith("no sites registered yet")


def test_table_aligns_numbers_right() -> None:
    lines = report.table(("name", "rows"), [("a", 5), ("bb", 1000)]).splitlines()
    assert lines == ["name   rows", "a         5", "bb    1,000"]
