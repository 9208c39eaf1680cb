"""The collector's privacy transform: a beacon plus request facts in, anonymous events out.

Order (DESIGN.md): consent gate → bot filter → geo on the full IP (in memory) →
visitor_id hash → the raw IP and user agent are dropped. Only `AnonymousEvent`s leave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from collector.anonymise import truncate_ip, visitor_id
from collector.beacon import Beacon
from collector.bots import BotFilter, HeaderItems
from collector.consent import counting_mode, opted_out
from collector.geo import GeoLookup
from collector.salts import SaltRotation
from collector.useragent import parse_user_agent
from contract.errors import DropEvent
from contract.event import AnonymousEvent
from contract.sites import Site


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the HTTP layer knows about the sender. Lives only inside the collector."""

    ip: str
    user_agent: str
    headers: Mapping[str, str] | HeaderItems


class Anonymiser:
    """Turns (beacon, request facts, site) into an AnonymousEvent or raises DropEvent."""

    def __init__(self, *, salts: SaltRotation, geo: GeoLookup, bots: BotFilter,
                 clock: Callable[[], dt.datetime]) -> None:
        self.salts = salts
        self.geo = geo
        self.bots = bots
        self.clock = clock

    def __call__(self, beacon: Beacon, facts: RequestFacts, site: Site) -> AnonymousEvent:
        """Apply the whole privacy transform for one site named by the beacon."""
        mode = counting_mode(beacon.consent, site.no_consent, opted_out(facts.headers))
        bot_reason = self.bots(facts.user_agent, facts.headers)
        if bot_reason is not None:
            raise DropEvent(f"bot:{bot_reason}", kind="bot")
        now = self.clock()
        geo = self.geo.lookup(facts.ip, with_city=site.city_geo)
        client = parse_user_agent(facts.user_agent)
        vid = prev_vid = 0
        if mode == "full":
            salt, prev_salt = self.salts.hashing_salts(now)
            vid = visitor_id(salt, site.domain, facts.ip, facts.user_agent)
            if prev_salt is not None:
                prev_vid = visitor_id(prev_salt, site.domain, facts.ip, facts.user_agent)
        return AnonymousEvent(
            site=site.domain,
            ts_ms=int(now.timestamp() * 1000),
            name=beacon.name,
            hostname=beacon.hostname,
            pathname=beacon.pathname,
            referrer=beacon.referrer,
            utm_source=beacon.utm.get("utm_source", ""),
            utm_medium=beacon.utm.get("utm_medium", ""),
            utm_campaign=beacon.utm.get("utm_campaign", ""),
            utm_content=beacon.utm.get("utm_content", ""),
            utm_term=beacon.utm.get("utm_term", ""),
            visitor_id=vid,
            prev_visitor_id=prev_vid,
            consent=beacon.consent.label,
            mode=mode,
            browser=client.browser,
            browser_version=client.browser_version,
            os=client.os,
            os_version=client.os_version,
            device=client.device,
            country=geo.country,
            region=geo.region,
            city=geo.city,
            truncated_ip=truncate_ip(facts.ip) if site.store_truncated_ip else "",
            props=dict(beacon.props),
            revenue_amount=beacon.revenue_amount,
            revenue_currency=beacon.revenue_currency,
            interactive=int(beacon.interactive),
            scroll_depth=beacon.scroll_depth,
            engagement_ms=beacon.engagement_ms,
        )
