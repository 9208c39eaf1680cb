"""The pure helpers of the pipeline benchmarks: quantiles, crossings, record files, and when
a beacon counts as visible from committed Kafka offsets. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.freshness import summarise, visible_times
from bench.kafka_drain import crossing, read_records, steady_rate, write_records
from bench.procs import memory_kib, percentile
from contract.transport import Record


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([10, 20, 30, 40, 50], 0.5) == 30
    assert percentile([1, 2], 0.5) == 1.5
    assert percentile([7], 0.95) == 7
    assert percentile([0, 100], 0.95) == pytest.approx(95)
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_crossing_interpolates_the_time_a_count_reaches_a_level() -> None:
    samples = [(0.0, 0), (1.0, 0), (2.0, 100), (3.0, 200)]
    assert crossing(samples, 50) == pytest.approx(1.5)
    assert crossing(samples, 200) == 3.0
    with pytest.raises(ValueError):
        crossing(samples, 201)
    # 10 % of 200 at t=1.2, 90 % at t=2.8: 160 events in 1.6 s.
    assert steady_rate(samples, 200) == pytest.approx(100)
    # Not steady before t=2.5 (a rebalance): from there (150 done) to 180 at t=2.8.
    samples = [(0.0, 0), (2.0, 100), (2.5, 150), (3.0, 200)]
    assert steady_rate(samples, 200, since=2.5) == pytest.approx(30 / 0.3)


def test_records_survive_the_file_round_trip(tmp_path: Path) -> None:
    records = [Record(0, 0, b'{"v":1}'), Record(5, 1 << 40, b""), Record(3, 7, bytes(300))]
    write_records(tmp_path / "r.bin", records)
    assert list(read_records(tmp_path / "r.bin")) == records


def test_a_record_is_visible_at_the_first_commit_past_its_offset() -> None:
    seen = {"0:3": 10.0, "0:5": 11.0, "1:1": 10.5}  # "partition:committed" -> first seen
    where = {"/a": (0, 2), "/b": (0, 4), "/c": (1, 1), "/d": (2, 0)}
    assert visible_times(seen, where) == {"/a": 10.0, "/b": 11.0}
    sent = [(0, 9.0, 9.5), (1, 9.1, 9.6), (2, 9.2, 9.7)]
    paths = {0: "/a", 1: "/b", 2: "/c"}
    out = summarise(sent, visible_times(seen, where), paths.__getitem__)
    assert out["unseen"] == 1  # /c's commit (offset 1) does not pass its record (offset 1)
    assert out["p50_ms"] == pytest.approx(((10.0 - 9.5) + (11.0 - 9.6)) / 2 * 1000)
    assert out["max_ms"] == pytest.approx(1400)


def test_memory_of_this_process_and_of_none() -> None:
    import os

    mine = memory_kib(os.getpid())
    assert mine["hwm_kib"] >= mine["rss_kib"] > 0
    assert memory_kib(2**22 + 12345) == {}  # above Linux's pid_max: no such process
