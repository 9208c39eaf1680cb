"""Retention policy: one period per tier, defaults from settings, overrides per site.

Pure: the policy, its guards and the description of a change. Storage and the ALTERs
that apply it live in sinks/retention.py.

Tiers (days unless noted):
    raw       events table           sessions  sessions table
    hourly    rollup_hourly          daily     rollup_daily, rollup_daily_visitors
    ids       visitor/session ids inside events and sessions (zeroed after this;
              0 = kept as long as their row)
    kafka     topic retention, hours (distributed mode; never longer than raw)
    salts     fixed: a salt lives its day plus salt_grace_hours, then is destroyed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from contract.errors import BadRequest
from contract.settings import Settings

TIERS = ("raw", "sessions", "hourly", "daily", "ids", "kafka")
SITE_TIERS = ("raw", "sessions", "hourly", "daily", "ids")  # kafka is one topic for all sites
MIN_DAYS = 1
MAX_DAYS = 3650
TIER_TABLES: Mapping[str, tuple[str, ...]] = {
    "raw": ("events",), "sessions": ("sessions",), "hourly": ("rollup_hourly",),
    "daily": ("rollup_daily", "rollup_daily_visitors"), "ids": ("events", "sessions"), "kafka": (),
}


@dataclass(frozen=True, slots=True)
class TierDays:
    """The periods that apply to one site (kafka in hours)."""

    raw: int
    sessions: int
    hourly: int
    daily: int
    ids: int
    kafka: int

    def get(self, tier: str) -> int:
        """The period of `tier` (ids: the effective one, at most the raw period)."""
        if tier == "ids":
            return min(self.ids or self.raw, self.raw)
        return int(getattr(self, tier))

    def id_days_in(self, tier: str) -> int:
        """How long rows of `tier` ("raw" or "sessions") keep their ids: the ids period
        (0 = as long as the row), never longer than the row itself lives."""
        own = self.get(tier)
        return min(self.ids or own, own)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Defaults plus per-site overrides; `for_site` resolves what applies."""

    defaults: TierDays
    overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        """The policy with no stored changes: the settings' periods."""
        return cls(TierDays(raw=settings.raw_ttl_days, sessions=settings.sessions_ttl_days,
                            hourly=settings.hourly_ttl_days, daily=settings.daily_ttl_days,
                            ids=settings.id_ttl_days,
                            kafka=settings.kafka_retention_hours))

    def for_site(self, site: str) -> TierDays:
        """The periods for `site`: its overrides on top of the defaults."""
        return replace(self.defaults, **dict(self.overrides.get(site, {})))

    def with_change(self, site: str | None, tier: str, days: int) -> RetentionPolicy:
        """A new policy with one period changed (site None: the default)."""
        if site is None:
            return RetentionPolicy(replace(self.defaults, **{tier: days}), self.overrides)
        overrides = {s: dict(t) for s, t in self.overrides.items()}
        overrides.setdefault(site, {})[tier] = days
        return RetentionPolicy(self.defaults, overrides)

    def sites_following_default(self, tier: str, sites: list[str]) -> list[str]:
        """Those of `sites` without an override for `tier`."""
        return [s for s in sites if tier not in self.overrides.get(s, {})]


def check_change(tier: str, days: int, site: str | None) -> None:
    """Bounds and tier names of one proposed change; BadRequest names what is wrong."""
    if tier not in TIERS:
        raise BadRequest(f"tier {tier!r} is unknown; accepted: {', '.join(TIERS)} "
                         "(salts are fixed at one day plus salt_grace_hours)")
    if site is not None and tier not in SITE_TIERS:
        raise BadRequest(f"tier {tier} is one setting for every site; omit --site")
    low, high = (1, MAX_DAYS * 24) if tier == "kafka" else (MIN_DAYS, MAX_DAYS)
    if not low <= days <= high:
        unit = "hours" if tier == "kafka" else "days"
        raise BadRequest(f"{tier}: {days} {unit} is out of bounds ({low}..{high})")


def check_policy_for(site: str, days: TierDays) -> None:
    """Guards between tiers for one site, so dashboards never claim data they lack.

    Rollups answer for periods raw rows no longer cover, so a rollup shorter than the
    raw (or sessions) tier would leave the Stats API answering from a rollup that has
    already dropped days the raw table still holds; ids cannot outlive their rows; Kafka
    must not keep events longer than ClickHouse does (a privacy invariant).
    """
    label = site or "default"
    for rollup in ("hourly", "daily"):
        for source in ("raw", "sessions"):
            if days.get(rollup) < days.get(source):
                raise BadRequest(f"{label}: {rollup} rollups ({days.get(rollup)} days) cannot "
                                 f"be shorter than {source} ({days.get(source)} days): "
                                 "dashboards would lose days the raw data still covers")
    if days.daily < days.hourly:
        raise BadRequest(f"{label}: daily rollups ({days.daily} days) cannot be shorter "
                         f"than hourly ({days.hourly} days)")
    if days.ids and days.ids > min(days.raw, days.sessions):
        raise BadRequest(f"{label}: ids ({days.ids} days) cannot outlive raw events "
                         f"({days.raw}) or sessions ({days.sessions})")
    if days.kafka > days.raw * 24:
        raise BadRequest(f"{label}: Kafka retention ({days.kafka} h) cannot exceed the raw "
                         f"TTL ({days.raw} days = {days.raw * 24} h)")


def check_policy(policy: RetentionPolicy, sites: list[str]) -> None:
    """Guards for the default and every site."""
    check_policy_for("", policy.defaults)
    for site in sorted(set(sites) | set(policy.overrides)):
        check_policy_for(site, policy.for_site(site))
