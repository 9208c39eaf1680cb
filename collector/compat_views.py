"""HTTP shells of the Umami (`POST /api/send`) and Matomo (`/matomo.php`, `/piwik.php`) endpoints.

Each view only moves bytes: the pure translators (collector.compat_umami,
collector.compat_matomo) turn a payload into beacon fields, `beacon_from_fields` checks
them like a Plausible beacon, and the shared `Ingest` anonymises and publishes. Answers
are the ones the trackers expect: Umami gets JSON (its tracker parses it), Matomo gets a
1x1 GIF, or 204 when the hit says send_image=0, or its bulk JSON summary.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from flask import Blueprint, Response, jsonify, request

from collector.beacon import beacon_from_fields
from collector.compat_matomo import (
    bulk_requests,
    matomo_hit,
    merge_params,
    params_of,
    site_id_of,
)
from collector.compat_umami import parse_umami, umami_fields
from collector.ingest import Ingest, rejected_response, unavailable_response
from contract.errors import BadRequest, PayloadTooLarge, StorageError, UnknownSite
from contract.event import AnonymousEvent
from contract.sites import Site

# Matomo's default tracking response: a transparent 1x1 GIF (core/Tracker/Response.php).
TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
MIN_BULK_BYTES = 64 * 1024  # the app's MAX_CONTENT_LENGTH floor: room for a bulk of hits


def _umami_cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, x-umami-cache"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def _matomo_cors(response: Response) -> Response:
    # Matomo's JavaScript tracker posts with credentials, which a "*" origin would fail
    # (and the tracker would resend the hit by another route); so, like Matomo, echo the
    # origin. No cookie is ever set or read here, so credentials carry nothing.
    response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Vary"] = "Origin"
    return response


def register_compat(bp: Blueprint, *, ingest: Ingest, max_body_bytes: int,
                    umami_site: Callable[[str], Site | None],
                    matomo_site: Callable[[int], Site | None]) -> None:
    """Add the Umami and Matomo endpoints to the collector's blueprint."""
    bulk_bytes = max(max_body_bytes, MIN_BULK_BYTES)

    def rejected(exc: BadRequest | StorageError) -> Response:
        ingest.metrics.inc("beacons_rejected", status=str(getattr(exc, "status", 503)))
        return rejected_response(exc)

    def read_body(limit: int) -> bytes:
        if (request.content_length or 0) > limit:
            raise PayloadTooLarge(f"body is {request.content_length} bytes; the limit is {limit}")
        return request.stream.read(limit + 1)

    @bp.route("/api/send", methods=["OPTIONS"])
    def umami_preflight() -> Response:
        return _umami_cors(Response(status=204))

    @bp.route("/api/send", methods=["POST"])
    def umami_send() -> Response:
        try:
            umami = parse_umami(read_body(max_body_bytes), max_bytes=max_body_bytes)
            site = umami_site(umami.website_id)
            if site is None:
                raise UnknownSite(f"payload.website {umami.website_id} is not mapped to a "
                                  "registered site (crumbless sites add --umami-website-id)")
            events: list[AnonymousEvent] = []
            if not umami.discarded:
                beacon = beacon_from_fields(umami_fields(umami, site))
                events = ingest.anonymise(beacon, ingest.sites_of(beacon),
                                          ingest.facts(request))
        except (BadRequest, StorageError) as exc:
            return _umami_cors(rejected(exc))
        unavailable = ingest.publish(events)
        if unavailable is not None:
            return _umami_cors(unavailable_response(unavailable))
        return _umami_cors(jsonify({}))

    def matomo_events(params: dict[str, str]) -> list[AnonymousEvent]:
        site_id = site_id_of(params)
        site = matomo_site(site_id)
        if site is None:
            raise UnknownSite(f"idsite {site_id} is not mapped to a registered site "
                              "(crumbless sites add --matomo-site-id)")
        hit = matomo_hit(params, site)
        if hit.fields is None:
            return []
        beacon = beacon_from_fields(hit.fields)
        return ingest.anonymise(beacon, ingest.sites_of(beacon),
                                ingest.facts(request, user_agent=hit.user_agent))

    @bp.route("/matomo.php", methods=["GET", "POST", "OPTIONS"])
    @bp.route("/piwik.php", methods=["GET", "POST", "OPTIONS"])
    def matomo() -> Response:
        if request.method == "OPTIONS":
            return _matomo_cors(Response(status=204))
        try:
            query = params_of(request.query_string.decode("utf-8", "replace"))
            body = read_body(bulk_bytes) if request.method == "POST" else b""
            bulk = bulk_requests(body, max_bytes=bulk_bytes) if body else None
            if bulk is not None:
                return matomo_bulk(bulk)
            if len(body) > max_body_bytes:
                raise PayloadTooLarge(f"body is over {max_body_bytes} bytes, the limit")
            hit = merge_params(query, params_of(body.decode("utf-8", "replace")))
            events = matomo_events(hit)
        except (BadRequest, StorageError) as exc:
            return _matomo_cors(rejected(exc))
        unavailable = ingest.publish(events)
        if unavailable is not None:
            return _matomo_cors(unavailable_response(unavailable))
        if hit.get("send_image") == "0":
            return _matomo_cors(Response(status=204))
        response = Response(TRANSPARENT_GIF, status=200, mimetype="image/gif")
        response.headers["Cache-Control"] = "no-store"
        return _matomo_cors(response)

    def matomo_bulk(hits: list[dict[str, str]]) -> Response:
        """Valid hits are kept even when others are not; none valid → 400 naming the first."""
        events: list[AnonymousEvent] = []
        tracked, invalid = 0, 0
        first: BadRequest | None = None
        for i, params in enumerate(hits):
            try:
                events.extend(matomo_events(params))
                tracked += 1
            except BadRequest as exc:
                invalid += 1
                if first is None:
                    first = type(exc)(f"requests[{i}]: {exc}")
        if tracked == 0 and first is not None:
            return _matomo_cors(rejected(first))
        unavailable = ingest.publish(events)
        if unavailable is not None:
            return _matomo_cors(unavailable_response(unavailable))
        return _matomo_cors(jsonify(status="success", tracked=tracked, invalid=invalid))
