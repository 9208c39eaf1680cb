"""The collector's HTTP shell: POST /api/event moves bytes into the pure privacy core.

Answers 202 with an empty body once the anonymous events are durable; a bad beacon gets
a 4xx with a one-line JSON reason; a full spool gets 503 with Retry-After. The raw IP
and user agent exist only in this request's memory and are never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, request

from collector.beacon import parse_beacon
from collector.compat_views import register_compat
from collector.ingest import (
    DROPPED_HEADER,
    Ingest,
    accepted_response,
    rejected_response,
    unavailable_response,
)
from collector.pipeline import Anonymiser
from contract.errors import BadRequest, PayloadTooLarge, StorageError, UnsupportedMediaType
from contract.metrics import Metrics
from contract.sites import Site
from contract.transport import Transport

ACCEPTED_TYPES = ("text/plain", "application/json", "")


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """What the collector view needs from the settings."""

    max_body_bytes: int
    trusted_proxies: tuple[str, ...]
    proxy_header: str = "x-forwarded-for"


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Access-Control-Expose-Headers"] = DROPPED_HEADER
    return response


def collector_blueprint(*, config: CollectorConfig, anonymiser: Anonymiser,
                        site_for: Callable[[str], Site | None], transport: Transport,
                        metrics: Metrics,
                        umami_site: Callable[[str], Site | None] = lambda _: None,
                        matomo_site: Callable[[int], Site | None] = lambda _: None,
                        site_limit: Callable[[str], float] = lambda _: 0.0) -> Blueprint:
    """/api/event, and the Umami and Matomo compatibility endpoints, wired to their collaborators.

    `umami_site` and `matomo_site` find a site by its Umami website id or Matomo idsite
    (in memory); all three endpoints share one `Ingest` path, which applies `site_limit`
    (seconds to wait, 0.0 to go ahead) to each site.
    """
    bp = Blueprint("collector", __name__)
    ingest = Ingest(anonymiser=anonymiser, site_for=site_for, transport=transport,
                    metrics=metrics, trusted_proxies=config.trusted_proxies,
                    proxy_header=config.proxy_header, site_limit=site_limit)

    @bp.route("/api/event", methods=["OPTIONS"])
    def preflight() -> Response:
        return _cors(Response(status=204))

    @bp.route("/api/event", methods=["POST"])
    def event() -> Response:
        dropped: list[str] = []
        try:
            beacon = parse_beacon(_body(), max_bytes=config.max_body_bytes)
            events = ingest.anonymise(beacon, ingest.sites_of(beacon), ingest.facts(request),
                                      dropped)
        except (BadRequest, StorageError) as exc:
            metrics.inc("beacons_rejected", status=str(getattr(exc, "status", 503)))
            return _cors(rejected_response(exc))
        unavailable = ingest.publish(events)
        if unavailable is not None:
            return _cors(unavailable_response(unavailable))
        return _cors(accepted_response(dropped))

    def _body() -> bytes:
        mimetype = request.mimetype or ""
        if mimetype not in ACCEPTED_TYPES:
            raise UnsupportedMediaType(f"Content-Type {mimetype!r} is not accepted; send "
                                       "text/plain or application/json")
        if (request.content_length or 0) > config.max_body_bytes:
            raise PayloadTooLarge(f"body is {request.content_length} bytes; the limit is "
                                  f"{config.max_body_bytes}")
        return request.stream.read(config.max_body_bytes + 1)

    register_compat(bp, ingest=ingest, max_body_bytes=config.max_body_bytes,
                    umami_site=umami_site, matomo_site=matomo_site)
    return bp
