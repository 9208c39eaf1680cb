"""The processors' fast envelope reader accepts and refuses exactly what the contract does."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import InvalidEvent
from contract.event import AnonymousEvent, decode_envelope, encode_envelope
from contract.wire import WireEvent, read_envelope

BASE = {"site": "example.com", "ts_ms": 1_700_000_000_000, "name": "pageview",
        "hostname": "example.com", "pathname": "/"}


def _dumps(value: Any) -> bytes:
    """JSON of `value`; the stdlib, as orjson refuses to write integers past 64 bits."""
    return json.dumps(value).encode()


def _outcome(record: bytes, read: Any) -> tuple[str, Any]:
    """('ok', the events' field tuples) or ('invalid', the reason)."""
    try:
        events = read(record)
    except InvalidEvent as exc:
        return "invalid", str(exc)
    return "ok", [tuple(getattr(e, f) for f in WireEvent.__struct_fields__) for e in events]


def test_wire_event_has_the_contract_fields_in_order_with_the_same_defaults() -> None:
    contract = dataclasses.fields(AnonymousEvent)
    assert WireEvent.__struct_fields__ == tuple(f.name for f in contract)
    wire = WireEvent(**{k: v for k, v in BASE.items()})
    reference = AnonymousEvent(**BASE)
    assert [getattr(wire, f.name) for f in contract] == [
        getattr(reference, f.name) for f in contract]


def test_a_valid_envelope_reads_as_the_same_events_through_the_fast_path() -> None:
    event = AnonymousEvent(**BASE, visitor_id=42, props={"plan": "pro"}, country="DE",
                           revenue_amount="12.5", revenue_currency="EUR", scroll_depth=80)
    record = encode_envelope([event, event])
    events = read_envelope(record)
    assert all(type(e) is WireEvent for e in events)  # msgspec decoded it, no fallback
    assert _outcome(record, read_envelope) == _outcome(record, decode_envelope)


@pytest.mark.parametrize("record", [
    b"garbage",
    b'{"v": 1, "events": []}',
    _dumps({"v": 1.0, "events": [BASE]}),  # the reference compares v with ==
    _dumps({"v": True, "events": [BASE]}),
    _dumps({"v": 1, "events": [BASE], "extra": 1}),  # unknown envelope keys pass
    _dumps({"v": 1, "events": [{**BASE, "ip": "192.0.2.1"}]}),
    _dumps({"v": 1, "events": [{**BASE, "visitor_id": 2**64}]}),
    _dumps({"v": 1, "events": [{**BASE, "visitor_id": 2**64 - 1}]}),
    _dumps({"v": 1, "events": [{**BASE, "ts_ms": 2**64}]}),
    _dumps({"v": 1, "events": [{**BASE, "prev_visitor_id": -1}]}),
    _dumps({"v": 1, "events": [{**BASE, "visitor_id": True}]}),
    _dumps({"v": 1, "events": [{**BASE, "interactive": 1.0}]}),
    _dumps({"v": 1, "events": [{**BASE, "mode": "anonymous", "visitor_id": 5}]}),
    _dumps({"v": 1, "events": [{**BASE, "mode": "anonymous"}]}),
    _dumps({"v": 1, "events": [{**BASE, "consent": "maybe"}]}),
    _dumps({"v": 1, "events": [{**BASE, "site": ""}]}),
    _dumps({"v": 1, "events": [{**BASE, "props": {"a": 1}}]}),
    _dumps({"v": 1, "events": [BASE, "not an object"]}),
    b'{"v": 1, "events": [{"site": "\\ud800", "ts_ms": 1, "name": "p", "hostname": "h", '
    b'"pathname": "/"}]}',  # a lone surrogate: not storable text
    b'{"v": 1, "events": [{"site": "\xff", "ts_ms": 1, "name": "p", "hostname": "h", '
    b'"pathname": "/"}]}',  # not UTF-8
    b'{"v": 1, "events": [{"site": "a", "site": "b", "ts_ms": 1, "name": "p", '
    b'"hostname": "h", "pathname": "/"}]}',  # a repeated key: the last one counts
])
def test_edge_cases_get_the_reference_answer_and_reason(record: bytes) -> None:
    assert _outcome(record, read_envelope) == _outcome(record, decode_envelope)


_FIELD_NAMES = [*WireEvent.__struct_fields__, "ip", "user_agent"]
_VALUES = st.one_of(
    st.text(max_size=3), st.integers(min_value=-2, max_value=2**65), st.booleans(),
    st.none(), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(
        ["granted", "denied", "unset", "full", "anonymous", ""]),
    st.dictionaries(st.text(max_size=2), st.one_of(st.text(max_size=2), st.integers()),
                    max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(st.dictionaries(st.sampled_from(_FIELD_NAMES), _VALUES, max_size=8)
                       .map(lambda extra: {**BASE, **extra}), min_size=0, max_size=3),
       version=st.sampled_from([1, 2, 1.0]))
def test_any_record_gets_the_same_answer_from_both_readers(
        events: list[dict[str, Any]], version: Any) -> None:
    record = _dumps({"v": version, "events": events})
    assert _outcome(record, read_envelope) == _outcome(record, decode_envelope)


def test_the_fast_decoder_refuses_what_the_reference_refuses() -> None:
    """Guard against a fallback hiding a lax decoder: msgspec itself refuses these."""
    from contract.wire import _DECODER

    for bad in ({**BASE, "ip": "192.0.2.1"}, {**BASE, "visitor_id": -1},
                {**BASE, "interactive": 2}, {**BASE, "consent": "x"}, {**BASE, "name": ""}):
        with pytest.raises(msgspec.ValidationError):
            _DECODER.decode(_dumps({"v": 1, "events": [bad]}))


def test_wire_events_stay_out_of_the_garbage_collectors_walks() -> None:
    import gc

    (event,) = read_envelope(_dumps({"v": 1, "events": [BASE]}))
    assert type(event) is WireEvent and not gc.is_tracked(event)
