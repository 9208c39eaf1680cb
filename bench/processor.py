"""processor: the embedded processor's throughput on a backlog against a bare insert.

Both sides write the same rows into fresh databases of one chdb, rollup views firing:
*crumbless* runs the whole processor core and sink per batch (decode and validate the
envelopes, enrich, sessionise, build rows, idempotent insert with deduplication tokens);
*floor* inserts the rows the core produced, already built, with plain
clickhouse-connect calls in the same batches (column-oriented, as the sink sends them,
without the deduplication settings). Batch sizes compare the old fixed 2,000
with batches grown to the backlog (`max_batch_size`). Variants alternate and repeat.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats_query import synthetic_events
from bench.timing import median
from bench.worker import spawn
from contract.event import encode_envelope
from contract.rows import EVENT_COLUMNS, SESSION_COLUMNS, RowBatch
from contract.settings import Settings
from contract.transport import Record
from processors.batch import build_batch
from processors.gc_tuning import tune_gc
from processors.rows import batch_rows
from processors.sessionise import Sessioniser
from sinks.clickhouse import ClickHouseSink
from sinks.client import connect
from sinks.migrations import migrate

NAME = "processor"
TITLE = "Processor throughput on a backlog, against a bare insert of the same rows"
DESCRIPTION = __doc__.split("\n", 2)[2].strip() if __doc__ else ""


def _fresh_database(client: Any, data_dir: Path, name: str) -> None:
    client.command(f"CREATE DATABASE {name}")
    client.database = name
    migrate(client, Settings(data_dir=data_dir, database=name))


def _crumbless(client: Any, records: list[Record], batch_size: int
               ) -> tuple[float, float, list[RowBatch]]:
    """Seconds for the whole core + sink path, seconds of it in the core (decode to
    columns), and the rows it built (for the floor)."""
    sink, sessioniser, built = ClickHouseSink(client), Sessioniser(30 * 60_000), []
    core = 0.0
    began = time.perf_counter()
    for first in range(0, len(records), batch_size):
        started = time.perf_counter()
        rows = batch_rows(build_batch(records[first:first + batch_size], sessioniser))
        core += time.perf_counter() - started
        sink.write(rows)
        built.append(rows)
    return time.perf_counter() - began, core, built


def _floor(client: Any, batches: list[RowBatch]) -> float:
    """Seconds for plain inserts of already-built rows, same batches, views firing.

    The rows go in as the sink sends them, column-oriented, with int timestamps (the
    cheapest clickhouse-connect insert of them), but without deduplication tokens.
    """
    began = time.perf_counter()
    for rows in batches:
        client.insert("events", rows.events, column_names=EVENT_COLUMNS, column_oriented=True)
        if rows.sessions:
            client.insert("sessions", rows.sessions, column_names=SESSION_COLUMNS,
                          column_oriented=True)
    return time.perf_counter() - began


def measure(events: int, batch_sizes: list[int], repeats: int) -> dict[str, Any]:
    """Alternate crumbless and floor for each batch size; medians of `repeats` rounds.

    The ratio is the median of each round's crumbless / floor: the two run back to back,
    so a round's ratio shares its load (the machine is shared) where medians of each
    side's times would not.
    """
    tune_gc()  # as `crumbless serve` and `crumbless processor` do; the floor gets it too
    data = synthetic_events(events, dt.datetime.now(dt.UTC))
    records = [Record(0, n, encode_envelope([e])) for n, e in enumerate(data)]
    times: dict[tuple[int, str], list[float]] = {}
    session_rows: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        client = connect(f"chdb://{Path(tmp) / 'clickhouse'}", "default")
        n = 0
        for _ in range(repeats):
            for size in batch_sizes:
                n += 1
                _fresh_database(client, Path(tmp), f"c{n}")
                seconds, core, built = _crumbless(client, records, size)
                times.setdefault((size, "crumbless"), []).append(seconds)
                times.setdefault((size, "core"), []).append(core)
                session_rows[size] = sum(b.session_count for b in built)
                _fresh_database(client, Path(tmp), f"f{n}")
                times.setdefault((size, "floor"), []).append(_floor(client, built))
        _fresh_database(client, Path(tmp), "profiled")
        stages = profile(client, records, max(batch_sizes))
        client.close()
    return {"events": len(records), "repeats": repeats, "profile": stages, "sizes": [{
        "batch_size": size, "session_rows": session_rows[size],
        "crumbless_eps": len(records) / median(times[(size, "crumbless")]),
        "floor_eps": len(records) / median(times[(size, "floor")]),
        "ratio": median([f / c for c, f in zip(times[(size, "crumbless")],
                                               times[(size, "floor")], strict=True)]),
        "core_us": median(times[(size, "core")]) / len(records) * 1e6,
        "sink_us": median([c - k for c, k in zip(times[(size, "crumbless")],
                                                 times[(size, "core")], strict=True)])
        / len(records) * 1e6,
        "floor_us": median(times[(size, "floor")]) / len(records) * 1e6,
    } for size in batch_sizes]}


def worker(argv: list[str]) -> dict[str, Any]:
    """`python -m bench.worker processor --events N --batch-size B [...] --repeats R`."""
    parser = argparse.ArgumentParser(prog="bench.worker processor")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, action="append", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    return measure(args.events, args.batch_size, args.repeats)


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Run the measurement in a fresh process and return its JSON result."""
    events, repeats = (40_000, 3) if quick else (200_000, 5)
    return spawn(NAME, "--events", str(events), "--batch-size", "2000", "--batch-size",
                 "20000", "--repeats", str(repeats), timeout=1800)


