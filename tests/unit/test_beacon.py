"""Beacon parsing: the Plausible Events API shape, and a clear 4xx for every defect."""

import orjson
import pytest

from collector.beacon import clean_referrer, parse_beacon
from contract.errors import BadRequest, PayloadTooLarge

LIMIT = 16384


def body(**fields: object) -> bytes:
    base: dict[str, object] = {"name": "pageview", "url": "https://example.com/a",
                               "domain": "example.com"}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def test_long_keys_are_accepted() -> None:
    beacon = parse_beacon(body(referrer="https://www.google.com/search?q=secret"),
                          max_bytes=LIMIT)
    assert (beacon.name, beacon.hostname, beacon.pathname) == ("pageview", "example.com", "/a")
    assert beacon.domains == ("example.com",)
    assert beacon.referrer == "https://www.google.com/search"  # the search terms are dropped


def test_short_keys_are_accepted() -> None:
    raw = orjson.dumps({"n": "Signup", "u": "https://www.example.com/", "d": "example.com",
                        "r": "", "p": {"plan": "pro"}})
    beacon = parse_beacon(raw, max_bytes=LIMIT)
    assert beacon.name == "Signup" and beacon.props == {"plan": "pro"}
    assert beacon.hostname == "example.com"


def test_query_string_is_dropped_except_utm_parameters() -> None:
    beacon = parse_beacon(body(url="https://example.com/p?email=a@b.c&utm_source=news"
                               "&utm_campaign=spring#frag"), max_bytes=LIMIT)
    assert beacon.pathname == "/p"
    assert dict(beacon.utm) == {"utm_source": "news", "utm_campaign": "spring"}


def test_props_scalars_become_strings_and_null_is_dropped() -> None:
    beacon = parse_beacon(body(props={"a": 1, "b": True, "c": None, "d": "x"}), max_bytes=LIMIT)
    assert beacon.props == {"a": "1", "b": "true", "d": "x"}


def test_revenue_is_checked_and_kept_as_decimal_text() -> None:
    beacon = parse_beacon(body(revenue={"amount": "19.99", "currency": "EUR"}), max_bytes=LIMIT)
    assert (beacon.revenue_amount, beacon.revenue_currency) == ("19.99", "EUR")


def test_several_domains_send_to_several_sites() -> None:
    beacon = parse_beacon(body(domain="example.com,Example.org"), max_bytes=LIMIT)
    assert beacon.domains == ("example.com", "example.org")


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    ('{"name": "\xff"}'.encode("latin-1"), "UTF-8"),
    (body(name=None), "name is required"),
    (body(url=None), "url is required"),
    (body(domain=None), "domain is required"),
    (body(url="ftp://example.com/"), "http(s) URL"),
    (body(url="javascript:alert(1)"), "http(s) URL"),
    (body(url="https:///nohost"), "http(s) URL"),
    (body(url="https://e.com/" + "a" * 3000), "url has a path of"),
    (body(name="x" * 121), "name is 121 characters"),
    (body(name=42), "name must be a string"),
    (body(domain="not a domain!"), "not a valid host name"),
    (body(domain=",".join(f"s{i}.com" for i in range(11))), "limit is 10"),
])
def test_meaningless_beacons_get_a_one_line_reason(raw: bytes, reason: str) -> None:
    """Only what makes an event meaningless is a 400, and the reason names the field."""
    with pytest.raises(BadRequest) as info:
        parse_beacon(raw, max_bytes=LIMIT)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.status == 400


@pytest.mark.parametrize(("fields", "dropped"), [
    ({"x": 1}, ("unknown_field",)),
    ({"props": {f"k{i}": "v" for i in range(31)}}, ("prop",)),
    ({"props": {"k": {"nested": 1}, "ok": "1"}}, ("prop",)),
    ({"props": {"k": [1, 2], "ok": "1"}}, ("prop",)),
    ({"props": {"k" * 301: "v", "ok": "1"}}, ("prop",)),
    ({"props": {"k": "v" * 2001, "ok": "1"}}, ("prop",)),
    ({"props": [1, 2]}, ("props",)),
    ({"props": "{not json"}, ("props",)),
    ({"revenue": {"amount": "x", "currency": "EUR"}}, ("revenue",)),
    ({"revenue": {"amount": "10,50", "currency": "EUR"}}, ("revenue",)),
    ({"revenue": {"amount": 10, "currency": "XYZ"}}, ("revenue",)),
    ({"revenue": {"amount": 1, "currency": "euro"}}, ("revenue",)),
    ({"revenue": 5}, ("revenue",)),
    ({"referrer": "https://e.com/" + "r" * 3000}, ("referrer",)),
    ({"referrer": 42}, ("referrer",)),
])
def test_a_bad_optional_part_is_dropped_and_the_event_kept(
        fields: dict[str, object], dropped: tuple[str, ...]) -> None:
    """Liberal in what it accepts: the event survives, the bad part is named for the metric."""
    beacon = parse_beacon(body(**fields), max_bytes=LIMIT)
    assert beacon.name == "pageview" and beacon.pathname == "/a"
    assert set(beacon.dropped) == set(dropped)
    assert beacon.revenue_amount == "" or "revenue" not in fields
    assert "k" not in beacon.props


