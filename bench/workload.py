"""Synthetic but realistic beacon traffic: 200 user agents, thousands of IPs, two sites.

Everything is seeded, so every benchmark and every run sees the same mix. The user
agents follow a Zipf-like popularity (a few browsers dominate, a tail of rare ones and
bots), which is what makes the collector's per-user-agent caches matter.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from collector.bots import BotFilter
from collector.geo import GeoLookup
from collector.pipeline import Anonymiser, RequestFacts
from collector.salts import FileSaltStore, SaltRotation
from contract.sites import Site
from crumbless.testing.geo import build_test_mmdb

MAX_BODY = 16384  # Settings.max_body_bytes' default
NOON = dt.datetime(2026, 5, 10, 12, 0, tzinfo=dt.UTC)  # outside the salt grace window
SITES = {
    "example.com": Site("example.com", no_consent="full"),
    "shop.example.org": Site("shop.example.org", no_consent="anonymous",
                             store_truncated_ip=True, city_geo=True),
}
PATHS = ["/", "/pricing", "/docs", "/blog", "/about", "/contact", "/signup", "/login",
         *(f"/blog/post-{i}" for i in range(60)), *(f"/docs/page-{i}" for i in range(30))]
REFERRERS = ["", "", "", "https://www.google.com/", "https://www.bing.com/search",
             "https://news.ycombinator.com/item", "https://t.co/abc", "https://duckduckgo.com/",
             "https://www.reddit.com/r/webdev/", "https://example.com/blog"]
GEO_NETWORKS = {
    **{f"{a}.{b}.0.0/16": {"country": c, "region": r, "city": city}
       for a, (c, r, city) in zip((31, 46, 62, 78, 81, 85, 91, 94, 109, 176),
                                  (("DE", "BE", "Berlin"), ("FR", "IDF", "Paris"),
                                   ("GB", "ENG", "London"), ("NL", "NH", "Amsterdam"),
                                   ("ES", "MD", "Madrid"), ("IT", "RM", "Rome"),
                                   ("PL", "14", "Warsaw"), ("SE", "AB", "Stockholm"),
                                   ("US", "CA", "San Jose"), ("JP", "13", "Tokyo")), strict=True)
       for b in (10, 20, 30, 40)},
    "2a01::/16": {"country": "DE", "region": "HE", "city": "Frankfurt"},
    "2600::/12": {"country": "US", "region": "NY", "city": "New York"},
}

BOTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "curl/8.5.0", "python-requests/2.32.3", "Go-http-client/2.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/126.0.0.0 Safari/537.36",
        "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One beacon as the collector receives it: the body plus what the request tells."""

    body: bytes
    ip: str
    headers: dict[str, str]

    @property
    def facts(self) -> RequestFacts:
        """The request facts the privacy transform reads."""
        return RequestFacts(ip=self.ip, user_agent=self.headers["User-Agent"],
                            headers=self.headers)


def register_sites(registry: Any) -> None:
    """Add SITES, with their policies, to a SiteRegistry (a fresh runtime's)."""
    for site in SITES.values():
        registry.add(site.domain, no_consent=site.no_consent,
                     store_truncated_ip=site.store_truncated_ip, city_geo=site.city_geo)


def user_agents() -> list[str]:
    """200 distinct user agents: the usual browsers across versions, plus a few bots."""
    win, mac = "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7"
    webkit = "AppleWebKit/537.36 (KHTML, like Gecko)"
    families = [
        [f"Mozilla/5.0 ({win}) {webkit} Chrome/{v}.0.0.0 Safari/537.36" for v in range(105, 140)],
        [f"Mozilla/5.0 ({mac}) {webkit} Chrome/{v}.0.0.0 Safari/537.36" for v in range(115, 140)],
        [f"Mozilla/5.0 (Linux; Android {a}; K) {webkit} Chrome/{v}.0.0.0 Mobile Safari/537.36"
         for a in (10, 13, 14) for v in range(125, 135)],
        [f"Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
         for os in (win, "X11; Linux x86_64", "X11; Ubuntu; Linux x86_64")
         for v in range(125, 137)],
        [f"Mozilla/5.0 (iPhone; CPU iPhone OS {m}_{n} like Mac OS X) AppleWebKit/605.1.15 "
         f"(KHTML, like Gecko) Version/{m}.{n} Mobile/15E148 Safari/604.1"
         for m in (16, 17, 18) for n in range(7)],
        [f"Mozilla/5.0 ({mac}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{m}.{n} "
         "Safari/605.1.15" for m in (16, 17, 18) for n in range(4)],
        [f"Mozilla/5.0 ({win}) {webkit} Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0"
         for v in range(118, 136)],
        [f"Mozilla/5.0 (Linux; Android 14; SM-S918B) {webkit} SamsungBrowser/{v}.0 "
         "Chrome/117.0.0.0 Mobile Safari/537.36" for v in range(20, 27)],
        [f"Mozilla/5.0 ({win}) {webkit} Chrome/{v + 14}.0.0.0 Safari/537.36 OPR/{v}.0.0.0"
         for v in range(100, 116)],
    ]
    browsers = [ua for family in families for ua in family]
    return browsers[: 200 - len(BOTS)] + BOTS


