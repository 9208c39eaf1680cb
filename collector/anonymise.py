"""Pure privacy transforms on the raw IP and user agent, applied before anything leaves.

The raw IP and user agent are inputs here and never outputs: what comes out is a keyed
hash, a truncated network, or nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an IP, unwrapping IPv4-mapped IPv6 (::ffff:a.b.c.d) to IPv4; None if invalid."""
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The client's IP: the socket peer, or X-Forwarded-For only when the peer is trusted.

    Walks X-Forwarded-For from the right, skipping trusted proxies, so a client cannot
    spoof an address by sending its own header through a trusted proxy.
    """
    nets = _networks(tuple(trusted_proxies))
    peer_ip = parse_ip(peer)
    if peer_ip is None:
        return peer

    def trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip.version == n.version and ip in n for n in nets)

    if not forwarded_for or not trusted(peer_ip):
        return str(peer_ip)
    for hop in reversed(forwarded_for.split(",")):
        hop_ip = parse_ip(hop)
        if hop_ip is None:
            break  # a garbled hop: stop believing the chain
        if not trusted(hop_ip):
            return str(hop_ip)
    return str(peer_ip)


def truncate_ip(ip: str) -> str:
    """The network of an IP: /24 for IPv4 (mapped too), /48 for IPv6; "" if invalid."""
    addr = parse_ip(ip)
    if addr is None:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def visitor_id(salt: bytes, site: str, ip: str, user_agent: str) -> int:
    """Keyed BLAKE2b-64 of site, IP and user agent under the day's salt; never 0."""
    digest = hashlib.blake2b(
        b"\0".join((site.encode(), ip.encode(), user_agent.encode("utf-8", "replace"))),
        key=salt, digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big") or 1  # 0 is reserved for "no visitor id"
