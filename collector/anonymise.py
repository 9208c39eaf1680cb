"""Pure privacy transforms on the raw IP and user agent, applied before anything leaves.

The raw IP and user agent are inputs here and never outputs: what comes out is a keyed
hash, a truncated network, or nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an IP as proxies write it; None if it is not one.

    Accepts `203.0.113.7`, `203.0.113.7:61598`, `2001:db8::7`, `[2001:db8::7]` and
    `[2001:db8::7]:443`, optionally quoted (RFC 7239 quotes bracketed IPv6); unwraps
    IPv4-mapped IPv6 (::ffff:a.b.c.d) to IPv4.
    """
    text = text.strip().strip('"').strip()
    if text.startswith("["):  # "[v6]" or "[v6]:port"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "v4:port"; a bare IPv6 address has several colons
        text = text.partition(":")[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def forwarded_hops(value: str, header: str) -> list[str]:
    """The client addresses a proxy header lists, nearest the client first.

    `header` is "x-forwarded-for" (comma-separated addresses) or "forwarded" (RFC 7239:
    `for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"`; an element without `for=`
    yields "" so the walk stops there, as it does at `unknown` or an obfuscated `_id`).
    """
    if header == "forwarded":
        hops = []
        for element in value.split(","):
            pairs = (pair.partition("=") for pair in element.split(";"))
            hops.append(next((v for k, _, v in pairs if k.strip().lower() == "for"), ""))
        return hops
    return value.split(",")


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def client_ip(peer: str, forwarded: str | None, trusted_proxies: Sequence[str],
              header: str = "x-forwarded-for") -> str:
    """The client's IP: the socket peer, or the proxy header only when the peer is trusted.

    `forwarded` is the value of `header` (X-Forwarded-For or RFC 7239 Forwarded, the one
    the operator's proxies set). Walks its hops from the right, skipping trusted proxies,
    so a client cannot spoof an address by sending its own header through a trusted
    proxy; a garbled hop stops the walk at the last trusted address.
    """
    nets = _networks(tuple(trusted_proxies))
    peer_ip = parse_ip(peer)
    if peer_ip is None:
        return peer

    def trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip.version == n.version and ip in n for n in nets)

    if not forwarded or not trusted(peer_ip):
        return str(peer_ip)
    for hop in reversed(forwarded_hops(forwarded, header)):
        hop_ip = parse_ip(hop)
        if hop_ip is None:
            break  # a garbled hop: stop believing the chain
        if not trusted(hop_ip):
            return str(hop_ip)
    return str(peer_ip)


CLIENT_IP_KEY = "crumbless.client_ip"  # WSGI environ key: the request's client IP, once


def request_client_ip(environ: dict[str, Any], trusted_proxies: Sequence[str],
                      header: str = "x-forwarded-for") -> str:
    """`client_ip` of a WSGI request, worked out once per request and kept in its environ.

    The rate limiter and the collector both need it; the proxy walk parses every hop, so
    the second caller reads the first one's answer. The environ lives as long as the
    request, as REMOTE_ADDR does.
    """
    known: str | None = environ.get(CLIENT_IP_KEY)
    if known is None:
        forwarded = environ.get("HTTP_" + header.upper().replace("-", "_"))
        known = client_ip(environ.get("REMOTE_ADDR") or "", forwarded, trusted_proxies,
                          header)
        environ[CLIENT_IP_KEY] = known
    return known


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
