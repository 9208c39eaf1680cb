"""Umami's collect payload becomes the same checked beacon a Plausible tracker would send."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.beacon import beacon_from_fields
from collector.compat_umami import parse_umami, umami_fields
from contract.errors import BadRequest, PayloadTooLarge
from contract.sites import Site

WEBSITE = "50429a93-8479-4073-be80-d5d29c09c2ec"
SITE = Site("example.com", umami_website_id=WEBSITE)


def body(payload: dict[str, Any], kind: str = "event") -> bytes:
    return orjson.dumps({"type": kind, "payload": {"website": WEBSITE, **payload}})


def beacon_of(payload: dict[str, Any]) -> Any:
    return beacon_from_fields(umami_fields(parse_umami(body(payload), max_bytes=16384), SITE))


def test_a_tracker_pageview_keeps_path_utm_and_referrer_but_not_title_screen_language() -> None:
    beacon = beacon_of({"hostname": "example.com", "url": "/pricing?utm_source=news&x=1",
                        "referrer": "https://news.example/story?id=9", "title": "Pricing",
                        "screen": "1920x1080", "language": "en-US", "id": "user-42",
                        "vid": "c0ffee", "tag": "a"})
    assert (beacon.name, beacon.hostname, beacon.pathname) == ("pageview", "example.com",
                                                               "/pricing")
    assert dict(beacon.utm) == {"utm_source": "news"}
    assert beacon.referrer == "https://news.example/story"
    assert beacon.domains == ("example.com",)
    assert "Pricing" not in repr(beacon) and "user-42" not in repr(beacon)


def test_a_full_url_from_the_current_tracker_is_used_as_is() -> None:
    beacon = beacon_of({"hostname": "example.com", "url": "https://shop.example.com/a/b"})
    assert (beacon.hostname, beacon.pathname) == ("shop.example.com", "/a/b")


def test_a_custom_event_keeps_scalar_data_as_props_and_drops_nested_values() -> None:
    beacon = beacon_of({"url": "/signup", "name": "signup",
                        "data": {"plan": "pro", "seats": 3, "trial": True, "nested": {"a": 1},
                                 "list": [1, 2], "none": None}})
    assert beacon.name == "signup"
    assert dict(beacon.props) == {"plan": "pro", "seats": "3", "trial": "true"}


def test_revenue_and_currency_in_data_become_the_events_revenue() -> None:
    beacon = beacon_of({"url": "/checkout", "name": "purchase",
                        "data": {"revenue": 19.99, "currency": "eur", "sku": "A1"}})
    assert (beacon.revenue_amount, beacon.revenue_currency) == ("19.99", "EUR")
    assert dict(beacon.props) == {"sku": "A1"}


def test_a_named_event_without_url_counts_on_the_sites_root() -> None:
    beacon = beacon_of({"name": "server-side-signup", "data": {"plan": "pro"}})
    assert (beacon.hostname, beacon.pathname) == ("example.com", "/")


def test_a_pageview_without_url_is_refused_naming_the_field() -> None:
    with pytest.raises(BadRequest, match=r"^payload\.url is required for a pageview$"):
        beacon_of({"hostname": "example.com"})


def test_a_path_only_referrer_is_a_self_referral_and_is_dropped() -> None:
    assert beacon_of({"url": "/b", "referrer": "/a"}).referrer == ""


def test_identify_and_other_non_event_types_are_accepted_for_discarding() -> None:
    for kind in ("identify", "performance", "engagement", "error"):
        assert parse_umami(body({"data": {"email": "a@b.c"}}, kind), max_bytes=16384).discarded
    assert not parse_umami(body({"url": "/"}), max_bytes=16384).discarded


@pytest.mark.parametrize(("raw", "reason"), [
    (b"not json", r"^body is not valid JSON"),
    (b"[]", r"^body must be a JSON object"),
    (orjson.dumps({"type": "event"}), r"^payload must be a JSON object$"),
    (orjson.dumps({"type": "event", "payload": {}}), r"^payload\.website is required"),
    (orjson.dumps({"type": "event", "payload": {"website": "x"}}),
     r"^payload\.website must be a UUID$"),
    (orjson.dumps({"type": ["event"], "payload": {"website": WEBSITE}}), r"^type must be"),
    (orjson.dumps({"type": "nope", "payload": {"website": WEBSITE}}), r"^type must be"),
])
def test_meaningless_requests_are_refused_with_a_reason_naming_the_field(raw: bytes,
                                                                         reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse_umami(raw, max_bytes=16384)


def test_an_oversized_body_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_umami(body({"url": "/" + "a" * 500}), max_bytes=256)


def test_the_website_id_is_read_in_any_uuid_spelling() -> None:
    raw = orjson.dumps({"type": "event", "payload": {"website": WEBSITE.upper(), "url": "/"}})
    assert parse_umami(raw, max_bytes=16384).website_id == WEBSITE