def render(result: dict[str, Any]) -> list[str]:
    """One row per batch size: events/s of crumbless and of the floor, and their ratio."""
    lines = [f"{result['events']:,} events (visits of 1-8 page views over 29 days), median "
             f"of {result['repeats']} alternated rounds, one thread. *ratio*: median of the "
             "rounds' crumbless / floor; *core*: decode to columns; *sink*: the idempotent "
             "inserts (µs per event).", "",
             "| batch size | crumbless events/s | floor events/s | ratio | core µs | sink µs "
             "| floor µs | session rows |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in result["sizes"]:
        ratio = size.get("ratio", size["crumbless_eps"] / size["floor_eps"])
        split = (f"{size['core_us']:.1f} | {size['sink_us']:.1f} | {size['floor_us']:.1f}"
                 if "core_us" in size else "- | - | -")
        lines.append(f"| {size['batch_size']:,} | {size['crumbless_eps']:,.0f} | "
                     f"{size['floor_eps']:,.0f} | {ratio:.2f} | {split} | "
                     f"{size['session_rows']:,} |")
    if "profile" in result:
        largest = max(size["batch_size"] for size in result["sizes"])
        lines += ["", f"Where one crumbless pass at batches of {largest:,} spends its time "
                  "(cProfile, share of the pass; the rest is the bench loop and small "
                  "calls):", "", "| stage | share |", "|---|---:|"]
        lines += [f"| {s['stage']} | {s['share']:.0%} |" for s in result["profile"]]
    return lines + _baseline_lines(result)


# (label, cProfile key: file suffix and function name, cumulative or own time)
_STAGES = [
    ("decode + validate (msgspec)", ("contract/wire.py", "read_envelope"), "cum"),
    ("enrich", ("processors/enrich.py", "enrich"), "cum"),
    ("sessionise", ("processors/sessionise.py", "process"), "cum"),
    ("build columns", ("processors/rows.py", "batch_rows"), "cum"),
    ("insert: ClickHouse (chdb query, views)", ("~", "<built-in method chdb._chdb.query>"),
     "own"),
    ("insert: clickhouse-connect serialisation", ("sinks/clickhouse.py", "write"), "cum"),
]


def profile(client: Any, records: list[Record], batch_size: int) -> list[dict[str, Any]]:
    """Where a crumbless pass spends its time, by stage, under cProfile (share of the pass).

    cProfile adds a fixed cost per Python call, so the Python stages read somewhat larger
    than they are; the chdb query is one C call and reads as it is.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    _crumbless(client, records, batch_size)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in stats.values())
    found: dict[str, float] = {}
    for (path, _, func), (_, _, own, cum, _) in stats.items():
        for label, (suffix, name), kind in _STAGES:
            if func == name and path.endswith(suffix):
                found[label] = found.get(label, 0.0) + (own if kind == "own" else cum)
    chdb = found.get(_STAGES[4][0], 0.0)
    found[_STAGES[5][0]] = found.get(_STAGES[5][0], 0.0) - chdb  # the sink's own Python part
    return [{"stage": label, "share": found.get(label, 0.0) / total} for label, _, _ in _STAGES]
BASELINE = Path(__file__).with_name("processor-baseline.json")


def _baseline_lines(result: dict[str, Any]) -> list[str]:
    """The same table for the code before issue 13's processor work, if recorded."""
    if not BASELINE.exists():
        return []
    base = json.loads(BASELINE.read_text())
    now = {size["batch_size"]: size for size in result["sizes"]}
    lines = ["", base["note"], "",
             "| batch size | before: crumbless events/s | its floor events/s | ratio | core µs "
             "| sink µs | floor µs | now: crumbless events/s | x before |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in base["sizes"]:
        after = now.get(size["batch_size"])
        gain = (f"{after['crumbless_eps']:,.0f} | "
                f"{after['crumbless_eps'] / size['crumbless_eps']:.2f}x" if after else "- | -")
        lines.append(f"| {size['batch_size']:,} | {size['crumbless_eps']:,.0f} | "
                     f"{size['floor_eps']:,.0f} | {size['ratio']:.2f} | "
                     f"{size['core_us']:.1f} | {size['sink_us']:.1f} | "
                     f"{size['floor_us']:.1f} | {gain} |")
    return lines
