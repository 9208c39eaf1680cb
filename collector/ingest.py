"""The one path from a checked beacon to durable anonymous events, shared by every endpoint.

`/api/event` (Plausible), `/api/send` (Umami) and `/matomo.php` (Matomo) each turn their
own payload into `Beacon`s; from there the steps are the same for all three:

    request facts (client IP behind trusted proxies, user agent, headers)
    → site lookup by domain (in memory) → Anonymiser (consent, bots, geo, visitor id)
    → transport.publish (durable before the endpoint answers)

The raw IP and user agent live only in the `RequestFacts` of one request.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Request, Response, jsonify

from collector.anonymise import request_client_ip
from collector.beacon import Beacon
from collector.pipeline import Anonymiser, RequestFacts
from contract.errors import (
    BadRequest,
    DropEvent,
    SpoolFull,
    StorageError,
    TooManyRequests,
    TransportError,
    UnknownSite,
)
from contract.event import AnonymousEvent
from contract.metrics import Metrics
from contract.sites import Site
from contract.transport import Transport

log = logging.getLogger(__name__)
RETRY_AFTER_S = "30"
DROPPED_HEADER = "X-Crumbless-Dropped"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why events could not be stored now (→ 503 with Retry-After); `reason` is client-safe."""

    reason: str


class Ingest:
    """Anonymise beacons of one request and publish the events; no endpoint-specific logic."""

    def __init__(self, *, anonymiser: Anonymiser, site_for: Callable[[str], Site | None],
                 transport: Transport, metrics: Metrics,
                 trusted_proxies: tuple[str, ...],
                 proxy_header: str = "x-forwarded-for",
                 site_limit: Callable[[str], float] = lambda _domain: 0.0) -> None:
        """`site_limit(domain)`: the per-site rate limit, seconds to wait or 0.0 to go ahead."""
        self.site_limit = site_limit
        self.anonymiser = anonymiser
        self.site_for = site_for
        self.transport = transport
        self.metrics = metrics
        self.trusted_proxies = trusted_proxies
        self.proxy_header = proxy_header

    def facts(self, request: Request, *, user_agent: str | None = None) -> RequestFacts:
        """The sender as the privacy core needs it; `user_agent` overrides the header.

        Matomo's documented `ua` parameter (a server-side tracker forwarding its visitor's
        browser) is the one caller of the override; the IP is always the connection's.
        """
        return RequestFacts(
            ip=request_client_ip(request.environ, self.trusted_proxies, self.proxy_header),
            user_agent=(user_agent if user_agent is not None
                        else request.headers.get("User-Agent", "")),
            headers=request.headers,
        )

    def sites_of(self, beacon: Beacon) -> list[Site]:
        """The registered sites a beacon names; UnknownSite names the first unregistered one."""
        sites = []
        for domain in beacon.domains:
            site = self.site_for(domain)
            if site is None:
                raise UnknownSite(f"domain {domain} is not a registered site")
            wait = self.site_limit(site.domain)
            if wait > 0:
                self.metrics.inc("rate_limited", scope="site")
                raise TooManyRequests("rate limit: too many events for this site; retry later",
                                      retry_after=wait)
            sites.append(site)
        return sites

    def anonymise(self, beacon: Beacon, sites: Iterable[Site], facts: RequestFacts,
                  dropped: list[str] | None = None) -> list[AnonymousEvent]:
        """One anonymous event per site, less those dropped on purpose.

        Each drop is counted by kind and, if `dropped` is given, its kind (`bot`,
        `consent`) appended there for the response header. The beacon's dropped optional
        parts are counted too.
        """
        for part in beacon.dropped:
            self.metrics.inc("beacon_parts_dropped", part=part)
        events = []
        for site in sites:
            try:
                events.append(self.anonymiser(beacon, facts, site))
            except DropEvent as exc:
                self.metrics.inc("events_dropped", reason=exc.kind)
                if dropped is not None:
                    dropped.append(exc.kind)
                # The reason is a fixed phrase (e.g. bot:empty-user-agent): no IP, no UA.
                log.debug("event for %s dropped: %s", site.domain, exc)
        return events

    def publish(self, events: list[AnonymousEvent]) -> Unavailable | None:
        """Make `events` durable; an Unavailable (never an exception) when that cannot happen."""
        if events:
            try:
                self.transport.publish(events)
            except SpoolFull:
                self.metrics.inc("spool_full")
                return Unavailable("collector is over capacity; retry later")
            except TransportError as exc:
                self.metrics.inc("transport_errors")
                log.error("publish failed: %s", exc)
                return Unavailable("events cannot be stored right now; retry later")
        self.metrics.inc("events_accepted", len(events))
        return None


def accepted_response(dropped: list[str]) -> Response:
    """202 with no body and no Content-Type; says which events were dropped, and why.

    A dropped event still gets 202 (a tracker must not learn to evade the filters by the
    status), but the person integrating sees `X-Crumbless-Dropped: bot` or `consent` in
    the browser's network tab, as Plausible's `x-plausible-dropped`.
    """
    response = Response(status=202)
    del response.headers["Content-Type"]
    if dropped:
        response.headers[DROPPED_HEADER] = ", ".join(sorted(set(dropped)))
    return response


def error_response(status: int, reason: str) -> Response:
    """A 4xx/5xx answer with one line of JSON: {"error": reason}."""
    response = jsonify(error=reason)
    response.status_code = status
    return response


def rejected_response(exc: BadRequest | StorageError) -> Response:
    """The answer to a request refused before publishing: its 4xx, or 503 if storage failed.

    A StorageError here comes from the site registry or the salt store (ClickHouse): the
    client should retry, so it is a 503 with Retry-After, never a 500.
    """
    if isinstance(exc, StorageError):
        log.error("site or salt lookup failed: %s", type(exc).__name__)
        return unavailable_response(Unavailable("storage unavailable; retry later"))
    response = error_response(exc.status, str(exc))
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


def unavailable_response(unavailable: Unavailable) -> Response:
    """503 with Retry-After: the events were not stored and the client should send them again."""
    response = error_response(503, unavailable.reason)
    response.headers["Retry-After"] = RETRY_AFTER_S
    return response
