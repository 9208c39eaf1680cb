"""Where a processor keeps its position, its open visits, and the batch it is writing.

Commit order (kept everywhere): 1. `begin(range)` records the exact record range of the
next batch; 2. the sink writes the batch with a token derived from that range; 3.
`commit(end, snapshot)` moves the position. A crash after 1 or 2 replays exactly that
range from the committed state, so the rows and the token are identical and ClickHouse
deduplicates the second insert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from contract.checkpoint import Checkpoint as Checkpoint  # re-exported for processors
from contract.checkpoint import CheckpointState
from contract.files import atomic_write


class FileCheckpoint:
    """Checkpoint files in a directory: the embedded mode's store."""

    def __init__(self, directory: Path, partition: int = 0) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state_path = directory / f"partition-{partition}.json"
        self.pending_path = directory / f"partition-{partition}.pending.json"

    def load(self) -> CheckpointState:
        """Read the committed state and any pending batch range."""
        raw = orjson.loads(self.state_path.read_bytes()) if self.state_path.exists() else {}
        pending = None
        if self.pending_path.exists():
            start, end = orjson.loads(self.pending_path.read_bytes())
            if start == raw.get("offset", 0):
                pending = end
        return CheckpointState(raw.get("offset", 0), raw.get("sessions", {}), pending)

    def begin(self, start: int, end: int) -> None:
        """Durably note the range of the batch about to be written."""
        atomic_write(self.pending_path, orjson.dumps([start, end]))

    def commit(self, offset: int, sessions: dict[str, Any]) -> None:
        """Durably move the position; the pending note is then stale and removed."""
        atomic_write(self.state_path, orjson.dumps({"offset": offset, "sessions": sessions}))
        self.pending_path.unlink(missing_ok=True)
