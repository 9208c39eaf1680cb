"""collector-http: beacons/s through the whole embedded app, and the time until ClickHouse has them.

One request thread drives `create_app(Runtime(...))` with Flask's test client (no sockets),
first with the processor stopped, then with it writing to chdb as in `crumbless serve`.
Each durability setting runs in its own process: chdb opens one data path per process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.timing import median, rate
from bench.worker import spawn
from bench.workload import Hit, build_geo_db, make_hits, register_sites
from contract.settings import Settings
from crumbless.app import create_app
from crumbless.runtime import Runtime
from sinks.client import run

NAME = "collector-http"
TITLE = "beacons through the embedded app into ClickHouse"
DESCRIPTION = """
The embedded mode end to end: `Runtime` + `create_app`, `POST /api/event` through Flask's
test client from one thread (WSGI in process: no sockets, no HTTP parsing, no gunicorn),
same traffic mix as above. Each process first times the collector alone (processor not
started: *collector alone, req/s* and its inverse *µs/request*, time per 202), then
starts the processor on that backlog, topped up to whole 2000-event batches (*processor
on the backlog*: events committed to ClickHouse per second, rollup views included), then
sends rounds with both running as in `crumbless serve` (*together, req/s*). *events/s
into ClickHouse* is the events stored in such a round divided by the time from its first
request until `processor.drain()` has them all; *drain tail* is the wait after the last
202, mostly the processor's `batch_interval` wait for a fuller batch. `fsync` (the
default) syncs the event log before each 202, so an acknowledged event survives a power
loss; `flush` only hands it to the kernel (it survives a crash of the process).
"""
MODES = ("fsync", "flush")


def measure(durability: str, events: int, rounds: int) -> dict[str, Any]:
    """Time the collector alone, the processor on the backlog, then both together."""
    hits = make_hits(events)
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", log_durability=durability,
                            geoip_db=str(build_geo_db(Path(tmp)))).validate()
        runtime = Runtime(settings, start_background=False)
        try:
            register_sites(runtime.sites)
            client = create_app(runtime).test_client()
            _send(client, hits[:300])  # warm-up: UA caches, Flask, first log segment
            alone = _send(client, hits)
            # Whole batches only: a partial last batch would add the batch_interval wait.
            while runtime.event_log.end_offset % settings.batch_size:
                _send(client, hits[: settings.batch_size - runtime.event_log.end_offset
                                   % settings.batch_size])
            stored = _stored(runtime)
            backlog = {"drain_s": _drain(runtime, runtime.processor.start)}
            backlog["written"] = _stored(runtime) - stored
            together = []
            for _ in range(rounds):
                stored = _stored(runtime)
                sending = _send(client, hits)
                draining = _drain(runtime, lambda: None)
                together.append({"ingest_s": sending, "drain_s": draining,
                                 "written": _stored(runtime) - stored})
        finally:
            runtime.close()
    return {"durability": durability, "events": events, "alone_s": alone, "backlog": backlog,
            "rounds": together}


def _send(client: Any, hits: list[Hit]) -> float:
    """POST every hit from this thread; return the seconds until the last 202."""
    began = time.perf_counter()
    for hit in hits:
        response = client.post("/api/event", data=hit.body, headers=hit.headers,
                               environ_base={"REMOTE_ADDR": hit.ip})
        if response.status_code != 202:
            raise RuntimeError(f"collector answered {response.status_code}: {response.data!r}")
    return time.perf_counter() - began


def _drain(runtime: Runtime, start: Callable[[], None]) -> float:
    """Call `start`, then return the seconds until the processor has committed the log."""
    began = time.perf_counter()
    start()
    if not runtime.processor.drain(120):
        raise RuntimeError("processor did not drain within 120 s")
    return time.perf_counter() - began


def _stored(runtime: Runtime) -> int:
    """Rows in the events table."""
    count: int = run(runtime.client, "SELECT count() FROM events")[0][0]
    return count


def worker(argv: list[str]) -> dict[str, Any]:
    """`python -m bench.worker collector-http {fsync,flush} --events N --rounds R`."""
    parser = argparse.ArgumentParser(prog="bench.worker collector-http")
    parser.add_argument("durability", choices=MODES)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    return measure(args.durability, args.events, args.rounds)


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Alternate fsync and flush processes, so slow phases of the machine hit both."""
    events, rounds, processes = (1000, 2, 1) if quick else (3000, 2, 3)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(processes):
        for mode in MODES:
            runs[mode].append(spawn(NAME, mode, "--events", str(events), "--rounds",
                                    str(rounds), timeout=300))
    return {"events_per_round": events, "processes": processes, "rounds": rounds,
            "modes": {mode: _summarise(events, results) for mode, results in runs.items()}}


def _summarise(events: int, runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over processes (alone, backlog) and over all rounds (together)."""
    together = [r for run_ in runs for r in run_["rounds"]]
    return {
        "alone_per_s": median([rate(events, r["alone_s"]) for r in runs]),
        "us_per_request": median([r["alone_s"] / events * 1e6 for r in runs]),
        "processor_per_s": median([rate(r["backlog"]["written"], r["backlog"]["drain_s"])
                                   for r in runs]),
        "together_per_s": median([rate(events, r["ingest_s"]) for r in together]),
        "into_clickhouse_per_s": median([rate(r["written"], r["ingest_s"] + r["drain_s"])
                                         for r in together]),
        "tail_s": median([r["drain_s"] for r in together]),
        "stored_share": median([r["written"] / events for r in together]),
    }


def render(result: dict[str, Any]) -> list[str]:
    """The Markdown table of one result."""
    modes = result["modes"]
    lines = [f"{result['events_per_round']:,} beacons per round from one thread; per setting "
             f"{result['processes']} process(es), fsync and flush alternated, each with one "
             f"round alone and {result['rounds']} rounds with the processor running "
             "(medians).", "",
             "| log_durability | collector alone, req/s | µs/request | processor on the "
             "backlog, events/s | together, req/s | events/s into ClickHouse | drain tail s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for mode, m in modes.items():
        lines.append(f"| {mode} | {m['alone_per_s']:,.0f} | {m['us_per_request']:,.0f} | "
                     f"{m['processor_per_s']:,.0f} | {m['together_per_s']:,.0f} | "
                     f"{m['into_clickhouse_per_s']:,.0f} | {m['tail_s']:.2f} |")
    ratio = modes["flush"]["alone_per_s"] / modes["fsync"]["alone_per_s"]
    lines += ["", f"flush / fsync, collector alone: **{ratio:.2f}x** the requests/s. "
                  f"{modes['fsync']['stored_share']:.0%} of the beacons become stored events "
                  "(the rest are bots or refused)."]
    return lines
