"""Parse and check a beacon body (the Plausible Events API shape), with no I/O.

Liberal in what it accepts, strict in what it keeps. The fields, long or short, as the
Plausible Events API and its trackers send them (plausible.io/docs/events-api and the
tracker sources of `@plausible-analytics/tracker` and `plausible-tracker`):

| long          | short | kept as                                                       |
|---------------|-------|---------------------------------------------------------------|
| name          | n     | event name, required, at most 120 characters                  |
| url           | u     | required http(s) URL: host, canonical path, utm_* parameters  |
| domain        | d     | required, comma-separated site domains (at most 10)           |
| referrer      | r     | scheme://host/path; dropped if invalid or over-long           |
| props / meta  | p / m | object (or JSON text of one) of scalar values; bad keys dropped |
| revenue       | $     | {amount, currency}: ISO 4217 currency; dropped if invalid     |
| consent       | c     | {category: bool}; malformed reads as a refusal (never an id)  |
| interactive   | i     | false: the event does not count against a bounce              |
| hash          | h     | truthy: hash-based routing, the fragment is part of the page  |
| scroll_depth  | sd    | engagement events: percent 0..100                             |
| engagement_time | e   | engagement events: engaged time in milliseconds               |

Anything else (`v`, `w`, `$`-less extras, fields of future trackers) is ignored. A bad
optional part is dropped or trimmed and named in `Beacon.dropped` (the caller counts it
in a metric); only what makes the event meaningless raises BadRequest with a one-line
reason naming the field: body not a JSON object, no name, no usable URL, no domain.

Lengths are checked on what is kept (the canonical path and the utm_* values), never on
parts cut at the edge such as a long click id in the query string.
"""

from __future__ import annotations

import decimal
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
import pycountry

from collector.consent import ConsentState, parse_consent
from contract.errors import BadRequest, PayloadTooLarge
from contract.sites import normalise_domain

MAX_URL = 2048  # referrer as sent
MAX_PATH = 2000  # canonical page path as kept (Plausible's limit on pathname)
MAX_NAME = 120
MAX_PROPS = 30
MAX_PROP_KEY = 300
MAX_PROP_VALUE = 2000
MAX_UTM = 2000
MAX_DOMAINS = 10
MAX_ENGAGEMENT_MS = 24 * 3600 * 1000  # an engaged time beyond a day is a broken client
ENGAGEMENT = "engagement"
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_SHORT_KEYS = {"n": "name", "u": "url", "d": "domain", "r": "referrer", "p": "props",
               "m": "meta", "$": "revenue", "c": "consent", "i": "interactive", "h": "hash",
               "sd": "scroll_depth", "e": "engagement_time"}
_KNOWN = frozenset(_SHORT_KEYS.values())
_IGNORED_QUIETLY = frozenset(("v", "w"))  # tracker version, screen width: sent, not kept
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FALSE = (False, 0, "0", "false")


@dataclass(frozen=True, slots=True)
class Beacon:
    """A checked beacon: what the browser said, before any privacy transform."""

    name: str
    hostname: str
    pathname: str
    domains: tuple[str, ...]
    referrer: str = ""
    utm: Mapping[str, str] = field(default_factory=dict)
    props: Mapping[str, str] = field(default_factory=dict)
    revenue_amount: str = ""
    revenue_currency: str = ""
    consent: ConsentState = field(default_factory=ConsentState)
    interactive: bool = True  # False for events that must not count against a bounce
    scroll_depth: int = -1  # engagement events: percent 0-100; -1 = not reported
    engagement_ms: int = 0  # engagement events: engaged time in milliseconds
    dropped: tuple[str, ...] = ()  # optional parts ignored or trimmed, for the metrics


def load_json(body: bytes) -> Any:
    """orjson's decoding of a request body; BadRequest saying where it is not valid JSON.

    Shared by every collector endpoint that takes a JSON body (Plausible, Umami, Matomo
    bulk), so all of them name a JSON defect the same way.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg}") from exc


def decode_body(body: bytes, max_bytes: int) -> dict[str, Any]:
    """Size-check, UTF-8-check and JSON-decode a body into a dict with the long key names.

    Unknown keys are kept under their own names (beacon_from_fields ignores and counts
    them). Raises PayloadTooLarge or BadRequest naming the defect.
    """
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes, the limit")
    if not body.strip():
        raise BadRequest("body is empty; send a JSON object with name, url and domain")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})") from exc
    raw = load_json(body)
    if not isinstance(raw, dict):
        raise BadRequest("body must be a JSON object")
    return {_SHORT_KEYS.get(str(key), str(key)): value for key, value in raw.items()}


def _required_text(raw: Mapping[str, Any], key: str, limit: int) -> str:
    value = raw.get(key)
    if value is None or value == "":
        raise BadRequest(f"{key} is required")
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    if len(value) > limit:
        raise BadRequest(f"{key} is {len(value)} characters; the limit is {limit}")
    return value


def canonical_path(path: str) -> str:
    """Percent-decode a path to Unicode NFC once, so `/caf%C3%A9` and `/café` are one page.

    Sequences that do not decode as UTF-8 stay encoded; control characters are removed.
    """
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        decoded = path
    return _CONTROL.sub("", unicodedata.normalize("NFC", decoded))


def split_url(url: str, *, field_name: str, hash_routing: bool = False
              ) -> tuple[str, str, dict[str, str]]:
    """(hostname, canonical path, utm params) of an http(s) URL; the rest of the query dropped.

    With `hash_routing` the fragment is part of the page (`/app#/settings`). A utm value
    over MAX_UTM characters is trimmed. Raises BadRequest if there is no http(s) host or
    the kept path is over MAX_PATH characters.
    """
    try:
        parts = urlsplit(url.strip())
        hostname = (parts.hostname or "").lower()
    except ValueError as exc:
        raise BadRequest(f"{field_name} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not hostname:
        raise BadRequest(f"{field_name} must be an http(s) URL with a host")
    path = canonical_path(parts.path or "/")
    if hash_routing and parts.fragment:
        path = f"{path}#{canonical_path(parts.fragment)}"
    if len(path) > MAX_PATH:
        raise BadRequest(f"{field_name} has a path of {len(path)} characters; "
                         f"the limit is {MAX_PATH}")
    utm = {k: v[:MAX_UTM] for k, v in parse_qsl(parts.query) if k in UTM_KEYS and v}
    return hostname.removeprefix("www."), path, utm


def clean_referrer(referrer: str) -> str:
    """scheme://host/path of an http(s) referrer (query, fragment and userinfo dropped), or ""."""
    try:
        parts = urlsplit(referrer)
        host = parts.hostname
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    return f"{parts.scheme}://{host}{parts.path or '/'}"


