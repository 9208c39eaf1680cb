"""The garbage collector's thresholds for a process that runs a processor.

A batch keeps tens of thousands of young containers alive at once (records, events,
visits, columns). With CPython's default thresholds (700, 10, 10) the collector runs
every 700 net allocations and walks them again and again: measured on the processor
core (decode to columns, batches of 20,000), a third of its CPU time went to the
collector, and with these thresholds that share is ~5 % (docs/benchmarks.md, processor).
Nothing in the pipeline makes reference cycles per event, so garbage is freed by
reference counting as before; cyclic garbage merely waits for a later, rarer pass.
Process-wide, so it is set once by the shell that starts the process (`crumbless serve`,
`crumbless processor`), never by library code.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)
"""gc.set_threshold values: generation 0 every 50,000 net allocations (a batch's worth of
objects, not 700), generation 1 every 20 of those, the full pass every 100 of those."""


def tune_gc() -> None:
    """Set THRESHOLDS for this process (idempotent)."""
    gc.set_threshold(*THRESHOLDS)
