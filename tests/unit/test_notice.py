"""Every sentence of the privacy notice is true for the configuration it was rendered from.

The notice is rendered for each combination of the settings it depends on (geo off,
country, region, city; each consent policy; truncated IP kept or not; several sets of
periods; Kafka or not; salt grace; k) and each claim is checked against those settings.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from contract.sites import Site
from crumbless.notice import GEO_LEVELS, NoticeFacts, geo_level, render_html, render_markdown
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
        assert table["the daily visitor hash inside those records"] == \
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
