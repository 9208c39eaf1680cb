"""Turn transport records into one sink batch: decode → validate → enrich → sessionise.

Pure and deterministic: the same records on the same sessioniser state give the same
batch, which is what lets a retried insert reuse its deduplication token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from contract.errors import InvalidEvent
from contract.transport import Record
from contract.wire import read_envelope
from processors.enrich import EnrichedEvent, enrich
from processors.sessionise import SessionisedEvent, Sessioniser, SessionRow


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that broke the contract, with the reason and where it came from."""

    partition: int
    offset: int
    reason: str
    value: bytes


@dataclass(slots=True)
class Batch:
    """What one sink write contains, and the record range it covers."""

    partition: int
    first_offset: int
    end_offset: int  # exclusive
    events: list[SessionisedEvent] = field(default_factory=list)
    sessions: list[SessionRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def token(self) -> str:
        """Deduplication token: stable for a given record range of a partition."""
        return f"p{self.partition}:{self.first_offset}-{self.end_offset}"


def batch_size_for(backlog: int, base: int, most: int) -> int:
    """Records in the next batch: `base` while keeping up, growing with the backlog to `most`.

    Larger inserts cost ClickHouse less per row and write fewer -1/+1 session rows (a
    visit touched once per batch, not once per small batch), so a processor catching up
    goes faster the further behind it is. Measured in bench/processor.py.
    """
    return max(base, min(backlog, most))


def build_batch(records: Sequence[Record], sessioniser: Sessioniser) -> Batch:
    """Process consecutive records of one partition into a Batch (sessioniser is advanced)."""
    if not records:
        raise ValueError("build_batch needs at least one record")
    batch = Batch(records[0].partition, records[0].offset, records[-1].offset + 1)
    enriched: list[EnrichedEvent] = []
    for record in records:
        try:
            events = read_envelope(record.value)
        except InvalidEvent as exc:
            batch.dead_letters.append(DeadLetter(record.partition, record.offset, str(exc),
                                                 record.value))
            continue
        for event in events:
            enriched.append(enrich(event))
    batch.events, batch.sessions = sessioniser.process(enriched)
    return batch
