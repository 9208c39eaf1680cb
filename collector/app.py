"""The collector's HTTP shell: POST /api/event moves bytes into the pure privacy core.

Answers 202 with an empty body once the anonymous events are durable; a bad beacon gets
a 4xx with a one-line JSON reason; a full spool gets 503 with Retry-After. The raw IP
and user agent exist only in this request's memory and are never logged.
"""

from __future__ import annotations

import logging
import math
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
    StorageError,
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


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """What the collector view needs from the settings."""

    max_body_bytes: int
    trusted_proxies: tuple[str, ...]
    proxy_header: str = "x-forwarded-for"


class RateLimited(Exception):
    """A site is over its event rate; `wait` is the seconds until it may send again."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


def _error(status: int, reason: str) -> Response:
    response = jsonify(error=reason)
    response.status_code = status
    return response


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def collector_blueprint(*, config: CollectorConfig, anonymiser: Anonymiser,
                        site_for: Callable[[str], Site | None], transport: Transport,
                        metrics: Metrics,
                        site_limit: Callable[[str], float] | None = None) -> Blueprint:
    """The /api/event endpoint wired to its collaborators.

    `site_limit(domain)` is the per-site rate limit: seconds to wait, 0.0 to go ahead.
    """
    bp = Blueprint("collector", __name__)

    @bp.route("/api/event", methods=["OPTIONS"])
    def preflight() -> Response:
        return _cors(Response(status=204))

    @bp.route("/api/event", methods=["POST"])
    def event() -> Response:
        try:
            events = _anonymous_events()
        except BadRequest as exc:
            metrics.inc("beacons_rejected", status=str(exc.status))
            return _cors(_error(exc.status, str(exc)))
        except RateLimited as exc:
            metrics.inc("rate_limited", scope="site")
            response = _error(429, "rate limit: too many events for this site; retry later")
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
            return _cors(response)
        except StorageError as exc:  # the site registry or the salts could not be read
            metrics.inc("storage_errors")
            log.error("site or salt lookup failed: %s", type(exc).__name__)
            response = _error(503, "storage unavailable; retry later")
            response.headers["Retry-After"] = RETRY_AFTER_S
            return _cors(response)
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
        return _cors(Response(status=202))

    def _anonymous_events() -> list[AnonymousEvent]:
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
            wait = site_limit(site.domain) if site_limit is not None else 0.0
            if wait > 0:
                raise RateLimited(wait)
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
                metrics.inc("events_dropped", reason=str(exc).split(":")[0]
                            if str(exc).startswith("bot:") else "consent")
        return events

    return bp