def test_thirty_props_are_kept_of_thirty_one() -> None:
    beacon = parse_beacon(body(props={f"k{i:02}": "v" for i in range(31)}), max_bytes=LIMIT)
    assert len(beacon.props) == 30 and beacon.dropped == ("prop",)


def test_what_real_trackers_send_is_accepted() -> None:
    """Fields of @plausible-analytics/tracker (v, engagement sd/e, i) and plausible-tracker
    (w, h, props as JSON text, "$": {}) never cost the event."""
    current = parse_beacon(orjson.dumps(
        {"n": "pageview", "v": 36, "u": "https://example.com/x", "d": "example.com",
         "r": None, "p": {"author": "ann"}}), max_bytes=LIMIT)
    assert current.props == {"author": "ann"} and current.dropped == ()
    engagement = parse_beacon(orjson.dumps(
        {"n": "engagement", "v": 36, "u": "https://example.com/x", "d": "example.com",
         "r": None, "sd": 73, "e": 5210}), max_bytes=LIMIT)
    assert (engagement.scroll_depth, engagement.engagement_ms) == (73, 5210)
    assert engagement.interactive is False
    legacy = parse_beacon(orjson.dumps(
        {"n": "Signup", "u": "https://example.com/app#/settings", "d": "example.com",
         "r": None, "w": 1280, "h": 1, "p": '{"plan":"pro"}', "$": {}}), max_bytes=LIMIT)
    assert legacy.props == {"plan": "pro"} and legacy.pathname == "/app#/settings"
    assert legacy.dropped == ("revenue",)


def test_non_interactive_custom_events_are_marked() -> None:
    assert parse_beacon(body(name="Video play", i=False), max_bytes=LIMIT).interactive is False
    assert parse_beacon(body(name="Signup"), max_bytes=LIMIT).interactive is True


def test_scroll_depth_out_of_range_is_dropped() -> None:
    beacon = parse_beacon(body(name="engagement", sd=140, e=-5), max_bytes=LIMIT)
    assert (beacon.scroll_depth, beacon.engagement_ms) == (-1, 0)
    assert set(beacon.dropped) == {"scroll_depth", "engagement_time"}


def test_a_malformed_consent_reads_as_a_refusal() -> None:
    """Never an id by mistake: garbage in the consent object is the safe side, a refusal."""
    beacon = parse_beacon(body(consent="yes"), max_bytes=LIMIT)
    assert beacon.consent.analytics is False and beacon.dropped == ("consent",)


def test_revenue_currency_is_any_iso_4217_code_in_any_case() -> None:
    beacon = parse_beacon(body(revenue={"amount": 5, "currency": "jpy"}), max_bytes=LIMIT)
    assert (beacon.revenue_amount, beacon.revenue_currency) == ("5", "JPY")


def test_length_limits_apply_to_what_is_kept_not_to_the_cut_query() -> None:
    """A 2,000-character click id in the landing URL is cut at the edge, so it costs nothing."""
    beacon = parse_beacon(body(url="https://example.com/land?gclid=" + "x" * 2000
                               + "&utm_source=ads"), max_bytes=LIMIT)
    assert beacon.pathname == "/land" and dict(beacon.utm) == {"utm_source": "ads"}


@pytest.mark.parametrize(("url", "path"), [
    ("https://example.com/caf%C3%A9", "/café"),
    ("https://example.com/café", "/café"),
    ("https://example.com/cafe%CC%81", "/café"),  # NFD decomposed form → NFC
    ("https://example.com/a%20b", "/a b"),
    ("https://example.com/bad%FFbyte", "/bad%FFbyte"),  # not UTF-8: left encoded
    ("https://example.com/x%00y", "/xy"),
    ("https://example.com/p#section", "/p"),  # a fragment is not a page without hash routing
])
def test_page_path_is_canonical(url: str, path: str) -> None:
    """One page is one row: percent-encoding decoded once to Unicode NFC at the edge."""
    assert parse_beacon(body(url=url), max_bytes=LIMIT).pathname == path


def test_hash_routes_keep_the_fragment_when_asked() -> None:
    beacon = parse_beacon(body(url="https://example.com/app#/caf%C3%A9", h=1), max_bytes=LIMIT)
    assert beacon.pathname == "/app#/café"


def test_oversized_body_is_413() -> None:
    with pytest.raises(PayloadTooLarge) as info:
        parse_beacon(body(props={"k": "v" * 1999}) + b" " * LIMIT, max_bytes=LIMIT)
    assert info.value.status == 413


@pytest.mark.parametrize(("referrer", "cleaned"), [
    ("https://news.ycombinator.com/item?id=1", "https://news.ycombinator.com/item"),
    ("https://user:pw@host.example/p", "https://host.example/p"),
    ("android-app://com.google.android.gm/", ""),
    ("not a url", ""),
    ("http://[bad", ""),
])
def test_referrer_keeps_scheme_host_and_path_only(referrer: str, cleaned: str) -> None:
    assert clean_referrer(referrer) == cleaned
