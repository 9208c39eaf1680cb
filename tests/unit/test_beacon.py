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
    (b'{"name": "pageview", "url": "https://e.com/", "domain": "e.com", "x": 1}', "unknown field"),
    ('{"name": "\xff"}'.encode("latin-1"), "UTF-8"),
    (body(name=None), "name is required"),
    (body(url=None), "url is required"),
    (body(domain=None), "domain is required"),
    (body(url="ftp://example.com/"), "http(s) URL"),
    (body(url="javascript:alert(1)"), "http(s) URL"),
    (body(url="https:///nohost"), "http(s) URL"),
    (body(url="https://e.com/" + "a" * 3000), "url is"),
    (body(name="x" * 121), "name is 121 characters"),
    (body(name=42), "name must be a string"),
    (body(domain="not a domain!"), "not a valid host name"),
    (body(props={f"k{i}": "v" for i in range(31)}), "props has 31 keys"),
    (body(props={"k": {"nested": 1}}), "props.k must be"),
    (body(props={"k" * 301: "v"}), "props key"),
    (body(props={"k": "v" * 2001}), "props.k is 2001"),
    (body(props=[1, 2]), "props must be an object"),
    (body(revenue={"amount": "x", "currency": "EUR"}), "revenue.amount"),
    (body(revenue={"amount": 1, "currency": "euro"}), "revenue.currency"),
    (body(revenue=5), "revenue must be"),
    (body(consent="yes"), "consent"),
    (body(domain=",".join(f"s{i}.com" for i in range(11))), "limit is 10"),
])
def test_bad_beacons_get_a_one_line_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_beacon(raw, max_bytes=LIMIT)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.status == 400


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
