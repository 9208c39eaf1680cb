"""Registered sites and Stats API keys, kept in ClickHouse so every instance shares them.

API keys are random 32-byte tokens shown once; only their SHA-256 is stored (a fast hash
is right here: the tokens carry 256 bits of entropy, so there is nothing to brute-force).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from contract.errors import BadRequest
from contract.sites import (
    Site,
    check_currency,
    check_matomo_site_id,
    check_policy,
    check_timezone,
    normalise_domain,
    normalise_umami_id,
)
from sinks.client import run

KEY_PREFIX = "cbl_"
KeyRow = tuple[str, str, dt.datetime, int]  # key_hash, site, created, revoked
KEY_ID_CHARS = 12  # a key's id: the first hex digits of its stored hash, never the key
SITE_COLUMNS = ["domain", "no_consent", "store_truncated_ip", "city_geo", "umami_website_id",
                "matomo_site_id", "matomo_currency", "timezone", "deleted", "version"]


def _version() -> int:
    return time.time_ns()


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


class SiteRegistry:
    """Sites with their policies; reads are served from a cache refreshed every `ttl` seconds.

    The request path reads only the in-memory maps (by domain, Umami website id, Matomo
    idsite); the database is read at most once per `ttl`, never per event.
    """

    def __init__(self, client: Client, *, ttl: float = 30.0) -> None:
        self.client = client
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, Site] = {}
        self._by_umami: dict[str, Site] = {}
        self._by_matomo: dict[int, Site] = {}
        self._loaded_at = 0.0

    def _load(self) -> dict[str, Site]:
        rows = run(self.client, """SELECT domain, argMax(no_consent, version),
            argMax(store_truncated_ip, version), argMax(city_geo, version),
            argMax(umami_website_id, version), argMax(matomo_site_id, version),
            argMax(matomo_currency, version), argMax(timezone, version),
            argMax(deleted, version)
            FROM sites GROUP BY domain""")
        return {d: Site(d, nc, bool(ip), bool(city), umami, int(matomo), currency or "USD",
                     tz or "UTC")
                for d, nc, ip, city, umami, matomo, currency, tz, deleted in rows if not deleted}

    def refresh(self) -> None:
        """Reload the cache now (called after every change made through this instance)."""
        sites = self._load()
        by_umami = {s.umami_website_id: s for s in sites.values() if s.umami_website_id}
        by_matomo = {s.matomo_site_id: s for s in sites.values() if s.matomo_site_id}
        with self._lock:
            self._cache, self._loaded_at = sites, time.monotonic()
            self._by_umami, self._by_matomo = by_umami, by_matomo

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self.ttl:
            self.refresh()

    def get(self, domain: str) -> Site | None:
        """The site registered under `domain`, or None."""
        self._fresh()
        with self._lock:
            return self._cache.get(domain)

    def require(self, site: str, *, hint: str = "") -> str:
        """The normalised domain of the registered `site`, looking again past the cache
        before it says no; BadRequest "site … is not registered" + `hint` otherwise."""
        domain = normalise_domain(site)
        if self.get(domain) is None:
            self.refresh()
            if self.get(domain) is None:
                raise BadRequest(f"site {domain} is not registered{hint}")
        return domain

    def by_umami_id(self, website_id: str) -> Site | None:
        """The site mapped to an Umami website id (any UUID spelling), or None."""
        self._fresh()
        with self._lock:
            return self._by_umami.get(website_id.strip().lower())

    def by_matomo_id(self, site_id: int) -> Site | None:
        """The site mapped to a Matomo idsite, or None."""
        self._fresh()
        with self._lock:
            return self._by_matomo.get(site_id)

    def domains(self) -> list[str]:
        """The domains of every registered site."""
        return [site.domain for site in self.list()]

    def list(self) -> list[Site]:
        """Every registered site."""
        self.refresh()
        with self._lock:
            return sorted(self._cache.values(), key=lambda s: s.domain)

    def add(self, domain: str, *, no_consent: str | None = None,
            store_truncated_ip: bool = False, city_geo: bool = False,
            umami_website_id: str | None = None, matomo_site_id: int | str | None = None,
            matomo_currency: str | None = None, timezone: str | None = None) -> Site:
        """Register a site, or update its policy if it exists.

        `no_consent` None keeps an existing site's policy and gives a new site
        DEFAULT_NO_CONSENT: a changed default never rewrites what a site was given.
        A mapping argument left as None keeps the site's current value (so re-running
        `sites add` to change a policy does not unmap its trackers); "" or 0 clears it.
        An Umami or Matomo id already mapped to another site is refused (BadRequest).
        """
        domain = normalise_domain(domain)
        self.refresh()
        with self._lock:
            current = self._cache.get(domain) or Site(domain)
            by_umami, by_matomo = dict(self._by_umami), dict(self._by_matomo)
        if no_consent is None:  # a new site's Site() carries DEFAULT_NO_CONSENT
            no_consent = current.no_consent
        umami = (current.umami_website_id if umami_website_id is None
                 else normalise_umami_id(umami_website_id))
        matomo = (current.matomo_site_id if matomo_site_id is None
                  else check_matomo_site_id(matomo_site_id))
        currency = (current.matomo_currency if matomo_currency is None
                    else check_currency(matomo_currency))
        tz = current.timezone if timezone is None else check_timezone(timezone)
        for other, what in ((by_umami.get(umami) if umami else None, f"Umami website id {umami}"),
                            (by_matomo.get(matomo) if matomo else None,
                             f"Matomo site id {matomo}")):
            if other is not None and other.domain != domain:
                raise BadRequest(f"{what} is already mapped to {other.domain}")
        site = Site(domain, check_policy(no_consent), bool(store_truncated_ip), bool(city_geo),
                    umami, matomo, currency, tz)
        self.client.insert("sites", [[site.domain, site.no_consent, int(site.store_truncated_ip),
                                      int(site.city_geo), umami, matomo, currency, tz, 0,
                                      _version()]], column_names=SITE_COLUMNS)
        self.refresh()
        return site

    def remove(self, domain: str) -> None:
        """Unregister a site: its beacons are refused from now on (stored data expires by TTL)."""
        domain = self.require(domain)
        self.client.insert("sites", [[domain, "drop", 0, 0, "", 0, "USD", "UTC", 1, _version()]],
                           column_names=SITE_COLUMNS)
        self.refresh()


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key: its id (a prefix of its stored hash), never the key."""

    id: str
    site: str
    created: dt.datetime
    revoked: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: created as ISO 8601 UTC."""
        return {"id": self.id, "site": self.site,
                "created": self.created.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
                "revoked": self.revoked}


class ApiKeys:
    """Stats API bearer keys, stored hashed, each scoped to one site."""

    def __init__(self, client: Client, sites: SiteRegistry) -> None:
        self.client = client
        self.sites = sites
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def create(self, site: str) -> str:
        """Make a new key for `site` and return it; it is not retrievable later."""
        domain = self.sites.require(site, hint="; add it first")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.client.insert("api_keys", [[hash_key(key), domain, dt.datetime.now(dt.UTC), 0,
                                         _version()]],
                           column_names=["key_hash", "site", "created", "revoked", "version"])
        return key

    def _rows(self, site: str | None = None) -> list[KeyRow]:
        """(key_hash, site, created, revoked) of every key (of `site`), oldest first."""
        rows = run(self.client, """SELECT key_hash, argMax(site, version),
            argMax(created, version), argMax(revoked, version) FROM api_keys
            GROUP BY key_hash ORDER BY argMax(created, version), key_hash""")
        return [r for r in rows if site is None or r[1] == site]

    def list_keys(self, site: str | None = None) -> list[ApiKeyInfo]:
        """Every key (of `site`), revoked ones included, oldest first."""
        domain = normalise_domain(site) if site else None
        return [ApiKeyInfo(h[:KEY_ID_CHARS], s, created, bool(revoked))
                for h, s, created, revoked in self._rows(domain)]

    def _mark_revoked(self, rows: list[KeyRow]) -> None:
        if rows:
            self.client.insert("api_keys", [[h, s, created, 1, _version()]
                                            for h, s, created, _ in rows],
                               column_names=["key_hash", "site", "created", "revoked",
                                             "version"])
        with self._lock:  # a revoked key stops working at once on this instance
            self._cache.clear()

    def revoke(self, key_or_id: str) -> ApiKeyInfo:
        """Revoke one key, named by the key itself or by its id (a prefix of its hash).

        Raises BadRequest when nothing or more than one key matches, or the id is too
        short to name one (at least 8 hex digits)."""
        given = key_or_id.strip()
        if given.startswith(KEY_PREFIX):
            wanted, exact = hash_key(given), True
        elif len(given) >= 8 and all(c in "0123456789abcdef" for c in given.lower()):
            wanted, exact = given.lower(), False
        else:
            raise BadRequest("give the key (cbl_…) or its id (8+ hex digits, as "
                             "`crumbless keys list` shows)")
        found = [r for r in self._rows() if (r[0] == wanted if exact
                                              else r[0].startswith(wanted))]
        if not found:
            raise BadRequest(f"no API key {'matches this key' if exact else 'has id ' + given}")
        if len(found) > 1:
            raise BadRequest(f"id {given} names {len(found)} keys; give more digits")
        self._mark_revoked(found)
        h, site, created, _ = found[0]
        return ApiKeyInfo(h[:KEY_ID_CHARS], site, created, True)

    def revoke_site(self, site: str) -> int:
        """Revoke every live key of `site` (when it is removed); returns how many."""
        live = [r for r in self._rows(normalise_domain(site)) if not r[3]]
        self._mark_revoked(live)
        return len(live)

    def site_of(self, key: str) -> str | None:
        """The site a key grants, or None for an unknown or revoked key."""
        digest = hash_key(key)
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and time.monotonic() - hit[1] < 30:
            return hit[0] or None
        rows = run(self.client, """SELECT argMax(site, version), argMax(revoked, version)
            FROM api_keys WHERE key_hash = {h:String} GROUP BY key_hash""", {"h": digest})
        site = rows[0][0] if rows and not rows[0][1] else ""
        with self._lock:
            self._cache[digest] = (site, time.monotonic())
        return site or None

    def authorize(self, key: str, site_id: str) -> bool | None:
        """True if `key` grants `site_id`, False if it is a key for another site, None if no key."""
        site = self.site_of(key)
        if site is None:
            return None
        return hmac.compare_digest(site.encode(), site_id.encode())
