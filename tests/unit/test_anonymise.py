"""IP handling and visitor hashing: the transforms that stand between a raw IP and storage."""

import pytest

from collector.anonymise import (
    CLIENT_IP_KEY,
    client_ip,
    parse_ip,
    request_client_ip,
    truncate_ip,
    visitor_id,
)

SALT_A = bytes(range(32))
SALT_B = bytes(range(1, 33))
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.mark.parametrize(("ip", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    ("::ffff:203.0.113.77", "203.0.113.0/24"),  # IPv4-mapped IPv6 truncates as IPv4
    ("2001:db8:abcd:1234:5678::1", "2001:db8:abcd::/48"),
    ("2001:DB8:ABCD:ffff::", "2001:db8:abcd::/48"),
    ("not-an-ip", ""),
    ("", ""),
])
def test_truncate_ip_keeps_only_the_24_or_48_network(ip: str, network: str) -> None:
    assert truncate_ip(ip) == network


def test_parse_ip_unwraps_ipv4_mapped_addresses() -> None:
    assert str(parse_ip("::ffff:192.0.2.1")) == "192.0.2.1"
    assert parse_ip("[2001:db8::1]") is not None
    assert parse_ip("999.1.1.1") is None


def test_client_ip_is_the_socket_peer_without_trusted_proxies() -> None:
    assert client_ip("198.51.100.9", "1.2.3.4", ()) == "198.51.100.9"


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("198.51.100.9", "1.2.3.4", ("10.0.0.0/8",)) == "198.51.100.9"


def test_forwarded_for_is_believed_only_through_trusted_proxies() -> None:
    # client → attacker-chosen header "6.6.6.6" → real client 1.2.3.4 → proxy 10.0.0.2 → us
    assert client_ip("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", ("10.0.0.0/8",)) == "1.2.3.4"


def test_forwarded_for_of_only_trusted_hops_falls_back_to_the_peer() -> None:
    assert client_ip("10.0.0.1", "10.0.0.3", ("10.0.0.0/8",)) == "10.0.0.1"


def test_a_garbled_forwarded_hop_stops_the_chain() -> None:
    assert client_ip("10.0.0.1", "1.2.3.4, garbage", ("10.0.0.0/8",)) == "10.0.0.1"


def test_mapped_peer_address_is_normalised() -> None:
    assert client_ip("::ffff:198.51.100.9", None, ()) == "198.51.100.9"


def test_visitor_id_is_stable_within_a_day() -> None:
    assert visitor_id(SALT_A, "example.com", "203.0.113.7", UA) == visitor_id(
        SALT_A, "example.com", "203.0.113.7", UA)


def test_visitor_id_changes_when_the_salt_changes() -> None:
    assert visitor_id(SALT_A, "example.com", "203.0.113.7", UA) != visitor_id(
        SALT_B, "example.com", "203.0.113.7", UA)


def test_visitor_id_differs_across_sites_ips_and_user_agents() -> None:
    base = visitor_id(SALT_A, "example.com", "203.0.113.7", UA)
    assert base != visitor_id(SALT_A, "example.org", "203.0.113.7", UA)
    assert base != visitor_id(SALT_A, "example.com", "203.0.113.8", UA)
    assert base != visitor_id(SALT_A, "example.com", "203.0.113.7", UA + "x")


def test_visitor_id_is_a_nonzero_64_bit_integer() -> None:
    for i in range(200):
        vid = visitor_id(SALT_A, "example.com", f"203.0.113.{i}", UA)
        assert 0 < vid < 2**64


@pytest.mark.parametrize(("header", "value", "client"), [
    ("x-forwarded-for", "203.0.113.7:61598", "203.0.113.7"),  # Azure Front Door, App Gateway
    ("x-forwarded-for", "[2001:db8::7]:443", "2001:db8::7"),
    ("x-forwarded-for", "2001:db8::7", "2001:db8::7"),
    ("x-forwarded-for", "203.0.113.7:61598, 10.0.0.2:80", "203.0.113.7"),
    ("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
    ("forwarded", 'for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
    ("forwarded", 'For="192.0.2.43:47011", for=10.0.0.2', "192.0.2.43"),
    ("forwarded", "for=unknown", "10.0.0.1"),  # no address: stop at the trusted peer
    ("forwarded", "proto=https", "10.0.0.1"),
])
def test_every_form_a_real_proxy_sends_is_parsed(header: str, value: str, client: str) -> None:
    """ip:port, [v6]:port and RFC 7239 Forwarded from a trusted proxy give the client."""
    assert client_ip("10.0.0.1", value, ("10.0.0.0/8",), header) == client


def test_clients_behind_a_port_adding_proxy_are_distinct_visitors() -> None:
    """Before, `ip:port` did not parse and everybody became the proxy, one visitor."""
    salt = b"s" * 32
    ids = {visitor_id(salt, "e.com", client_ip("10.0.0.1", f"198.51.100.{n}:5{n}000",
                                               ("10.0.0.0/8",)), "UA") for n in range(5)}
    assert len(ids) == 5



def test_a_request_client_ip_is_worked_out_once_from_its_environ_and_kept_there() -> None:
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.1"}
    assert request_client_ip(environ, ["10.0.0.0/8"]) == "203.0.113.9"
    assert environ[CLIENT_IP_KEY] == "203.0.113.9"
    environ["HTTP_X_FORWARDED_FOR"] = "198.51.100.1"  # the second caller reads the first's
    assert request_client_ip(environ, ["10.0.0.0/8"]) == "203.0.113.9"
    # Only the configured header counts, and only from a trusted peer.
    forwarded = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1",
                 "HTTP_FORWARDED": 'for="[2001:db8::7]:443"'}
    assert request_client_ip(forwarded, ["10.0.0.0/8"], "forwarded") == "2001:db8::7"
    untrusted = {"REMOTE_ADDR": "192.0.2.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert request_client_ip(untrusted, ["10.0.0.0/8"]) == "192.0.2.5"
