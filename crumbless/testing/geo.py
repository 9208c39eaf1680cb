"""Build small GeoLite2-City-shaped .mmdb files for tests (uses the mmdb-writer package)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet

__all__ = ["build_test_mmdb"]

_KEYS = frozenset({"country", "region", "city"})


def build_test_mmdb(path: Path, networks: Mapping[str, Mapping[str, str]]) -> Path:
    """Write a GeoLite2-City-shaped .mmdb at ``path`` holding ``networks`` and return the path.

    networks: {"203.0.113.0/24": {"country": "DE", "region": "BE", "city": "Berlin"},
    "2001:db8::/32": {...}}; every key is optional, region may also be "DE-BE".
    """
    # An IPv6 tree like the real GeoLite2 / DB-IP files. mmdb-writer's ipv4_compatible
    # puts IPv4 networks under ::/96, which is where readers look plain IPv4 addresses up;
    # each IPv4 network is also written under ::ffff:0:0/96 so that an IPv4-mapped IPv6
    # address finds the same record, as it does in MaxMind's own databases.
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="crumbless-Test-City",
        languages=["en"],
        description="crumbless test database",
    )
    for cidr, fields in networks.items():
        network = IPNetwork(cidr)
        record = _city_record(cidr, fields)
        writer.insert_network(IPSet([network]), record)
        if network.version == 4:
            writer.insert_network(IPSet([network.ipv6(ipv4_compatible=False)]), record)
    path = Path(path)
    writer.to_db_file(str(path))
    return path


def _city_record(cidr: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """Shape {"country", "region", "city"} like a GeoLite2-City record; keys are optional."""
    unknown = set(fields) - _KEYS
    if unknown:
        raise ValueError(
            f"network {cidr}: unknown keys {sorted(unknown)}; accepted: {sorted(_KEYS)}"
        )
    country = fields.get("country", "")
    region = fields.get("region", "")
    city = fields.get("city", "")
    # Accept "BE" or "DE-BE": the file stores the subdivision code alone, as GeoLite2 does.
    if country and region.startswith(f"{country}-"):
        region = region[len(country) + 1 :]
    record: dict[str, Any] = {}
    if country:
        record["country"] = {"iso_code": country, "names": {"en": country}}
    if region:
        record["subdivisions"] = [{"iso_code": region, "names": {"en": region}}]
    if city:
        record["city"] = {"names": {"en": city}}
    return record
