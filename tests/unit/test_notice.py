"""Every sentence of the privacy notice is true for the configuration it was rendered from.

The notice is rendered for each combination of the settings it depends on (geo off,
country, region, city; each consent policy; truncated IP kept or not; several sets of
periods; Kafka or not; salt grace; k) and each claim is checked against those settings.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from contract.retention import TierDays
from contract.sites import Site
from crumbless.notice import (
    GEO_LEVELS,
    NoticeFacts,
    geo_level,
    live_days,
    render_html,
    render_markdown,
)
from crumbless.testing.geo import build_test_mmdb

PERIODS = [
    {"raw": 30, "sessions": 30, "hourly": 90, "daily": 760, "ids": 30},  # defaults
    {"raw": 1, "sessions": 1, "hourly": 1, "daily": 1, "ids": 1},  # the shortest
    {"raw": 14, "sessions": 10, "hourly": 60, "daily": 3650, "ids": 7},
]
EXTRAS = list(itertools.product(PERIODS, (None, 1, 24), (0, 1, 2), (1, 5)))


def expected_span(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


def claims(text: str) -> dict[str, str]:
    """The notice's retention table as {data: kept for}."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (.+?) \| (.+?) \|$", text, re.M)}


@pytest.mark.parametrize(("geo", "policy", "truncated"),
                         list(itertools.product(GEO_LEVELS, ("drop", "anonymous", "full"),
                                                (False, True))))
def test_every_claim_matches_the_settings(geo: str, policy: str, truncated: bool) -> None:
    for periods, kafka_hours, grace, k in EXTRAS:
        site = Site("shop.example", policy, truncated, geo == "city")
        facts = NoticeFacts(site=site, days=periods, kafka_hours=kafka_hours,
                            salt_grace_hours=grace, k_anonymity=k, geo=geo,
                            storage="our own server")
        text = render_markdown(facts)
        collected = text.split("### What is collected")[1].split("### What is not")[0]
        # location: stated only as far as it is looked up
        if geo == "none":
            assert "looked up from your IP" not in text
            assert "Your location: it is not looked up." in text
            assert "country" not in text and "no location" not in text
        else:
            assert "Your location: it is not looked up." not in text
            assert ("region" in collected) == (geo in ("region", "city"))
            assert ("city" in collected) == (geo == "city")
            assert "your country" in collected
        # IP address
        assert ("/24" in text and "/48" in text) == truncated
        assert ("We do not store your IP address in any form." in text) == (not truncated)
        # consent policy: each sentence only under its own policy
        assert ("nothing about your visit is recorded" in text) == (policy == "drop")
        assert ("is not recorded at all" in text) == (policy == "drop")
        assert ("counted without any identifier" in text) == (policy == "anonymous")
        assert ("only adds to anonymous totals" in text) == (policy != "drop")
        assert ("Without an explicit refusal, visits are counted with the daily identifier"
                in text) == (policy == "full")
        # periods, as the table states them
        table = claims(text)
        assert table["individual page views and events"] == expected_span(periods["raw"])
        assert table["visit records (entry and exit page, duration)"] == \
            expected_span(periods["sessions"])
        assert table["the daily visitor hash inside page views and visit records"] == \
            f"{expected_span(periods['ids'])}, then removed"
        assert table["hourly totals"].startswith(expected_span(periods["hourly"]))
        assert table["daily totals (no individual records)"].startswith(
            expected_span(periods["daily"]))
        if periods["daily"] >= 365:
            months = round(periods["daily"] / 30.4)
            assert table["daily totals (no individual records)"].endswith(
                f"(about {months} months)")
        # Kafka only when events pass through it
        if kafka_hours is None:
            assert "message queue" not in text
        else:
            hours = "1 hour" if kafka_hours == 1 else f"{kafka_hours} hours"
            assert table["events in transit (message queue)"] == hours
        # salts
        if grace == 0:
            assert table["the daily salt"] == "its day"
            assert "destroyed when that day ends" in text
        else:
            hours = "1 hour" if grace == 1 else f"{grace} hours"
            assert table["the daily salt"] == f"its day plus {hours}"
            assert f"destroyed {hours} after that day ends" in text
        # k-anonymity
        assert (f"fewer than {k} visitors is hidden" in text) == (k > 1)
        assert "fewer than 1 " not in text
        # nothing unrendered, no impossible values
        assert not re.search(r"\{|\}|None|\b0 days?\b|\b1 days\b|\b1 hours\b", text), text
        page = render_html(facts)
        assert "**" not in page and "`" not in page and "<table>" in page
        assert f"<td>{expected_span(periods['raw'])}</td>" in page


