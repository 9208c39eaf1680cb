"""The collector's HTTP shell: POST /api/event moves bytes into the pure privacy core.

Answers 202 with an empty body once the anonymous events are durable; a bad beacon gets
a 4xx with a one-line JSON reason; a full spool gets 503 with Retry-After. The raw IP
and user agent exist only in this request's memory and are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, request

from collector.anonymise import client_ip
from collector.beacon import parse_beacon
from collector.pipeline import Anonymiser, RequestFacts
from contract.errors import (
    BadRequest,
    DropEvent,
    PayloadTooLarge,
    SpoolFull,
    TransportError,
    UnknownSite,
    UnsupportedMediaType,
)
from contract.event import AnonymousEvent
from contract.metrics import Metrics
from contract.sites import Site
from contract.transport import Transport

log = logging.getLogger(__name__)
ACCEPTED_TYPES = ("text/plain", "application/json", "")
RETRY_AFTER_S = "30"
DROPPED_HEADER = "X-Crumbless-Dropped"


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """What the collector view needs from the settings."""

    max_body_bytes: int
    trusted_proxies: tuple[str, ...]
    proxy_header: str = "x-forwarded-for"


def _error(status: int, reason: str) -> Response:
    response = jsonify(error=reason)
    response.status_code = status
    return response


def _accepted(dropped: list[str]) -> Response:
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


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Access-Control-Expose-Headers"] = DROPPED_HEADER
    return response


def collector_blueprint(*, config: CollectorConfig, anonymiser: Anonymiser,
                        site_for: Callable[[str], Site | None], transport: Transport,
                        metrics: Metrics) -> Blueprint:
    """The /api/event endpoint wired to its collaborators."""
    bp = Blueprint("collector", __name__)

    @bp.route("/api/event", methods=["OPTIONS"])
    def preflight() -> Response:
        return _cors(Response(status=204))

    @bp.route("/api/event", methods=["POST"])
    def event() -> Response:
        dropped: list[str] = []
        try:
            events = _anonymous_events(dropped)
        except BadRequest as exc:
            metrics.inc("beacons_rejected", status=str(exc.status))
            return _cors(_error(exc.status, str(exc)))
        if events:
            try:
                transport.publish(events)
            except SpoolFull:
                metrics.inc("spool_full")
                response = _error(503, "collector is over capacity; retry later")
                response.headers["Retry-After"] = RETRY_AFTER_S
                return _cors(response)
            except TransportError as exc:
                metrics.inc("transport_errors")
                log.error("publish failed: %s", exc)
                response = _error(503, "events cannot be stored right now; retry later")
                response.headers["Retry-After"] = RETRY_AFTER_S
                return _cors(response)
        metrics.inc("events_accepted", len(events))
        return _cors(_accepted(dropped))

    def _anonymous_events(dropped: list[str]) -> list[AnonymousEvent]:
        mimetype = request.mimetype or ""
        if mimetype not in ACCEPTED_TYPES:
            raise UnsupportedMediaType(f"Content-Type {mimetype!r} is not accepted; send "
                                       "text/plain or application/json")
        if (request.content_length or 0) > config.max_body_bytes:
            raise PayloadTooLarge(f"body is {request.content_length} bytes; the limit is "
                                  f"{config.max_body_bytes}")
        body = request.stream.read(config.max_body_bytes + 1)
        beacon = parse_beacon(body, max_bytes=config.max_body_bytes)
        for part in beacon.dropped:
            metrics.inc("beacon_parts_dropped", part=part)
        sites = []
        for domain in beacon.domains:
            site = site_for(domain)
            if site is None:
                raise UnknownSite(f"domain {domain} is not a registered site")
            sites.append(site)
        facts = RequestFacts(
            ip=client_ip(request.remote_addr or "", request.headers.get(config.proxy_header),
                         config.trusted_proxies, config.proxy_header),
            user_agent=request.headers.get("User-Agent", ""),
            headers=request.headers,
        )
        events = []
        for site in sites:
            try:
                events.append(anonymiser(beacon, facts, site))
            except DropEvent as exc:
                kind = "bot" if str(exc).startswith("bot:") else "consent"
                metrics.inc("events_dropped", reason=str(exc).split(":")[0]
                            if kind == "bot" else "consent")
                dropped.append(kind)
                # The reason is a fixed word (e.g. bot:empty-user-agent): no IP, no UA.
                log.debug("event for %s dropped: %s", site.domain, exc)
        return events

    return bp
