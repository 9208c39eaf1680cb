"""Property tests of the beacon parser: liberal in what it accepts, strict in what it keeps."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.anonymise import client_ip, parse_ip
from collector.beacon import MAX_PATH, MAX_PROP_VALUE, MAX_PROPS, parse_beacon
from contract.errors import BadRequest

LIMIT = 1_048_576
REQUIRED = {"name", "url", "domain", "n", "u", "d"}

json_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) \
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=12)
extra_fields = st.dictionaries(st.text(max_size=12).filter(lambda k: k not in REQUIRED),
                               json_values, max_size=8)
paths = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(extra=extra_fields, path=paths)
def test_any_object_with_name_url_and_domain_is_accepted(extra: dict[str, Any],
                                                          path: str) -> None:
    """Whatever else a body carries, a valid name, URL and domain make a kept event."""
    body = {**extra, "name": "pageview", "url": "https://example.com/" + path.replace("#", ""),
            "domain": "example.com"}
    beacon = parse_beacon(orjson.dumps(body), max_bytes=LIMIT)
    assert beacon.name == "pageview" and beacon.domains == ("example.com",)
    assert beacon.pathname.startswith("/") and len(beacon.pathname) <= MAX_PATH
    assert len(beacon.props) <= MAX_PROPS
    assert all(isinstance(v, str) and len(v) <= MAX_PROP_VALUE for v in beacon.props.values())
    assert not any(ord(c) < 32 for c in beacon.pathname)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300) | st.builds(orjson.dumps, json_values))
def test_any_body_is_an_event_or_a_bad_request(body: bytes) -> None:
    """No body makes the parser raise anything but BadRequest (the 4xx family)."""
    try:
        parse_beacon(body, max_bytes=LIMIT)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(header=st.text(max_size=80))
def test_any_forwarding_header_yields_an_ip_or_the_peer(header: str) -> None:
    """A garbled X-Forwarded-For or Forwarded never fails and never invents an address."""
    for kind in ("x-forwarded-for", "forwarded"):
        found = client_ip("10.0.0.1", header, ("10.0.0.0/8",), kind)
        assert parse_ip(found) is not None
        assert found == "10.0.0.1" or found in header or str(parse_ip(found)) == found
