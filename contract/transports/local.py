"""LocalTransport: the embedded mode's transport, the collector side of the event log."""

from __future__ import annotations

from collections.abc import Sequence

from contract.event import AnonymousEvent, encode_envelope
from contract.transports.eventlog import EventLog


class LocalTransport:
    """Publishes envelopes to the on-disk event log; returns once they are durable."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def publish(self, events: Sequence[AnonymousEvent]) -> None:
        """Append one envelope holding `events` (raises SpoolFull/TransportError)."""
        if events:
            self.log.append(encode_envelope(events))

    def close(self) -> None:
        """The log is owned and closed by whoever opened it."""
