"""A registered site and its privacy policy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.errors import BadRequest

NO_CONSENT_POLICIES = ("drop", "anonymous", "full")
# A new site counts traffic that carries no consent signal at all (it runs no consent
# manager) with the daily-salted visitor id, as Plausible, Fathom and Umami do: that is
# what a salt destroyed after a day exists for. An explicit refusal, DNT or GPC never
# gets an id, whatever the policy (collector.consent). Existing sites keep their policy.
DEFAULT_NO_CONSENT = "full"
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}$")


@dataclass(frozen=True, slots=True)
class Site:
    """A site that may send events, with what it allows the collector to keep."""

    domain: str
    no_consent: str = DEFAULT_NO_CONSENT  # traffic without a consent signal: drop|anonymous|full
    store_truncated_ip: bool = False  # keep the /24 (IPv4) or /48 (IPv6) network
    city_geo: bool = False  # look up the city, not just country and region


def normalise_domain(domain: str) -> str:
    """Lowercase a site domain and check its form; raise BadRequest naming it if malformed."""
    cleaned = domain.strip().lower().removeprefix("www.")
    if not _DOMAIN.match(cleaned):
        raise BadRequest(f"domain {domain[:100]!r} is not a valid host name")
    return cleaned


def check_policy(no_consent: str) -> str:
    """Return the no-consent policy if it is known, else raise BadRequest listing the choices."""
    if no_consent not in NO_CONSENT_POLICIES:
        raise BadRequest(f"no_consent must be one of {', '.join(NO_CONSENT_POLICIES)}")
    return no_consent
