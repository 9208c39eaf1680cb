"""Timing helpers: medians over repeats, never a single sample."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(samples: Sequence[float]) -> float:
    """The median of the samples (the noise-robust summary used everywhere here)."""
    if not samples:
        raise ValueError("median of no samples")
    return float(statistics.median(samples))


def rate(count: float, seconds: float) -> float:
    """Items per second, guarding against a zero-length interval."""
    return count / seconds if seconds > 0 else float("inf")
