"""Umami's collect payload (`POST /api/send`) translated into beacon fields, with no I/O.

Source of the format: Umami's collect route and request schema (src/app/api/send/ in the
umami-software/umami repository) and what its tracker (src/tracker/index.js) and the npm
client `@umami/node` send:

    {"type": "event" | "identify" | "performance" | "engagement" | "error",
     "payload": {"website": "<uuid>", "hostname": "example.com",
                 "url": "/pricing?utm_source=x" or "https://example.com/pricing",
                 "referrer": "https://news.example/", "title": "...", "screen": "1920x1080",
                 "language": "en-US", "name": "signup" (absent = pageview),
                 "data": {"plan": "pro", ...}, "id": ..., "vid": ..., "tag": ..., ...}}

What is kept, and how it maps onto the Plausible-shaped beacon fields:

- `website` → the site mapped to that Umami website id (required, a UUID)
- `url` → page path and utm_* (query otherwise cut). A path is joined to `hostname` (or
  the site's domain). A named event without a url (`umami.track("signup", data)` from
  `@umami/node`) is counted on "/"; a pageview without a url is refused (400)
- `referrer` → referrer when it is an absolute http(s) URL; a path-only referrer is a
  same-site navigation and is dropped, as Umami drops self-referrals
- `name` → event name (cut to MAX_NAME); absent or blank → "pageview"
- `data` → props: scalar values kept (cut to the limits), nested objects and arrays
  dropped; numeric `revenue` with a 3-letter `currency` becomes the event's revenue
- `title`, `screen`, `language`, `tag` and everything else: not kept
- `id`, `vid`, `ip`, `userAgent`, `timestamp`, `browser`, `os`, `device`: overrides and
  identifiers of a visitor; discarded by design (the visitor id is crumbless's own daily-
  salted hash of the connection's IP and user agent, the time is the receive time)
- types other than "event" (identify = user identification, performance, engagement,
  error): accepted and discarded by design
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.beacon import MAX_NAME, MAX_PROP_KEY, MAX_PROP_VALUE, MAX_PROPS, load_json
from collector.compat_matomo import short_url
from contract.errors import BadRequest, PayloadTooLarge
from contract.sites import Site, normalise_umami_id

DISCARDED_TYPES = frozenset({"identify", "performance", "engagement", "error"})
_ABSOLUTE = re.compile(r"^https?://", re.IGNORECASE)
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class UmamiRequest:
    """A decoded collect request: its type, the website id it names, and its payload."""

    type: str
    website_id: str
    payload: Mapping[str, Any]

    @property
    def discarded(self) -> bool:
        """True for types that are accepted but never stored (identify and friends)."""
        return self.type in DISCARDED_TYPES


def parse_umami(body: bytes, *, max_bytes: int) -> UmamiRequest:
    """Size-check and decode a collect body; BadRequest names the field that is wrong."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes, the limit")
    raw = load_json(body)
    if not isinstance(raw, dict):
        raise BadRequest('body must be a JSON object {"type": "event", "payload": {...}}')
    kind = raw.get("type", "event")
    if not isinstance(kind, str) or (kind != "event" and kind not in DISCARDED_TYPES):
        raise BadRequest(f"type must be event or one of {', '.join(sorted(DISCARDED_TYPES))}")
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise BadRequest("payload must be a JSON object")
    website = payload.get("website")
    if not isinstance(website, str) or not website:
        raise BadRequest("payload.website is required: the Umami website id (a UUID)")
    try:
        website_id = normalise_umami_id(website)
    except BadRequest as exc:
        raise BadRequest("payload.website must be a UUID") from exc
    return UmamiRequest(type=str(kind), website_id=website_id, payload=payload)


def _string(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return value.strip() if isinstance(value, str) else ""


def _page_url(payload: Mapping[str, Any], site: Site, *, named: bool) -> str:
    url = _string(payload, "url")
    if _ABSOLUTE.match(url):
        return short_url(url)
    hostname = _string(payload, "hostname")
    host = hostname if _HOSTNAME.match(hostname) else site.domain
    if not url:
        if not named:
            raise BadRequest("payload.url is required for a pageview")
        return f"https://{host}/"
    return short_url(f"https://{host}{url if url.startswith('/') else '/' + url}")


def _revenue(data: Mapping[str, Any]) -> dict[str, str] | None:
    amount, currency = data.get("revenue"), data.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    if not isinstance(currency, str) or not _CURRENCY.match(currency.strip().upper()):
        return None
    try:
        value = decimal.Decimal(str(amount))
    except decimal.InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= decimal.Decimal(10) ** 15:
        return None
    return {"amount": str(value), "currency": currency.strip().upper()}


def props_from(data: Any, *, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Scalar entries of an event-data object, cut to the beacon's limits; the rest dropped."""
    if not isinstance(data, dict):
        return {}
    props: dict[str, str] = {}
    for key, value in data.items():
        if len(props) >= MAX_PROPS:
            break
        if key in skip or not key or len(key) > MAX_PROP_KEY or value is None:
            continue
        if isinstance(value, dict | list):
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        props[key] = text[:MAX_PROP_VALUE]
    return props


def umami_fields(request: UmamiRequest, site: Site) -> dict[str, Any]:
    """The long-key beacon fields of an "event" request for `site` (its mapped site)."""
    payload = request.payload
    name = _string(payload, "name")[:MAX_NAME]
    referrer = _string(payload, "referrer")
    data = payload.get("data")
    revenue = _revenue(data) if isinstance(data, dict) else None
    fields: dict[str, Any] = {
        "name": name or "pageview",
        "url": _page_url(payload, site, named=bool(name)),
        "domain": site.domain,
        "referrer": short_url(referrer) if _ABSOLUTE.match(referrer) else "",
        "props": props_from(data, skip=frozenset({"revenue", "currency"}) if revenue
                            else frozenset()),
    }
    if revenue is not None:
        fields["revenue"] = revenue
    return fields
