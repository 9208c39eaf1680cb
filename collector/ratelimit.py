"""Rate limits per client and per site: token buckets in a bounded table, in memory only.

A client is keyed by `client_key(ip)`: a keyed BLAKE2b-64 of the IP under a random key
drawn when the process starts and never stored, so the table cannot be linked back to an
address even by reading the process's memory after a restart. The table holds at most
`max_keys` buckets; when full the least recently used bucket goes (an evicted client
starts again with a full bucket, so eviction is never stricter than the limit). Memory
therefore stays bounded under any number of distinct sources.

Shape: `RateLimiter.take(key, now) -> float`: 0.0 when the request may proceed, else the
seconds until a token is available (the Retry-After). Token bucket: `rate` tokens per
second up to `burst`; each request takes one.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """A token-bucket limit: `rate` per second, bursts of `burst`; rate 0 means no limit."""

    rate: float
    burst: int

    @property
    def enabled(self) -> bool:
        """Whether this limit limits anything."""
        return self.rate > 0


class RateLimiter:
    """Token buckets keyed by opaque bytes, at most `max_keys` of them (LRU eviction)."""

    def __init__(self, limit: Limit, *, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = limit
        self.max_keys = max_keys
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: bytes, now: float) -> float:
        """Take one token for `key` at monotonic time `now`; 0.0 or seconds to wait."""
        if not self.limit.enabled:
            return 0.0
        rate, burst = self.limit.rate, float(self.limit.burst)
        with self._lock:
            tokens, at = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """A Retry-After header value (whole seconds, at least 1) for a wait in seconds."""
    return str(max(1, math.ceil(wait)))


class ClientKeys:
    """Turns a client IP into an opaque bucket key under a per-process random key."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def __call__(self, ip: str) -> bytes:
        """BLAKE2b-64 of the IP keyed by this process's secret."""
        return hashlib.blake2b(ip.encode(), key=self._key, digest_size=8).digest()
