"""Backoff: the delays between retries of one failing operation, as a small value object.

Shared by the processors (a sink write or checkpoint load waiting out ClickHouse) and
the Kafka forwarder (a broker outage), so the doubling rule is written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds to wait: `initial`, then times `factor` after each failure, up to `ceiling`.

    `delays()` is a fresh, endless iterator; taking a new one is the reset after a success.
    Raises ValueError for a non-positive `initial`, a `factor` below 1 or a `ceiling`
    below `initial`.
    """

    initial: float = 0.1
    factor: float = 2.0
    ceiling: float = 10.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.ceiling < self.initial:
            raise ValueError(f"Backoff needs 0 < initial <= ceiling and factor >= 1, got "
                             f"initial={self.initial}, factor={self.factor}, "
                             f"ceiling={self.ceiling}")

    def next(self, delay: float) -> float:
        """The delay after `delay`: grown by `factor`, capped at `ceiling`."""
        return min(delay * self.factor, self.ceiling)

    def delays(self) -> Iterator[float]:
        """initial, initial·factor, … capped at ceiling, without end."""
        delay = self.initial
        while True:
            yield delay
            delay = self.next(delay)
