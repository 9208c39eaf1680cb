"""Matomo hits become checked beacons: the mapping documented in collector.compat_matomo."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.beacon import beacon_from_fields
from collector.compat_matomo import (
    bulk_requests,
    matomo_hit,
    merge_params,
    params_of,
    site_id_of,
    with_campaign_as_utm,
)
from contract.errors import BadRequest, PayloadTooLarge
from contract.sites import Site

SITE = Site("example.com", matomo_site_id=7, matomo_currency="EUR")
IDENTIFYING = {"_id": "0123456789abcdef", "uid": "alice@example.com", "cid": "fedcba9876543210",
               "cdt": "2020-01-01 00:00:00", "cip": "203.0.113.9", "_idts": "1577836800",
               "_viewts": "1577836800", "uadata": '{"model":"Pixel"}', "ec_id": "ORDER-77"}


def beacon_of(**params: str) -> Any:
    hit = matomo_hit({"idsite": "7", "rec": "1", **params}, SITE)
    assert hit.fields is not None
    return beacon_from_fields(hit.fields)


def test_a_pageview_keeps_path_referrer_and_utm_and_not_the_title() -> None:
    beacon = beacon_of(url="https://example.com/docs?utm_medium=mail&q=secret",
                       urlref="https://search.example/?q=x", action_name="Docs")
    assert (beacon.name, beacon.pathname, beacon.referrer) == ("pageview", "/docs",
                                                              "https://search.example/")
    assert dict(beacon.utm) == {"utm_medium": "mail"}
    assert "Docs" not in repr(beacon)


def test_matomo_campaign_parameters_become_utm() -> None:
    beacon = beacon_of(url="https://example.com/?mtm_campaign=spring&pk_source=nl&pk_kwd=shoes")
    assert dict(beacon.utm) == {"utm_campaign": "spring", "utm_source": "nl",
                                "utm_term": "shoes"}
    kept = with_campaign_as_utm("https://example.com/?utm_campaign=a&mtm_campaign=b")
    assert kept == "https://example.com/?utm_campaign=a&mtm_campaign=b"


def test_an_event_is_named_category_colon_action_with_all_four_parts_as_props() -> None:
    beacon = beacon_of(url="https://example.com/v", e_c="Video", e_a="Play", e_n="Intro",
                       e_v="12.5", ca="1")
    assert beacon.name == "Video: Play"
    assert dict(beacon.props) == {"category": "Video", "action": "Play", "name": "Intro",
                                  "value": "12.5"}
    assert beacon.revenue_amount == ""  # e_v is a value, not revenue


def test_outlinks_and_downloads_use_plausibles_event_names() -> None:
    link = beacon_of(url="https://example.com/", link="https://other.example/x")
    assert (link.name, dict(link.props)) == ("Outbound Link: Click",
                                             {"url": "https://other.example/x"})
    download = beacon_of(url="https://example.com/", download="https://example.com/a.pdf")
    assert (download.name, dict(download.props)) == ("File Download",
                                                     {"url": "https://example.com/a.pdf"})


def test_goal_and_order_revenue_carry_the_sites_matomo_currency() -> None:
    goal = beacon_of(url="https://example.com/thanks", idgoal="3", revenue="49.90")
    assert (goal.name, dict(goal.props)) == ("Goal 3", {"goal": "3"})
    assert (goal.revenue_amount, goal.revenue_currency) == ("49.90", "EUR")
    order = beacon_of(url="https://example.com/done", idgoal="0", ec_id="ORDER-77",
                      revenue="120")
    assert (order.name, order.revenue_amount, order.revenue_currency) == (
        "Ecommerce Order", "120", "EUR")
    assert "ORDER-77" not in repr(order)
    cart = beacon_of(url="https://example.com/cart", idgoal="0", revenue="80")
    assert (cart.name, cart.revenue_amount) == ("Ecommerce Cart Update", "")


def test_heartbeats_custom_actions_and_content_impressions_store_nothing() -> None:
    for extra in ({"ping": "1"}, {"ca": "1", "ma_id": "v1"}, {"c_n": "banner"}):
        hit = matomo_hit({"idsite": "7", "rec": "1", "url": "https://example.com/", **extra},
                         SITE)
        assert hit.fields is None


def test_visitor_identifying_parameters_never_reach_the_fields() -> None:
    hit = matomo_hit({"idsite": "7", "rec": "1", "url": "https://example.com/p",
                      "e_c": "c", "e_a": "a", "ua": "Mozilla/5.0 X", **IDENTIFYING}, SITE)
    assert hit.fields is not None
    text = orjson.dumps(hit.fields).decode()
    for value in IDENTIFYING.values():
        assert value not in text
    assert hit.user_agent == "Mozilla/5.0 X"  # the documented UA override, used as the header


@pytest.mark.parametrize(("params", "reason"), [
    ({"rec": "1", "url": "https://example.com/"}, r"^idsite is required"),
    ({"idsite": "abc", "rec": "1"}, r"^idsite must be a positive integer$"),
    ({"idsite": "0", "rec": "1"}, r"^idsite must be a positive integer$"),
])
def test_a_missing_or_bad_idsite_is_refused_naming_it(params: dict[str, str],
                                                      reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        site_id_of(params)


@pytest.mark.parametrize(("params", "reason"), [
    ({"idsite": "7", "url": "https://example.com/"}, r"^rec must be 1"),
    ({"idsite": "7", "rec": "1"}, r"^url is required"),
])
def test_hits_without_rec_or_url_are_refused_naming_the_field(params: dict[str, str],
                                                              reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        matomo_hit(params, SITE)


def test_bulk_bodies_hold_query_strings_or_objects() -> None:
    body = orjson.dumps({"requests": ["?idsite=7&rec=1&url=https%3A%2F%2Fexample.com%2Fa",
                                      "matomo.php?idsite=7&rec=1&url=x",
                                      {"idsite": 7, "rec": 1, "url": "https://example.com/"}],
                         "token_auth": "t"})
    hits = bulk_requests(body, max_bytes=65536)
    assert hits is not None and [h["idsite"] for h in hits] == ["7", "7", "7"]
    assert hits[0]["url"] == "https://example.com/a"
    assert bulk_requests(b"idsite=7&rec=1", max_bytes=65536) is None  # a form body


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", r"^body is not valid JSON"),
    (b'{"requests": 1}', r"^requests must be a list"),
    (b'{"requests": []}', r"^requests is empty$"),
    (b'{"requests": [1]}', r"^requests\[0\] must be a query string"),
])
def test_bad_bulk_bodies_are_refused_naming_the_field(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        bulk_requests(raw, max_bytes=65536)
    with pytest.raises(PayloadTooLarge):
        bulk_requests(b'{"requests": ["' + b"a" * 300 + b'"]}', max_bytes=256)


def test_query_string_parameters_win_over_the_form_body_like_php() -> None:
    merged = merge_params(params_of("?idsite=7&rec=1"), params_of("idsite=9&url=u"))
    assert merged == {"idsite": "7", "rec": "1", "url": "u"}
