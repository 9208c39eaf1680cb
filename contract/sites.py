"""A registered site, its privacy policy, and the ids other trackers know it by."""

from __future__ import annotations

import re
import uuid
import zoneinfo
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
    umami_website_id: str = ""  # the Umami website id (lowercase UUID) it answers to; "" = none
    matomo_site_id: int = 0  # the Matomo idsite it answers to; 0 = none
    matomo_currency: str = "USD"  # ISO 4217 code of Matomo revenue (Matomo hits carry none)
    timezone: str = "UTC"  # IANA zone of its reports (Stats API days); retention stays UTC


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


MAX_MATOMO_SITE_ID = 2**32 - 1


def normalise_umami_id(website_id: str) -> str:
    """An Umami website id as a lowercase UUID ("" stays ""); BadRequest if it is not a UUID."""
    if not website_id:
        return ""
    try:
        return str(uuid.UUID(website_id.strip()))
    except (ValueError, AttributeError, TypeError) as exc:
        raise BadRequest(f"Umami website id {str(website_id)[:60]!r} is not a UUID") from exc


def check_matomo_site_id(site_id: object) -> int:
    """A Matomo idsite as an int in 0..2^32-1 (0 = none); BadRequest naming it otherwise."""
    try:
        value = int(str(site_id).strip())
    except ValueError as exc:
        raise BadRequest(f"Matomo site id {str(site_id)[:40]!r} is not an integer") from exc
    if not 0 <= value <= MAX_MATOMO_SITE_ID:
        raise BadRequest(f"Matomo site id must be between 1 and {MAX_MATOMO_SITE_ID}")
    return value


def check_currency(code: str) -> str:
    """A 3-letter ISO 4217 currency code, uppercased; BadRequest naming it otherwise."""
    cleaned = str(code).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", cleaned):
        raise BadRequest(f"currency {str(code)[:20]!r} is not a 3-letter ISO 4217 code")
    return cleaned


def check_timezone(name: str) -> str:
    """An IANA time zone name known to the system's tz database; BadRequest naming it."""
    cleaned = str(name).strip()
    if cleaned in ("UTC", "Etc/UTC", ""):
        return "UTC"
    try:
        if "/" not in cleaned and cleaned not in ("GMT",):
            raise ValueError(cleaned)
        zoneinfo.ZoneInfo(cleaned)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise BadRequest(f"time zone {cleaned[:60]!r} is not an IANA zone such as "
                         "Europe/Berlin") from None
    return cleaned
