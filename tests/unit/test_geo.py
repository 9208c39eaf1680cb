"""collector.geo: GeoLookup over a tiny .mmdb built by crumbless.testing.geo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.geo import UNKNOWN_GEO, Geo, GeoLookup
from crumbless.testing.geo import build_test_mmdb

NETWORKS = {
    "203.0.113.0/24": {"country": "DE", "region": "BE", "city": "Berlin"},
    "198.51.100.0/24": {"country": "US"},
    "192.0.2.0/24": {"country": "FR", "region": "FR-IDF"},
    "2001:db8::/32": {"country": "JP", "region": "13", "city": "Tokyo"},
    "10.0.0.0/8": {"country": "NL", "region": "NH", "city": "Amsterdam"},
}


@pytest.fixture
def geo(tmp_path: Path) -> Iterator[GeoLookup]:
    lookup = GeoLookup(build_test_mmdb(tmp_path / "city.mmdb", NETWORKS))
    yield lookup
    lookup.close()


def test_ipv4_address_gets_country_and_iso_3166_2_region(geo: GeoLookup) -> None:
    assert geo.lookup("203.0.113.7") == Geo(country="DE", region="DE-BE", city="")


def test_city_is_only_given_when_asked_for(geo: GeoLookup) -> None:
    assert geo.lookup("203.0.113.7", with_city=True) == Geo("DE", "DE-BE", "Berlin")


def test_ipv6_address_is_looked_up(geo: GeoLookup) -> None:
    assert geo.lookup("2001:db8:1::42", with_city=True) == Geo("JP", "JP-13", "Tokyo")


@pytest.mark.parametrize("mapped", ["::ffff:203.0.113.7", "::FFFF:203.0.113.7", "::ffff:cb00:7107"])
def test_ipv4_mapped_ipv6_is_looked_up_as_the_ipv4_address(geo: GeoLookup, mapped: str) -> None:
    assert geo.lookup(mapped, with_city=True) == Geo("DE", "DE-BE", "Berlin")


def test_builder_makes_mapped_addresses_reachable_in_the_file_itself(tmp_path: Path) -> None:
    import maxminddb

    path = build_test_mmdb(tmp_path / "mapped.mmdb", {"203.0.113.0/24": {"country": "DE"}})
    with maxminddb.open_database(path) as reader:
        assert reader.get("::ffff:203.0.113.7") == reader.get("203.0.113.7")
        assert reader.get("203.0.113.7") == {"country": {"iso_code": "DE", "names": {"en": "DE"}}}


def test_country_only_record_leaves_region_and_city_empty(geo: GeoLookup) -> None:
    assert geo.lookup("198.51.100.1", with_city=True) == Geo("US", "", "")


def test_region_given_as_iso_3166_2_is_stored_once(geo: GeoLookup) -> None:
    assert geo.lookup("192.0.2.1") == Geo("FR", "FR-IDF", "")


@pytest.mark.parametrize("ip", ["8.8.8.8", "2606:4700::1111", "127.0.0.1", "::1"])
def test_address_outside_the_database_is_unknown(geo: GeoLookup, ip: str) -> None:
    assert geo.lookup(ip, with_city=True) is UNKNOWN_GEO


def test_private_address_gets_whatever_the_database_says(geo: GeoLookup) -> None:
    assert geo.lookup("10.1.2.3").country == "NL"


@pytest.mark.parametrize(
    "ip", ["", "not-an-ip", "999.1.1.1", "127.1", "1.2.3.4:80", "fe80::1%eth0", "2001:db8::zz"]
)
def test_invalid_ip_string_is_unknown_not_an_exception(geo: GeoLookup, ip: str) -> None:
    assert geo.lookup(ip) is UNKNOWN_GEO


def test_surrounding_whitespace_is_ignored(geo: GeoLookup) -> None:
    assert geo.lookup(" 203.0.113.7 ").country == "DE"


def test_none_path_answers_unknown_for_everything() -> None:
    lookup = GeoLookup(None)
    assert lookup.lookup("203.0.113.7", with_city=True) is UNKNOWN_GEO
    lookup.close()


def test_lookup_after_close_is_unknown_and_close_is_idempotent(geo: GeoLookup) -> None:
    geo.close()
    geo.close()
    assert geo.lookup("203.0.113.7") is UNKNOWN_GEO


def test_corrupt_file_raises_value_error_naming_the_path(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mmdb"
    corrupt.write_bytes(b"this is not a MaxMind database" * 100)
    with pytest.raises(ValueError, match=r"must be a MaxMind \.mmdb") as raised:
        GeoLookup(corrupt)
    assert str(corrupt) in str(raised.value)


def test_missing_file_raises_value_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mmdb"
    with pytest.raises(ValueError, match="GeoLite2 or DB-IP Lite") as raised:
        GeoLookup(missing)
    assert str(missing) in str(raised.value)


def test_ipv4_only_database_answers_unknown_for_ipv6(tmp_path: Path) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=4, database_type="Test-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "DE"}})
    writer.to_db_file(str(tmp_path / "v4.mmdb"))
    lookup = GeoLookup(tmp_path / "v4.mmdb")
    assert lookup.lookup("203.0.113.1") == Geo("DE", "", "")
    assert lookup.lookup("2001:db8::1") is UNKNOWN_GEO
    lookup.close()


def test_odd_record_shapes_are_tolerated(tmp_path: Path) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True)
    writer.insert_network(IPSet(["203.0.113.0/25"]), {"country": "DE", "subdivisions": "x"})
    writer.insert_network(IPSet(["203.0.113.128/25"]), ["not", "a", "map"])
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"subdivisions": [{"iso_code": "BE"}]})
    writer.to_db_file(str(tmp_path / "odd.mmdb"))
    lookup = GeoLookup(tmp_path / "odd.mmdb")
    assert lookup.lookup("203.0.113.1", with_city=True) is UNKNOWN_GEO
    assert lookup.lookup("203.0.113.200", with_city=True) is UNKNOWN_GEO
    assert lookup.lookup("198.51.100.1") is UNKNOWN_GEO  # a region without a country
    lookup.close()


def test_builder_rejects_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="contry"):
        build_test_mmdb(tmp_path / "typo.mmdb", {"203.0.113.0/24": {"contry": "DE"}})
