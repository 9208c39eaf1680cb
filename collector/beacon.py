"""Parse and check a beacon body (the Plausible Events API shape), with no I/O.

Accepts `name`, `url`, `domain`, `referrer`, `props`, `revenue` (or the short keys `n`,
`u`, `d`, `r`, `p`, `$`), plus an optional `consent` object. Every defect raises
BadRequest with a one-line reason naming the field and what is accepted.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from collector.consent import ConsentState, parse_consent
from contract.errors import BadRequest, PayloadTooLarge
from contract.sites import normalise_domain

MAX_URL = 2048
MAX_NAME = 120
MAX_PROPS = 30
MAX_PROP_KEY = 300
MAX_PROP_VALUE = 2000
MAX_DOMAINS = 10
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_SHORT_KEYS = {"n": "name", "u": "url", "d": "domain", "r": "referrer", "p": "props",
               "$": "revenue", "c": "consent", "i": "interactive"}
_KNOWN = frozenset(_SHORT_KEYS.values()) | {"h", "hash"}
_CURRENCY = re.compile(r"^[A-Z]{3}$")


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


def decode_body(body: bytes, max_bytes: int) -> dict[str, Any]:
    """Size-check, UTF-8-check and JSON-decode a body into a dict with the long key names."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes, the limit")
    if not body.strip():
        raise BadRequest("body is empty; send a JSON object with name, url and domain")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise BadRequest("body must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        long_key = _SHORT_KEYS.get(key, key)
        if long_key not in _KNOWN:
            raise BadRequest(f"unknown field {key[:40]!r}")
        out[long_key] = value
    return out


def _text(raw: Mapping[str, Any], key: str, limit: int, *, required: bool) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    if len(value) > limit:
        raise BadRequest(f"{key} is {len(value)} characters; the limit is {limit}")
    return value


def split_url(url: str, *, field_name: str) -> tuple[str, str, dict[str, str]]:
    """(hostname, pathname, utm params) of an http(s) URL; query and fragment otherwise dropped."""
    try:
        parts = urlsplit(url)
        hostname = (parts.hostname or "").lower()
    except ValueError as exc:
        raise BadRequest(f"{field_name} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not hostname:
        raise BadRequest(f"{field_name} must be an http(s) URL with a host")
    utm = {k: v[:MAX_PROP_VALUE] for k, v in parse_qsl(parts.query) if k in UTM_KEYS and v}
    return hostname.removeprefix("www."), parts.path or "/", utm


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


def _props(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, str):  # the tracker may send props as a JSON string
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("props is a string but not a JSON object") from exc
    if not isinstance(raw, dict):
        raise BadRequest("props must be an object of string keys and scalar values")
    if len(raw) > MAX_PROPS:
        raise BadRequest(f"props has {len(raw)} keys; the limit is {MAX_PROPS}")
    props: dict[str, str] = {}
    for key, value in raw.items():
        if len(key) > MAX_PROP_KEY:
            raise BadRequest(f"a props key is {len(key)} characters; the limit is {MAX_PROP_KEY}")
        if value is None:
            continue
        if isinstance(value, dict | list):
            raise BadRequest(f"props.{key[:40]} must be a string, number or boolean")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_PROP_VALUE:
            raise BadRequest(f"props.{key[:40]} is {len(text)} characters; "
                             f"the limit is {MAX_PROP_VALUE}")
        props[key] = text
    return props


def _revenue(raw: Any) -> tuple[str, str]:
    if raw is None:
        return "", ""
    if not isinstance(raw, dict) or set(raw) != {"amount", "currency"}:
        raise BadRequest('revenue must be {"amount": number, "currency": "EUR"}')
    currency = raw["currency"]
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise BadRequest("revenue.currency must be a 3-letter ISO 4217 code such as EUR")
    amount = raw["amount"]
    try:
        if isinstance(amount, bool) or not isinstance(amount, int | float | str):
            raise decimal.InvalidOperation
        value = decimal.Decimal(str(amount))
        if not value.is_finite() or abs(value) >= decimal.Decimal(10) ** 15:
            raise decimal.InvalidOperation
    except decimal.InvalidOperation as exc:
        raise BadRequest("revenue.amount must be a finite number below 10^15") from exc
    return str(value), currency


def parse_beacon(body: bytes, *, max_bytes: int) -> Beacon:
    """The whole check of a beacon body; raises BadRequest with a one-line reason."""
    return beacon_from_fields(decode_body(body, max_bytes))


def beacon_from_fields(raw: Mapping[str, Any]) -> Beacon:
    """Check decoded beacon fields (long key names) into a Beacon; BadRequest names a defect.

    The compatibility endpoints (Umami, Matomo) translate their payloads into these fields
    and come through here, so every tracker gets the same checks and canonical form.
    """
    name = _text(raw, "name", MAX_NAME, required=True)
    url = _text(raw, "url", MAX_URL, required=True)
    domain_list = _text(raw, "domain", MAX_URL, required=True)
    hostname, pathname, utm = split_url(url, field_name="url")
    domains = tuple(dict.fromkeys(normalise_domain(d) for d in domain_list.split(",")))
    if len(domains) > MAX_DOMAINS:
        raise BadRequest(f"domain lists {len(domains)} sites; the limit is {MAX_DOMAINS}")
    referrer = clean_referrer(_text(raw, "referrer", MAX_URL, required=False))
    amount, currency = _revenue(raw.get("revenue"))
    return Beacon(
        name=name, hostname=hostname, pathname=pathname, domains=domains, referrer=referrer,
        utm=utm, props=_props(raw.get("props")), revenue_amount=amount,
        revenue_currency=currency, consent=parse_consent(raw.get("consent")),
    )
