"""Batch sizing: inserts grow with the backlog, within their bounds."""

from processors.batch import batch_size_for


def test_batches_grow_with_the_backlog_between_the_two_sizes() -> None:
    assert batch_size_for(0, 2000, 20_000) == 2000  # keeping up: the interval decides
    assert batch_size_for(1500, 2000, 20_000) == 2000
    assert batch_size_for(7000, 2000, 20_000) == 7000  # behind: one insert takes it all
    assert batch_size_for(500_000, 2000, 20_000) == 20_000  # never past the ceiling
