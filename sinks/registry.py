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

from clickhouse_connect.driver.client import Client

from contract.errors import BadRequest
from contract.sites import DEFAULT_NO_CONSENT, Site, check_policy, normalise_domain
from sinks.client import run

KEY_PREFIX = "cbl_"


def _version() -> int:
    return time.time_ns()


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


class SiteRegistry:
    """Sites with their policies; reads are served from a cache refreshed every `ttl` seconds."""

    def __init__(self, client: Client, *, ttl: float = 30.0) -> None:
        self.client = client
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, Site] = {}
        self._loaded_at = 0.0

    def _load(self) -> dict[str, Site]:
        rows = run(self.client, """SELECT domain, argMax(no_consent, version),
            argMax(store_truncated_ip, version), argMax(city_geo, version),
            argMax(deleted, version) FROM sites GROUP BY domain""")
        return {d: Site(d, nc, bool(ip), bool(city)) for d, nc, ip, city, deleted in rows
                if not deleted}

    def refresh(self) -> None:
        """Reload the cache now (called after every change made through this instance)."""
        sites = self._load()
        with self._lock:
            self._cache, self._loaded_at = sites, time.monotonic()

    def get(self, domain: str) -> Site | None:
        """The site registered under `domain`, or None."""
        if time.monotonic() - self._loaded_at > self.ttl:
            self.refresh()
        with self._lock:
            return self._cache.get(domain)

    def domains(self) -> list[str]:
        """The domains of every registered site."""
        return [site.domain for site in self.list()]

    def list(self) -> list[Site]:
        """Every registered site."""
        self.refresh()
        with self._lock:
            return sorted(self._cache.values(), key=lambda s: s.domain)

    def add(self, domain: str, *, no_consent: str | None = None,
            store_truncated_ip: bool = False, city_geo: bool = False) -> Site:
        """Register a site, or update its policy if it exists.

        `no_consent` None keeps an existing site's policy and gives a new site
        DEFAULT_NO_CONSENT: a changed default never rewrites what a site was given.
        """
        domain = normalise_domain(domain)
        if no_consent is None:
            self.refresh()
            existing = self.get(domain)
            no_consent = existing.no_consent if existing else DEFAULT_NO_CONSENT
        site = Site(domain, check_policy(no_consent), store_truncated_ip, city_geo)
        self.client.insert("sites", [[site.domain, site.no_consent, int(store_truncated_ip),
                                      int(city_geo), 0, _version()]],
                           column_names=["domain", "no_consent", "store_truncated_ip",
                                         "city_geo", "deleted", "version"])
        self.refresh()
        return site

    def remove(self, domain: str) -> None:
        """Unregister a site: its beacons are refused from now on (stored data expires by TTL)."""
        domain = normalise_domain(domain)
        if self.get(domain) is None:
            self.refresh()
            if self.get(domain) is None:
                raise BadRequest(f"site {domain} is not registered")
        self.client.insert("sites", [[domain, "drop", 0, 0, 1, _version()]],
                           column_names=["domain", "no_consent", "store_truncated_ip",
                                         "city_geo", "deleted", "version"])
        self.refresh()


class ApiKeys:
    """Stats API bearer keys, stored hashed, each scoped to one site."""

    def __init__(self, client: Client, sites: SiteRegistry) -> None:
        self.client = client
        self.sites = sites
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def create(self, site: str) -> str:
        """Make a new key for `site` and return it; it is not retrievable later."""
        domain = normalise_domain(site)
        if self.sites.get(domain) is None:
            self.sites.refresh()
            if self.sites.get(domain) is None:
                raise BadRequest(f"site {domain} is not registered; add it first")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.client.insert("api_keys", [[hash_key(key), domain, dt.datetime.now(dt.UTC), 0,
                                         _version()]],
                           column_names=["key_hash", "site", "created", "revoked", "version"])
        return key

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
