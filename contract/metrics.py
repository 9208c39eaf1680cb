"""Process-wide counters, exposed in the Prometheus text format at /metrics."""

from __future__ import annotations

import threading
from collections import Counter


class Metrics:
    """Thread-safe named counters with optional label pairs; never holds event payloads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        """Add `amount` to the counter `name{labels}`."""
        with self._lock:
            self._counts[(name, tuple(sorted(labels.items())))] += amount

    def get(self, name: str, **labels: str) -> int:
        """The current value of one counter."""
        with self._lock:
            return self._counts[(name, tuple(sorted(labels.items())))]

    def render(self) -> str:
        """Prometheus exposition text of every counter."""
        with self._lock:
            items = sorted(self._counts.items())
        lines = []
        for (name, labels), value in items:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"crumbless_{name}{{{label_text}}} {value}" if labels
                         else f"crumbless_{name} {value}")
        return "\n".join(lines) + "\n"
