"""The event contract: envelopes round-trip and defects become dead-letter reasons."""

import orjson
import pytest

from contract.errors import InvalidEvent
from contract.event import AnonymousEvent, decode_envelope, encode_envelope

EVENT = AnonymousEvent(site="example.com", ts_ms=1_700_000_000_000, name="pageview",
                       hostname="example.com", pathname="/", visitor_id=42,
                       props={"plan": "pro"}, country="DE")


def test_envelope_round_trips() -> None:
    assert decode_envelope(encode_envelope([EVENT, EVENT])) == [EVENT, EVENT]


def test_anonymous_event_has_no_field_for_a_raw_ip_or_user_agent() -> None:
    fields = set(AnonymousEvent.__dataclass_fields__)
    assert not fields & {"ip", "remote_addr", "user_agent", "ua", "client_ip"}


@pytest.mark.parametrize(("record", "reason"), [
    (b"garbage", "not JSON"),
    (orjson.dumps({"events": []}), "schema version"),
    (orjson.dumps({"v": 99, "events": [{}]}), "unknown schema version 99"),
    (orjson.dumps({"v": 1, "events": []}), "no 'events'"),
    (orjson.dumps({"v": 1, "events": [{"site": "a"}]}), "missing field"),
    (orjson.dumps({"v": 1, "events": [{"site": "a", "ts_ms": -1, "name": "p",
                                        "hostname": "a", "pathname": "/"}]}), "integer from 0"),
    (orjson.dumps({"v": 1, "events": [{"site": "a", "ts_ms": 1, "name": "p", "hostname": "a",
                                        "pathname": "/", "ip": "1.2.3.4"}]}), "unknown field"),
    (orjson.dumps({"v": 1, "events": [{"site": "a", "ts_ms": 1, "name": "p", "hostname": "a",
                                        "pathname": "/", "mode": "anonymous",
                                        "visitor_id": 5}]}), "anonymous event"),
])
def test_invalid_records_raise_with_a_reason(record: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode_envelope(record)
