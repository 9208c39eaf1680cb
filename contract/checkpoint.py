"""A processor's checkpoint state and the store protocol, shared by processors and sinks.

Commit order (kept everywhere): 1. `begin(range)` records the exact record range of the
next batch; 2. the sink writes the batch with a token derived from that range; 3.
`commit(end, snapshot)` moves the position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CheckpointState:
    """Committed position, the sessioniser snapshot at it, and an unfinished batch if any."""

    offset: int = 0
    sessions: dict[str, Any] = field(default_factory=dict)
    pending_end: int | None = None


class Checkpoint(Protocol):
    """A durable store of CheckpointState for one partition."""

    def load(self) -> CheckpointState:
        """The last committed state (with a pending range if a batch was in flight)."""

    def begin(self, start: int, end: int) -> None:
        """Record that the batch [start, end) is about to be written."""

    def commit(self, offset: int, sessions: dict[str, Any]) -> None:
        """Record that everything below `offset` is written, with the state after it."""