def _props(raw: Any, dropped: list[str]) -> dict[str, str]:
    """Scalar props as strings; what cannot be kept is dropped and noted, never fatal."""
    if raw is None:
        return {}
    if isinstance(raw, str):  # the legacy tracker sends props as JSON text
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raw = None
    if not isinstance(raw, dict):
        dropped.append("props")
        return {}
    props: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if (len(props) >= MAX_PROPS or not key or len(key) > MAX_PROP_KEY
                or isinstance(value, dict | list)):
            dropped.append("prop")
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_PROP_VALUE:
            dropped.append("prop")
            continue
        props[key] = text
    return props


def _currency(code: Any) -> str | None:
    """An upper-case ISO 4217 alphabetic code (checked against pycountry's list), or None."""
    if not isinstance(code, str) or len(code) != 3:
        return None
    found = pycountry.currencies.get(alpha_3=code.upper())
    return found.alpha_3 if found is not None else None


def _revenue(raw: Any, dropped: list[str]) -> tuple[str, str]:
    """(amount as decimal text, currency) or ("", "") with a note when the revenue is bad.

    The amount is a JSON number or a string with a dot as the decimal mark ("10,50" is
    refused: its meaning depends on the locale), finite and below 10^15.
    """
    if raw is None:
        return "", ""
    currency = _currency(raw.get("currency")) if isinstance(raw, dict) else None
    amount = raw.get("amount") if isinstance(raw, dict) else None
    try:
        if currency is None or isinstance(amount, bool) or not isinstance(
                amount, int | float | str):
            raise decimal.InvalidOperation
        value = decimal.Decimal(str(amount).strip())
        if not value.is_finite() or abs(value) >= decimal.Decimal(10) ** 15:
            raise decimal.InvalidOperation
    except decimal.InvalidOperation:
        dropped.append("revenue")
        return "", ""
    return str(value), currency


def _consent(raw: Any, dropped: list[str]) -> ConsentState:
    """The consent state; a malformed object reads as a refusal, the safe side."""
    try:
        return parse_consent(raw)
    except BadRequest:
        dropped.append("consent")
        return ConsentState(analytics=False)


def _bounded_int(raw: Any, low: int, high: int, name: str, dropped: list[str]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        dropped.append(name)
        return None
    return int(raw)


def parse_beacon(body: bytes, *, max_bytes: int) -> Beacon:
    """The whole check of a beacon body; raises BadRequest with a one-line reason."""
    return beacon_from_fields(decode_body(body, max_bytes))


def beacon_from_fields(raw: Mapping[str, Any]) -> Beacon:
    """Check decoded beacon fields (long key names) into a Beacon; BadRequest names a defect.

    The compatibility endpoints (Umami, Matomo) translate their payloads into these fields
    and come through here, so every tracker gets the same checks and canonical form.
    """
    dropped = ["unknown_field" for key in raw
               if key not in _KNOWN and key not in _IGNORED_QUIETLY]
    name = _required_text(raw, "name", MAX_NAME)
    url = _required_text(raw, "url", 64 * 1024)  # the kept parts are checked after the split
    domain_list = _required_text(raw, "domain", MAX_URL)
    hash_routing = raw.get("hash") not in (None, *_FALSE)
    hostname, pathname, utm = split_url(url, field_name="url", hash_routing=hash_routing)
    domains = tuple(dict.fromkeys(normalise_domain(d) for d in domain_list.split(",")))
    if len(domains) > MAX_DOMAINS:
        raise BadRequest(f"domain lists {len(domains)} sites; the limit is {MAX_DOMAINS}")
    referrer_raw = raw.get("referrer")
    referrer = ""
    if isinstance(referrer_raw, str) and len(referrer_raw) <= MAX_URL:
        referrer = clean_referrer(referrer_raw)
    elif referrer_raw is not None:
        dropped.append("referrer")
    props_raw = raw.get("props") if raw.get("props") is not None else raw.get("meta")
    engagement = name == ENGAGEMENT
    scroll = _bounded_int(raw.get("scroll_depth"), 0, 100, "scroll_depth", dropped)
    engaged = _bounded_int(raw.get("engagement_time"), 0, MAX_ENGAGEMENT_MS,
                           "engagement_time", dropped)
    amount, currency = _revenue(raw.get("revenue"), dropped)
    return Beacon(
        name=name, hostname=hostname, pathname=pathname, domains=domains, referrer=referrer,
        utm=utm, props=_props(props_raw, dropped), revenue_amount=amount,
        revenue_currency=currency, consent=_consent(raw.get("consent"), dropped),
        interactive=not engagement and raw.get("interactive") not in _FALSE,
        scroll_depth=scroll if engagement and scroll is not None else -1,
        engagement_ms=engaged if engagement and engaged is not None else 0,
        dropped=tuple(dropped),
    )
