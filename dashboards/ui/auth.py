"""Passwords (argon2id via argon2-cffi), login throttling and CSRF tokens: no I/O.

Throttle: after FREE_FAILURES failed logins for one account, or one client network, each
further attempt waits 2^(n - FREE_FAILURES) seconds (capped at MAX_DELAY) after the last
failure; a success clears the account's count. Counts live in memory only, keyed by a
keyed hash so no IP is kept even there in clear; they reset when the process restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

FREE_FAILURES = 3
MAX_DELAY = 300.0
MIN_PASSWORD = 10

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when the user does not exist, so a missing account takes as long.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of `password`; ValueError if it is shorter than MIN_PASSWORD."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash` (None: no such user, still slow)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class LoginThrottle:
    """Failed-login counts per key with exponential waiting; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)

    def _slot(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def wait_seconds(self, *, account: str, network: str) -> float:
        """Seconds until another attempt for this account and network is allowed (0: now)."""
        now = self._clock()
        waits = []
        with self._lock:
            for slot in (self._slot("a", account), self._slot("n", network)):
                count, last = self._failures.get(slot, (0, 0.0))
                if count >= FREE_FAILURES:
                    delay = min(MAX_DELAY, 2.0 ** (count - FREE_FAILURES))
                    waits.append(max(0.0, last + delay - now))
        return max(waits, default=0.0)

    def failed(self, *, account: str, network: str) -> None:
        """Record a failed attempt."""
        now = self._clock()
        with self._lock:
            for slot in (self._slot("a", account), self._slot("n", network)):
                count, _ = self._failures.get(slot, (0, 0.0))
                self._failures[slot] = (count + 1, now)

    def succeeded(self, *, account: str) -> None:
        """Forget the account's failures after a successful login."""
        with self._lock:
            self._failures.pop(self._slot("a", account), None)


def csrf_token(cookie_token: str) -> str:
    """The CSRF token of forms for one session (or pre-login) cookie: HMAC-SHA256, hex.

    Keyed by the HttpOnly cookie's secret value, which another site's page can neither
    read nor set, so every instance derives the same token without a shared secret.
    """
    return hmac.new(cookie_token.encode(), b"crumbless csrf", hashlib.sha256).hexdigest()


def csrf_ok(cookie_token: str | None, given: str | None) -> bool:
    """Whether a submitted form's token belongs to the cookie sent with it."""
    if not cookie_token or not given:
        return False
    return hmac.compare_digest(csrf_token(cookie_token), given)