@pytest.mark.parametrize(("database", "cities", "wants", "level"), [
    (False, False, True, "none"), (False, True, True, "none"),
    (True, False, True, "country"), (True, False, False, "country"),
    (True, True, False, "region"), (True, True, True, "city"),
])
def test_geo_level_follows_the_database_edition_and_the_site(
        database: bool, cities: bool, wants: bool, level: str) -> None:
    assert geo_level(database=database, database_has_cities=cities,
                     site_wants_city=wants) == level


def test_has_cities_reads_the_database_edition(tmp_path: Path) -> None:
    from collector.geo import has_cities

    path = build_test_mmdb(tmp_path / "t.mmdb", {"203.0.113.0/24": {"country": "DE"}})
    assert has_cities(path)  # the test builder writes a City edition
    with pytest.raises(ValueError, match="cannot read the GeoIP database"):
        has_cities(tmp_path / "missing.mmdb")


def retention_show(days: TierDays, rows: dict[str, dict[str, list[int]]]) -> dict[str, Any]:
    """The shape of RetentionStore.show() for one site, per-row TTLs as migrations make."""
    def table(name: str, time: str) -> dict[str, Any]:
        held = rows.get(name)
        return {"table": name, "ttl": f"{time} + toIntervalDay(keep_days)",
                "column_ttls": ({"visitor_id": f"{time} + toIntervalDay(id_keep_days)"}
                                if name in ("events", "sessions") else {}),
                "sites": [{"site": "shop.example", **held}] if held else []}

    tiers = {t: days.get(t) for t in ("raw", "sessions", "hourly", "daily", "ids")}
    return {"tables": [table("events", "toDateTime(ts)"), table("sessions", "toDateTime(start)"),
                       table("rollup_hourly", "hour"), table("rollup_daily", "toDateTime(day)")],
            "policy": {"default": tiers, "sites": {"shop.example": tiers},
                       "id_days": {"default": {}, "sites": {"shop.example": {
                           "events": days.id_days_in("raw"),
                           "sessions": days.id_days_in("sessions")}}}}}


ID_COMBINATIONS = [(raw, sessions, ids) for raw, sessions, ids
                   in itertools.product((1, 7, 30), (1, 7, 30), (0, 1, 7))
                   if not ids or ids <= min(raw, sessions)]


@pytest.mark.parametrize(("raw", "sessions", "ids"), ID_COMBINATIONS)
def test_the_hash_is_stated_for_the_longest_of_the_raw_and_sessions_id_periods(
        raw: int, sessions: int, ids: int) -> None:
    """Sessions keep visitor_id for their own id period, so a raw tier shorter than the
    sessions tier must not shorten what the notice says about the hash."""
    days = TierDays(raw=raw, sessions=sessions, hourly=90, daily=760, ids=ids, kafka=24)
    expected = max(min(ids or raw, raw), min(ids or sessions, sessions))
    for rows in ({}, {"events": {"keep_days": [raw], "id_keep_days": [ids or raw]},
                      "sessions": {"keep_days": [sessions],
                                   "id_keep_days": [min(ids or sessions, sessions)]}}):
        found = live_days(retention_show(days, rows), "shop.example")
        assert found["ids"] == expected, (rows, found)
        facts = NoticeFacts(site=Site("shop.example", "full", False, False), days=found,
                            kafka_hours=None, salt_grace_hours=0, k_anonymity=5, geo="none",
                            storage="our own server")
        assert claims(render_markdown(facts))[
            "the daily visitor hash inside page views and visit records"] == \
            f"{expected_span(expected)}, then removed"


def test_raw_shortened_to_7_days_keeps_stating_the_sessions_30_days_of_the_hash() -> None:
    """`retention apply --tier raw --days 7 --site …` on the defaults: events rows carry
    keep 7 (their id_keep_days still 30), sessions keep the hash 30 days."""
    days = TierDays(raw=7, sessions=30, hourly=90, daily=760, ids=0, kafka=24)
    rows = {"events": {"keep_days": [7], "id_keep_days": [30]},
            "sessions": {"keep_days": [30], "id_keep_days": [30]}}
    found = live_days(retention_show(days, rows), "shop.example")
    assert found["raw"] == 7 and found["sessions"] == 30 and found["ids"] == 30
