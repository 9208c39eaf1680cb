"""One exception tree for crumbless.

    CrumblessError
    ├── BadRequest            input from a client is wrong → HTTP 4xx with a one-line reason
    │   ├── UnknownSite       the beacon names a domain that is not registered (400)
    │   ├── PayloadTooLarge   the body is over the size limit (413)
    │   ├── UnsupportedMediaType  the Content-Type is not accepted (415)
    │   ├── BadQuery          a Stats API query names a bad field (400)
    │   └── TooManyRequests   over a rate limit (429 + Retry-After)
    ├── DropEvent             the event is deliberately not counted (consent, bot): not an error
    ├── InvalidEvent          a decoded event breaks the contract (→ dead-letter, never a crash)
    ├── ConfigError           a setting has a bad value; names the setting and what is accepted
    ├── StorageError          ClickHouse (or chdb) failed; translated at the edge with `from exc`
    └── TransportError        the event log or Kafka could not accept or deliver events
        └── SpoolFull         no room left to accept events durably (→ 503 + Retry-After)
"""

from __future__ import annotations


class CrumblessError(Exception):
    """Base of every error crumbless raises on purpose."""


class BadRequest(CrumblessError):
    """A client's input is wrong; the message is the one-line reason sent back."""

    status = 400


class UnknownSite(BadRequest):
    """The beacon's domain is not a registered site."""

    status = 400


class PayloadTooLarge(BadRequest):
    """The body is larger than the configured limit."""

    status = 413


class UnsupportedMediaType(BadRequest):
    """The Content-Type is not one the endpoint reads."""

    status = 415


class BadQuery(BadRequest):
    """A Stats API query is malformed; the message names the bad field."""

    status = 400


class TooManyRequests(BadRequest):
    """Over a rate limit; `retry_after` is the seconds until the client may try again."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DropEvent(CrumblessError):
    """Raised by a pipeline step to drop the event on purpose; the message is the reason.

    `kind` is the fixed word the metrics and the `X-Crumbless-Dropped` header carry
    (`bot` or `consent`); the message may be longer but never holds an IP or user agent.
    """

    def __init__(self, reason: str, *, kind: str = "consent") -> None:
        super().__init__(reason)
        self.kind = kind


class InvalidEvent(CrumblessError):
    """A decoded event breaks the contract; the message is the dead-letter reason."""


class ConfigError(CrumblessError):
    """A setting has a bad value."""


class StorageError(CrumblessError):
    """ClickHouse could not be reached or refused a statement."""


class TransportError(CrumblessError):
    """Events could not be handed on to the processors."""


class SpoolFull(TransportError):
    """The durable buffer is full; the client should retry later."""