def client_ips(count: int, rng: random.Random) -> list[str]:
    """`count` distinct client IPs: mostly IPv4 in the geo networks, some IPv6, some unknown."""
    networks = [ipaddress.ip_network(cidr) for cidr in GEO_NETWORKS]
    ips: set[str] = set()
    while len(ips) < count:
        roll = rng.random()
        if roll < 0.05:  # an address no database entry covers
            ips.add(f"203.0.113.{rng.randrange(1, 255)}" if rng.random() < 0.5 else
                    f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}")
            continue
        net = rng.choice(networks[-2:] if roll < 0.2 else networks[:-2])
        ips.add(str(net[rng.randrange(1, net.num_addresses - 1)]))
    return sorted(ips)


def beacon_body(rng: random.Random) -> bytes:
    """A beacon like the Plausible tracker sends, with utm, referrers, props and consent."""
    domain = "example.com" if rng.random() < 0.8 else "shop.example.org"
    url = f"https://{domain}{rng.choice(PATHS)}"
    if rng.random() < 0.2:
        url += f"?utm_source=newsletter&utm_medium=email&utm_campaign=spring{rng.randrange(5)}"
    body: dict[str, object] = {"n": "pageview", "u": url, "d": domain,
                               "r": rng.choice(REFERRERS) or None}
    if rng.random() < 0.1:
        body["n"] = rng.choice(["Signup", "Download", "Outbound Link: Click"])
        body["p"] = {"plan": rng.choice(["free", "pro", "team"]), "position": rng.randrange(9)}
    if rng.random() < 0.02:
        body["$"] = {"amount": round(rng.uniform(5, 500), 2), "currency": "EUR"}
    if (consent := rng.random()) < 0.35:
        body["consent"] = {"analytics": consent < 0.3, "marketing": False}
    return orjson.dumps(body)


def make_hits(count: int, *, ips: int = 5000, seed: int = 7) -> list[Hit]:
    """`count` hits over `ips` client addresses and the 200 user agents (seeded)."""
    rng = random.Random(seed)  # noqa: S311 -- a seeded workload, not a secret
    agents = user_agents()
    # Popularity by a seeded shuffle of the browsers (every family has popular versions);
    # the bots keep the least popular ranks.
    agents = rng.sample(agents[: -len(BOTS)], len(agents) - len(BOTS)) + agents[-len(BOTS):]
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(agents))]
    addresses = client_ips(ips, rng)
    # Every user agent appears at least once, so a first pass meets all 200 cold.
    chosen = agents + rng.choices(agents, weights, k=max(count - len(agents), 0))
    rng.shuffle(chosen)
    hits = []
    for n, agent in enumerate(chosen[:count]):
        headers = {"User-Agent": agent, "Content-Type": "text/plain",
                   "Accept": "*/*", "Accept-Language": "en-GB,en;q=0.9",
                   "Origin": "https://example.com", "Referer": "https://example.com/"}
        if rng.random() < 0.05:
            headers["Sec-GPC" if rng.random() < 0.5 else "DNT"] = "1"
        hits.append(Hit(beacon_body(rng), addresses[n % len(addresses)], headers))
    return hits


def build_geo_db(directory: Path) -> Path:
    """Write the benchmark's GeoLite2-City-shaped database and return its path."""
    return build_test_mmdb(directory / "bench-city.mmdb", GEO_NETWORKS)


def make_anonymiser(directory: Path, *, bots: BotFilter | None = None,
                    now: dt.datetime = NOON) -> Anonymiser:
    """An Anonymiser wired like crumbless.runtime does it, with a fixed clock."""
    salts = SaltRotation(FileSaltStore(directory / "salts"), dt.timedelta(hours=2))
    salts.rotate(now)
    geo = GeoLookup(build_geo_db(directory))
    return Anonymiser(salts=salts, geo=geo, bots=bots or BotFilter(), clock=lambda: now)
