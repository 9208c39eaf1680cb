"""Rate limits: token buckets per hashed client and per site, in a bounded table."""

from __future__ import annotations

import sys

from collector.ratelimit import ClientKeys, Limit, RateLimiter, retry_after


def test_a_client_gets_its_burst_then_waits_for_tokens_at_the_rate() -> None:
    limiter = RateLimiter(Limit(rate=2, burst=3))
    assert [limiter.take(b"a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take(b"a", 0.0)
    assert wait == 0.5 and retry_after(wait) == "1"
    assert limiter.take(b"a", 0.5) == 0.0  # one token came back after 1/rate seconds


def test_one_flooding_client_does_not_use_up_another_clients_budget() -> None:
    limiter = RateLimiter(Limit(rate=10, burst=10))
    refused = sum(limiter.take(b"flood", i / 10_000) > 0 for i in range(10_000))
    assert refused > 9_000
    assert all(limiter.take(b"quiet", 1.0 + i) == 0.0 for i in range(20))


def test_memory_stays_bounded_under_ten_times_more_clients_than_the_table_holds() -> None:
    limiter = RateLimiter(Limit(rate=1, burst=5), max_keys=1000)
    keys = ClientKeys()
    for i in range(10_000):
        limiter.take(keys(f"198.51.{i // 256 % 256}.{i % 256}"), i * 0.001)
    assert len(limiter) == 1000
    size = sys.getsizeof(limiter._buckets)
    assert size < 200_000, size


def test_eviction_is_never_stricter_than_the_limit() -> None:
    """An evicted client comes back with a full bucket, never a smaller one."""
    limiter = RateLimiter(Limit(rate=1, burst=2), max_keys=1)
    limiter.take(b"a", 0.0)
    limiter.take(b"b", 0.0)  # evicts a
    assert limiter.take(b"a", 0.0) == 0.0 and limiter.take(b"a", 0.0) == 0.0


def test_rate_zero_means_no_limit() -> None:
    limiter = RateLimiter(Limit(rate=0, burst=1))
    assert all(limiter.take(b"a", 0.0) == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_client_keys_hide_the_ip_and_differ_between_processes() -> None:
    one, two = ClientKeys(), ClientKeys()
    key = one("203.0.113.9")
    assert key == one("203.0.113.9") and len(key) == 8
    assert b"203.0.113.9" not in key and bytes([203, 0, 113, 9]) not in key
    assert key != two("203.0.113.9")  # a random key per process, never stored
