"""GET /js/script.js: crumbless's own tracker, minified once and served with a strong ETag.

The readable source is collector/static/script.js. It is minified with rjsmin (comments
and whitespace only, no renaming) and gzipped once per process; each encoding has its own
strong ETag, so a conditional request answers 304 without a body. The URL carries no
version, so browsers cache for a day and may use a stale copy for a week while they
revalidate: a tracker fix reaches every site within that window.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import rjsmin
from flask import Blueprint, Response, request

SCRIPT_SOURCE = ("static", "script.js")
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
SIZE_BUDGET_GZIP = 2048  # bytes on the wire for a gzip-accepting browser


@dataclass(frozen=True, slots=True)
class ServedScript:
    """One encoding of the tracker: its body bytes and its strong ETag (quoted)."""

    body: bytes
    etag: str


def minify(source: str) -> str:
    """The tracker's source without comments and needless whitespace (rjsmin)."""
    return str(rjsmin.jsmin(source)).strip() + "\n"


def tracker_source() -> str:
    """The readable tracker source shipped in the collector package."""
    return files("collector").joinpath(*SCRIPT_SOURCE).read_text(encoding="utf-8")


@cache
def served_script() -> tuple[ServedScript, ServedScript]:
    """(identity, gzip) encodings of the minified tracker, built once per process."""
    plain = minify(tracker_source()).encode("utf-8")
    digest = hashlib.sha256(plain).hexdigest()[:20]
    # mtime=0 keeps the gzip bytes, and so the ETag's promise, identical across restarts.
    packed = gzip.compress(plain, compresslevel=9, mtime=0)
    return ServedScript(plain, f'"{digest}"'), ServedScript(packed, f'"{digest}-gz"')


def tracker_blueprint() -> Blueprint:
    """The /js/script.js route, for the embedded app and the distributed collector."""
    bp = Blueprint("tracker", __name__)

    @bp.get("/js/script.js")
    def script() -> Response:
        plain, packed = served_script()
        gzipped = request.accept_encodings["gzip"] > 0
        chosen = packed if gzipped else plain
        if chosen.etag in _etags(request.headers.get("If-None-Match", "")):
            response = Response(status=304)
        else:
            response = Response(chosen.body, mimetype="application/javascript")
            if gzipped:
                response.headers["Content-Encoding"] = "gzip"
        response.headers["ETag"] = chosen.etag
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["Vary"] = "Accept-Encoding"
        response.headers["Access-Control-Allow-Origin"] = "*"  # lets a site use SRI
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return bp


def _etags(header: str) -> set[str]:
    """The entity tags listed in an If-None-Match header ("*" matches any)."""
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
    if "*" in tags:
        tags |= {s.etag for s in served_script()}
    return tags
