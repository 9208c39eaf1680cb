"""The processors' reader of envelopes: contract.event's validation, done by msgspec in C.

`decode_envelope` (contract/event.py) is the reference: orjson, then one Python check per
present key, then a frozen 30-field dataclass, ~20 µs an event, a third of a processor's
time on a backlog (docs/benchmarks.md, processor). `read_envelope` decodes the same bytes
with a msgspec decoder (https://jcristharif.com/msgspec/) into `WireEvent`, a frozen
Struct with AnonymousEvent's fields, defaults and rules expressed as types (`Meta`
bounds, `Literal` choices, `forbid_unknown_fields`), a few µs an event.

The fast path only ever accepts: a record it refuses, for any reason, goes through the
reference, which either raises InvalidEvent with its usual reason (the dead letter's
text) or accepts what msgspec was stricter about (`"v": 1.0`). What msgspec cannot say
(ints above 2^64-1; an anonymous event with a visitor id) is checked after it, again
handing over to the reference. So a record is accepted here iff `decode_envelope`
accepts it, with the same field values; tests/unit/test_wire.py holds both to that.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from contract.event import AnonymousEvent, decode_envelope

U64_MAX = 2**64 - 1
_U64 = Annotated[int, Meta(ge=0)]  # msgspec bounds stop at int64: le=U64_MAX checked after
_NON_EMPTY = Annotated[str, Meta(min_length=1)]


class WireEvent(Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """AnonymousEvent's fields in its order with its defaults; the rules of event_from_dict.

    gc=False: not tracked by the garbage collector (it holds strings, ints and a dict of
    strings, so it cannot be part of a cycle); a batch holds tens of thousands of them.
    """

    site: _NON_EMPTY
    ts_ms: _U64
    name: _NON_EMPTY
    hostname: str
    pathname: str
    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    visitor_id: _U64 = 0
    prev_visitor_id: _U64 = 0
    consent: Literal["granted", "denied", "unset"] = "unset"
    mode: Literal["full", "anonymous"] = "full"
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    truncated_ip: str = ""
    props: dict[str, str] = {}  # msgspec copies an empty default for each instance
    revenue_amount: str = ""
    revenue_currency: str = ""
    interactive: Annotated[int, Meta(ge=0, le=1)] = 1
    scroll_depth: Annotated[int, Meta(ge=-1, le=100)] = -1
    engagement_ms: Annotated[int, Meta(ge=0, le=2**32 - 1)] = 0


class _Envelope(Struct):
    """The envelope: other keys are ignored, as decode_envelope ignores them."""

    v: Literal[1]  # contract.event.SCHEMA_VERSION
    events: Annotated[list[WireEvent], Meta(min_length=1)]


EventFields = AnonymousEvent | WireEvent
"""What the processors read an event's fields from: the same names, types and values."""

_DECODER = msgspec.json.Decoder(_Envelope)


def read_envelope(record: bytes) -> list[EventFields]:
    """The events of a record, exactly as decode_envelope accepts or refuses them.

    Raises InvalidEvent (from decode_envelope) naming the defect.
    """
    try:
        events = _DECODER.decode(record).events
    except Exception:  # any refusal (msgspec errors, bad UTF-8): the reference decides
        return list(decode_envelope(record))
    for e in events:
        if (e.ts_ms > U64_MAX or e.visitor_id > U64_MAX or e.prev_visitor_id > U64_MAX
                or (e.mode == "anonymous" and e.visitor_id != 0)):
            return list(decode_envelope(record))
    return list(events)
