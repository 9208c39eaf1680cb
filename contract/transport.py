"""The swappable boundary between collectors and processors.

A collector calls `publish`; it returns only once the events are durable on local disk
(the embedded event log, or the Kafka collector's spool, forwarded from there), so a 2xx
is a promise. The processor side reads `Record`s and commits a position only after the
sink wrote them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from contract.event import AnonymousEvent


@dataclass(frozen=True, slots=True)
class Record:
    """One envelope read back from a transport, with where it came from."""

    partition: int
    offset: int
    value: bytes


class Transport(Protocol):
    """Where collectors hand anonymous events to."""

    def publish(self, events: Sequence[AnonymousEvent]) -> None:
        """Make the events durable or raise TransportError (SpoolFull when out of room)."""

    def close(self) -> None:
        """Flush and release resources."""
