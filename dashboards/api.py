"""POST /api/v2/query: the Stats API over HTTP, in the shape of Plausible's Stats API v2.

A thin shell: authenticate, decode, parse (dashboards.query), answer (StatsService).
Every failure is a JSON {"error": "<one line>"}: 401 no or unknown API key, 403 a key for
another site, 400 a bad field, a filter too narrow for k or an unknown site, 413 a body too
large, 429 a privacy budget spent or too many date ranges today, 503 storage down.
Each key is its own caller (dashboards.stats.Caller): its digest, never the key itself,
keys the range ledger and the privacy budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from contract.errors import BadQuery, StorageError
from dashboards.query import parse_query
from dashboards.stats import StatsService

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


def check_json(value: Any) -> None:
    """BadQuery unless `value` nests at most MAX_JSON_DEPTH deep and every string is UTF-8.

    A lone surrogate (JSON allows "\\ud800") cannot be encoded for ClickHouse; deep
    nesting would exhaust the parser's recursion. The message names the field's path.
    """
    stack: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadQuery(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadQuery(f"{path}: not valid Unicode (a lone surrogate)") from None
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, v in item.items():
                name = key if key.isidentifier() else "?"
                stack.append((key, f"{path}: a key", depth + 1))
                stack.append((v, name if path == "body" else f"{path}.{name}", depth + 1))

# authorize(api_key, site_id): True = allowed; False = a valid key without access to this
# site (403); None = no such key (401). A callable returning only bools gets 403 for both.
Authorize = Callable[[str, str], bool | None]


def _error(status: int, message: str) -> tuple[Response, int]:
    response = jsonify({"error": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="crumbless stats"'
    return response, status


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def stats_blueprint(service: StatsService, *, authorize: Authorize) -> Blueprint:
    """A Blueprint serving POST /api/v2/query from `service`, guarded by `authorize`."""
    blueprint = Blueprint("stats_api", __name__, url_prefix="/api/v2")

    @blueprint.post("/query")
    def query() -> tuple[Response, int]:
        token = _bearer_token()
        if token is None:
            return _error(401, "Authorization: expected 'Bearer <API key>'")
        raw = request.stream.read(MAX_QUERY_BYTES + 1)
        if len(raw) > MAX_QUERY_BYTES:
            return _error(413, f"body: larger than {MAX_QUERY_BYTES} bytes")
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            return _error(400, "body: not valid JSON")
        except RecursionError:
            return _error(400, f"body: nested deeper than {MAX_JSON_DEPTH} levels")
        if not isinstance(body, dict):
            return _error(400, "body: expected a JSON object")
        try:
            check_json(body)
        except BadQuery as exc:
            return _error(400, str(exc))
        site_id = body.get("site_id")
        if not isinstance(site_id, str) or not site_id.strip():
            return _error(400, "site_id: required, the site's domain as a string")
        try:
            # Authorisation comes before the site lookup so a key cannot probe which sites exist.
            allowed = authorize(token, site_id.strip().lower())
            if allowed is None:
                return _error(401, "Authorization: unknown or revoked API key")
            if not allowed:
                return _error(403, "site_id: this API key has no access to this site")
            timezone = service.site_timezone(site_id.strip().lower())
            if timezone is None:
                return _error(400, "site_id: unknown site")
            stats_query = parse_query(body, today=service.today(timezone), now=service.now(),
                                      timezone=timezone)
            digest = hashlib.sha256(token.encode()).hexdigest()[:32]
            caller = service.caller_for_key(digest, stats_query.site_id)
            return jsonify(service.run(stats_query, caller=caller)), 200
        except BadQuery as exc:
            return _error(exc.status, str(exc))
        except StorageError as exc:
            log.warning("stats query failed: %s", exc)
            return _error(503, "storage unavailable, try again later")
        except Exception:  # a bug: log it, answer JSON without a stack trace
            log.exception("stats query crashed")
            return _error(500, "internal error")

    return blueprint
