"""The processor processes raise the garbage collector's thresholds, once, process-wide."""

import gc

from processors.gc_tuning import THRESHOLDS, tune_gc


def test_tune_gc_sets_the_thresholds_a_batch_needs() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] >= 10_000  # far above CPython's 700: see the module docstring
    finally:
        gc.set_threshold(*before)
