"""The anonymous event: the only shape in which an event leaves the collector.

It carries no raw IP and no raw user agent: only a keyed visitor hash, parsed
browser/os/device, coarse geo and, if the site asks for it, a truncated IP.
Events travel in envelopes (one or more events per record) with a schema version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from contract.errors import InvalidEvent

SCHEMA_VERSION = 1
CONSENT_STATES = ("granted", "denied", "unset")
COUNTING_MODES = ("full", "anonymous")


@dataclass(frozen=True, slots=True)
class AnonymousEvent:
    """One page view or custom event after the privacy transform."""

    site: str
    ts_ms: int  # receive time at the collector, milliseconds since the epoch, UTC
    name: str
    hostname: str
    pathname: str
    referrer: str = ""  # scheme://host/path, query and fragment dropped at the edge
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    visitor_id: int = 0  # 0: counted anonymously, no visitor id
    prev_visitor_id: int = 0  # yesterday's hash during the salt grace window; never stored
    consent: str = "unset"
    mode: str = "full"
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    truncated_ip: str = ""
    props: Mapping[str, str] = field(default_factory=dict)
    revenue_amount: str = ""
    revenue_currency: str = ""
    interactive: int = 1  # 0: the event does not count against a bounce (engagement, i:false)
    scroll_depth: int = -1  # engagement events: percent 0-100; -1 = not reported
    engagement_ms: int = 0  # engagement events: engaged time in milliseconds


_FIELDS = {f.name: f for f in dataclasses.fields(AnonymousEvent)}
_STR_FIELDS = frozenset(n for n, f in _FIELDS.items() if f.type == "str")
_INT_RANGES = {"ts_ms": (0, 2**64 - 1), "visitor_id": (0, 2**64 - 1),
               "prev_visitor_id": (0, 2**64 - 1), "interactive": (0, 1),
               "scroll_depth": (-1, 100), "engagement_ms": (0, 2**32 - 1)}
_REQUIRED = ("site", "ts_ms", "name", "hostname", "pathname")
_REQUIRED_SET = frozenset(_REQUIRED)
_KIND: dict[str, type] = {**dict.fromkeys(_STR_FIELDS, str), **dict.fromkeys(_INT_RANGES, int),
                          "props": dict}


def event_to_dict(event: AnonymousEvent) -> dict[str, Any]:
    """The JSON-ready form of an event (defaults omitted to keep records small)."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(event, name)
        if name in _REQUIRED or (value != _FIELDS[name].default and value != {}):
            out[name] = dict(value) if name == "props" else value
    return out


def event_from_dict(raw: Any) -> AnonymousEvent:
    """Validate one decoded event against the contract, raising InvalidEvent with the reason.

    On the processors' hot path: one pass over the present keys with exact type checks
    (orjson yields exact str/int/dict; `type(v) is int` also refuses booleans).
    """
    if type(raw) is not dict:
        raise InvalidEvent("event is not a JSON object")
    if not _REQUIRED_SET <= raw.keys():
        missing = next(n for n in _REQUIRED if n not in raw)
        raise InvalidEvent(f"missing field: {missing}")
    for name, value in raw.items():
        kind = _KIND.get(name)
        if kind is str:
            if type(value) is not str:
                raise InvalidEvent(f"{name} must be a string")
        elif kind is int:
            low, high = _INT_RANGES[name]
            if type(value) is not int or not low <= value <= high:
                raise InvalidEvent(f"{name} must be an integer from {low} to {high}")
        elif kind is dict:
            if type(value) is not dict or not all(
                type(k) is str and type(v) is str for k, v in value.items()
            ):
                raise InvalidEvent("props must map strings to strings")
        else:
            unknown = raw.keys() - _FIELDS.keys()
            raise InvalidEvent(f"unknown field(s): {', '.join(sorted(unknown))}")
    if not raw["site"] or not raw["name"]:
        raise InvalidEvent("site and name must not be empty")
    if raw.get("consent", "unset") not in CONSENT_STATES:
        raise InvalidEvent(f"consent must be one of {', '.join(CONSENT_STATES)}")
    if raw.get("mode", "full") not in COUNTING_MODES:
        raise InvalidEvent(f"mode must be one of {', '.join(COUNTING_MODES)}")
    if raw.get("mode") == "anonymous" and raw.get("visitor_id", 0) != 0:
        raise InvalidEvent("an anonymous event must not carry a visitor_id")
    return AnonymousEvent(**raw)


def encode_envelope(events: Iterable[AnonymousEvent]) -> bytes:
    """Serialise events into one versioned envelope record."""
    return orjson.dumps({"v": SCHEMA_VERSION, "events": [event_to_dict(e) for e in events]})


def decode_envelope(record: bytes) -> list[AnonymousEvent]:
    """Parse and validate an envelope; any defect raises InvalidEvent naming it."""
    try:
        raw = orjson.loads(record)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"record is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or "v" not in raw:
        raise InvalidEvent("record has no schema version 'v'")
    if raw["v"] != SCHEMA_VERSION:
        raise InvalidEvent(f"unknown schema version {raw['v']!r} "
                           f"(this build reads {SCHEMA_VERSION})")
    events = raw.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidEvent("record has no 'events' list")
    return [event_from_dict(e) for e in events]
