"""The retention policy: per-site resolution and the guards between tiers."""

import pytest

from contract.errors import BadRequest
from contract.retention import RetentionPolicy, check_change, check_policy, check_policy_for
from contract.settings import Settings
from contract.sites import Site
from crumbless.notice import NoticeFacts, render_html, render_markdown


def policy() -> RetentionPolicy:
    return RetentionPolicy.from_settings(Settings())


def test_defaults_come_from_settings() -> None:
    days = policy().defaults
    assert (days.raw, days.sessions, days.hourly, days.daily, days.kafka) == (30, 30, 90, 760, 72)
    assert days.get("ids") == 30  # 0 means: as long as the row


def test_a_site_override_applies_to_that_site_only() -> None:
    changed = policy().with_change("a.com", "raw", 7)
    assert changed.for_site("a.com").raw == 7
    assert changed.for_site("b.com").raw == 30
    assert changed.sites_following_default("raw", ["a.com", "b.com"]) == ["b.com"]


def test_ids_follow_a_shorter_row_period() -> None:
    assert policy().with_change(None, "raw", 10).defaults.get("ids") == 10


@pytest.mark.parametrize(("tier", "days", "message"), [
    ("daily", 20, "daily rollups .* cannot be shorter than raw"),
    ("hourly", 10, "hourly rollups .* cannot be shorter than raw"),
    ("ids", 31, "ids .* cannot outlive"),
    ("kafka", 721, "Kafka retention .* cannot exceed"),
])
def test_guards_name_the_conflict(tier: str, days: int, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_policy(policy().with_change(None, tier, days), [])


def test_daily_rollups_cannot_be_shorter_than_hourly() -> None:
    with pytest.raises(BadRequest, match="shorter than hourly"):
        check_policy_for("x", policy().with_change(None, "daily", 60).defaults)


@pytest.mark.parametrize(("tier", "days", "site", "message"), [
    ("raw", 0, None, "out of bounds"), ("raw", 3651, None, "out of bounds"),
    ("weekly", 5, None, "unknown"), ("kafka", 5, "a.com", "every site"),
])
def test_change_bounds(tier: str, days: int, site: str | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_change(tier, days, site)


def facts(**days: int) -> NoticeFacts:
    base = {"raw": 30, "sessions": 30, "hourly": 90, "daily": 760, "ids": 7}
    return NoticeFacts(site=Site("a.com", "anonymous", True, False), days={**base, **days},
                       kafka_hours=48, salt_grace_hours=2, k_anonymity=5, geo="region",
                       storage="our own server")


def test_notice_states_each_period_and_the_sites_choices() -> None:
    text = render_markdown(facts(raw=14))
    assert "| individual page views and events | 14 days |" in text
    assert ("| the daily visitor hash inside page views and visit records | 7 days, then "
            "removed |") in text
    assert "| events in transit (message queue) | 48 hours |" in text
    assert "its day plus 2 hours" in text
    assert "/24" in text  # the site keeps truncated IPs, so the notice must say so
    assert "fewer than 5 visitors" in text
    assert "country and region" in text and "city" not in text.split("What is not")[0]


def test_html_notice_is_escaped_markup() -> None:
    out = render_html(facts())
    assert out.count("<table>") == 1 and "<li>" in out and "<script" not in out
