"""dashboard: a full dashboard load (every Stats API query the UI makes) at 1M and 10M events.

The workload is `dashboards.ui.data.load_dashboard` itself, so it is exactly what the page
asks: top stats and their comparison, the time series and its comparison, every panel
(cities included), through `StatsService.run` with k = 5, privacy probes included (filter
leaves, range slices). Three loads in a round, each round on a fresh range ledger (a
fresh service): *30d* (no filter), *30d, country filter* (a filter chip: a leaf probe per
query), *7d after 30d* (the ledger holds the 30d ranges: a slice probe per query). The
database is seeded by bench.seed (INSERT … SELECT through the real views), then merged
(`OPTIMIZE … FINAL`), as a month-old table is. Per load and per dashboard part: p50 and
p95 over the repeats; statements: ClickHouse round trips per load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dashboards.ui.data as ui_data
from bench import report, seed
from bench.worker import spawn
from contract.settings import Settings
from dashboards.stats import StatsService
from dashboards.ui.panels import DashboardState, parse_state
from sinks.client import connect, run
from sinks.finalize import finalize
from sinks.migrations import migrate

NAME = "dashboard"
TITLE = "Full dashboard load against data size"
DESCRIPTION = __doc__.split("\n", 2)[2].strip() if __doc__ else ""
TABLES = ("events", "sessions", "rollup_daily", "rollup_hourly", "rollup_daily_visitors")
SCENARIOS: dict[str, dict[str, Any]] = {
    "30d": {"period": "30d"},
    "30d, country filter": {"period": "30d", "f": ["visit:country|is|DE"]},
    "7d after 30d": {"period": "7d"},
}
PLOT = report.ROOT / "docs" / "dashboard-latency.png"
# The same workload measured at schema 7 with the planner before issue 13 (1M and 10M,
# 3 loads each, 2026-11-30), kept to show what migration 8 and the planner changed.
BASELINE = report.ROOT / "bench" / "dashboard-baseline.json"


class TimedClient:
    """The ClickHouse client, counting and timing every query the service sends."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.statements: list[float] = []

    def query(self, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return self._client.query(*args, **kwargs)
        finally:
            self.statements.append(time.perf_counter() - began)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def settings_for(database: str, data_dir: Path) -> Settings:
    """Long TTLs: nothing seeded may expire while it is measured."""
    return Settings(data_dir=data_dir, database=database, raw_ttl_days=3650,
                    sessions_ttl_days=3650, hourly_ttl_days=3650, daily_ttl_days=3650)


def prepare(client: Any, data_dir: Path, events: int, *, upto: int | None) -> dict[str, Any]:
    """The database of `events` seeded events (reused if `data_dir` already holds it).

    Migrates to `upto` (default: the current schema; an older database is upgraded here,
    which is how the bench times a migration on real data sizes).
    """
    database = f"dash_{events}"
    run(client, f"CREATE DATABASE IF NOT EXISTS {database}")
    client.database = database
    exists = run(client, "SELECT count() FROM system.tables WHERE database = {d:String}"
                 " AND name = 'bench_seed'", {"d": database})[0][0]
    info: dict[str, Any] = {"database": database}
    began = time.perf_counter()
    applied = migrate(client, settings_for(database, data_dir), upto=upto)
    if exists:
        info.update(json.loads(run(client, "SELECT info FROM bench_seed")[0][0]))
        info["migrated"] = {"versions": applied, "seconds": time.perf_counter() - began}
    else:
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        info.update(seed.seed(client, events, end), end=end.isoformat())
        began = time.perf_counter()
        for table in TABLES:
            run(client, f"OPTIMIZE TABLE {table} FINAL")
        info["optimize_s"] = time.perf_counter() - began
        run(client, "CREATE TABLE bench_seed (info String) ENGINE = Log")
        client.insert("bench_seed", [[json.dumps(info)]], column_names=["info"])
    # What the processes' Finalizer has done by the time a month-old site is looked at:
    # every past day's visitors counted (sinks/finalize.py); timed, as an upgrade runs it.
    began, counted = time.perf_counter(), 0
    while (done := finalize(client, dt.datetime.now(dt.UTC).date())):
        counted += done
    if counted:
        run(client, "OPTIMIZE TABLE rollup_daily_visitors FINAL")
        info["finalized"] = {"days": counted, "seconds": time.perf_counter() - began}
    info["schema"] = max(v[0] for v in run(client, "SELECT version FROM schema_migrations"))
    info["counts"] = {t: run(client, f"SELECT count() FROM {t}")[0][0] for t in TABLES}
    return info


def _timed_ask(log: list[tuple[str, float]]) -> Callable[..., Any]:
    """`dashboards.ui.data.ask`, recording (part label, seconds) of every call."""
    original = ui_data.ask

    def ask(stats: StatsService, body: dict[str, Any]) -> Any:
        dims = ",".join(body.get("dimensions", [])) or "top stats"
        filters = [f for f in body.get("filters", []) if f[1] != "visit:country"]
        label = (dims + (" (goal filter)" if filters else "")
                 + (", revenue" if "total_revenue" in body["metrics"] else ""))
        began = time.perf_counter()
        try:
            return original(stats, body)
        finally:
            log.append((label, time.perf_counter() - began))
    return ask


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) of samples, interpolated; the sample itself if only one."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[round(q * 100) - 1]


def measure_size(client: Any, info: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Every scenario `repeats` times (after one warm-up round); p50/p95 per load and part."""
    end = dt.datetime.fromisoformat(info["end"])
    timed = TimedClient(client)
    states: dict[str, DashboardState] = {}
    for label, args in SCENARIOS.items():
        params = _Args(args)
        states[label] = parse_state(params, today=end.date(),
                                    allowed_dimensions=["visit:country"])
    loads: dict[str, list[float]] = {label: [] for label in SCENARIOS}
    statements: dict[str, list[int]] = {label: [] for label in SCENARIOS}
    db_time: dict[str, list[float]] = {label: [] for label in SCENARIOS}
    parts: dict[str, dict[str, list[float]]] = {label: {} for label in SCENARIOS}
    original = ui_data.ask
    try:
        for repeat in range(repeats + 1):
            service = StatsService(timed, k=5, clock=lambda: end)  # type: ignore[arg-type]
            for label, state in states.items():
                log: list[tuple[str, float]] = []
                ui_data.ask = _timed_ask(log)
                timed.statements.clear()
                began = time.perf_counter()
                ui_data.load_dashboard(service, seed.SITE, state, city_geo=True)
                elapsed = time.perf_counter() - began
                if repeat == 0:
                    continue  # warm-up: caches, first reads of every part
                loads[label].append(elapsed)
                statements[label].append(len(timed.statements))
                db_time[label].append(sum(timed.statements))
                seen: dict[str, int] = {}
                for part, seconds in log:  # the comparison period's calls come second
                    seen[part] = seen.get(part, 0) + 1
                    name = part if seen[part] == 1 else f"{part}, previous period"
                    parts[label].setdefault(name, []).append(seconds)
    finally:
        ui_data.ask = original
    return {**info, "scenarios": {label: {
        "p50_ms": percentile(loads[label], 0.5) * 1000,
        "p95_ms": percentile(loads[label], 0.95) * 1000,
        "statements": statistics.median(statements[label]),
        "clickhouse_ms": statistics.median(db_time[label]) * 1000,
        "parts": {part: {"p50_ms": percentile(s, 0.5) * 1000,
                         "p95_ms": percentile(s, 0.95) * 1000}
                  for part, s in parts[label].items()},
    } for label in SCENARIOS}}


class _Args(dict[str, Any]):
    """URL arguments as parse_state reads them (getlist for the repeated `f`)."""

    def getlist(self, key: str) -> list[Any]:
        return list(self.get(key) or [])


def measure(sizes: list[int], repeats: int, data_dir: Path | None,
            upto: int | None) -> dict[str, Any]:
    """Prepare (seed or reuse) one database per size, then measure each."""
    with tempfile.TemporaryDirectory(prefix="crumbless-dash-") as tmp:
        root = data_dir or Path(tmp)
        client = connect(f"chdb://{root / 'clickhouse'}", "default")
        infos = [prepare(client, root, size, upto=upto) for size in sizes]
        results = []
        for info in infos:
            client.database = info["database"]
            results.append(measure_size(client, info, repeats))
        version = run(client, "SELECT version()")[0][0]
    return {"sizes": results, "repeats": repeats, "clickhouse": version}


def worker(argv: list[str]) -> dict[str, Any]:
    """`python -m bench.worker dashboard --events N [--events M] --repeats R [--data-dir D]`."""
    parser = argparse.ArgumentParser(prog="bench.worker dashboard")
    parser.add_argument("--events", type=int, action="append", required=True)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the seeded databases here and reuse them next time")
    parser.add_argument("--upto", type=int, default=None,
                        help="schema version to migrate to (default: the current one)")
    args = parser.parse_args(argv)
    return measure(args.events, args.repeats, args.data_dir, args.upto)


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Quick: 100k and 1M events, 5 repeats; full: 1M and 10M, 20 repeats.

    CRUMBLESS_BENCH_DATA_DIR keeps the seeded databases there and reuses them (seeding
    10M events takes minutes); by default each run seeds into a temporary directory.
    """
    sizes, repeats = ((100_000, 1_000_000), 5) if quick else ((1_000_000, 10_000_000), 20)
    args = [arg for size in sizes for arg in ("--events", str(size))]
    if kept := os.environ.get("CRUMBLESS_BENCH_DATA_DIR"):
        args += ["--data-dir", kept]
    return spawn(NAME, *args, "--repeats", str(repeats), timeout=3600)


def _baseline() -> dict[int, dict[str, Any]]:
    """Stored baseline sizes by event count (empty if none is stored)."""
    if not BASELINE.exists():
        return {}
    stored = json.loads(BASELINE.read_text())
    return {s["counts"]["events"]: s for s in stored["sizes"]}


def _baseline_label() -> str:
    """What the baseline is (its `label`), as the tables and the plot name it."""
    if not BASELINE.exists():
        return "-"
    return str(json.loads(BASELINE.read_text()).get("label", "schema 7"))


def render(result: dict[str, Any]) -> list[str]:
    """Tables: each load per size (p50/p95, before: the baseline), then every part of 30d."""
    sizes = result["sizes"]
    before = _baseline()

    def then(size: dict[str, Any], label: str, part: str | None = None) -> str:
        old = before.get(size["counts"]["events"])
        if old is None:
            return "-"
        timing = (old["scenarios"][label] if part is None
                  else old["scenarios"][label]["parts"].get(part, {}))
        return f"{timing['p50_ms']:,.0f}" if timing else "-"

    head = " | ".join(f"{s['counts']['events'] / 1e6:.1f}M before p50 | p50 | p95"
                      for s in sizes)
    lines = [", ".join(f"{s['counts']['events']:,} events ({s['counts']['sessions']:,} "
                       f"sessions, {s['counts']['rollup_daily']:,} rollup_daily rows, seeded "
                       f"in {s['seconds']:.0f} s)" for s in sizes)
             + f"; schema {sizes[-1]['schema']}, ClickHouse {result['clickhouse']} (chdb); "
             f"{result['repeats']} loads each after a warm-up. *before*: the same loads, "
             f"{_baseline_label()} (bench/dashboard-baseline.json).", "",
             f"| load (ms) | {head} | growth p50 | statements |",
             "|---|" + "---:|---:|---:|" * len(sizes) + "---:|---:|"]
    for label in sizes[0]["scenarios"]:
        cells = " | ".join(f"{then(s, label)} | {s['scenarios'][label]['p50_ms']:,.0f} | "
                           f"{s['scenarios'][label]['p95_ms']:,.0f}" for s in sizes)
        growth = sizes[-1]["scenarios"][label]["p50_ms"] / sizes[0]["scenarios"][label]["p50_ms"]
        lines.append(f"| {label} | {cells} | {growth:.1f}x | "
                     f"{sizes[-1]['scenarios'][label]['statements']:.0f} |")
    lines += ["", "Every part of the *30d* load (one `StatsService.run` each, probes "
              "included), ms:", "", f"| part | {head} |",
              "|---|" + "---:|---:|---:|" * len(sizes)]
    for part in sizes[-1]["scenarios"]["30d"]["parts"]:
        timings = [s["scenarios"]["30d"]["parts"].get(part, {}) for s in sizes]
        cells = " | ".join(f"{then(s, '30d', part)} | {t.get('p50_ms', 0):,.0f} | "
                           f"{t.get('p95_ms', 0):,.0f}" for s, t in zip(sizes, timings,
                                                                      strict=True))
        lines.append(f"| {part} | {cells} |")
    if (path := plot(result)) is not None:
        lines += ["", f"![dashboard latency against data size]({path.name})"]
    return lines


def plot(result: dict[str, Any]) -> Path | None:
    """docs/dashboard-latency.png: p50/p95 per load against events (log-log), if matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = result["sizes"]
    events = [s["counts"]["events"] for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label in sizes[0]["scenarios"]:
        ax.plot(events, [s["scenarios"][label]["p50_ms"] for s in sizes], marker="o",
                label=f"{label}, p50")
        ax.plot(events, [s["scenarios"][label]["p95_ms"] for s in sizes], marker="x",
                linestyle="--", label=f"{label}, p95")
    before = _baseline()
    for label in sizes[0]["scenarios"]:
        old = [(n, s["scenarios"][label]["p50_ms"]) for n, s in sorted(before.items())]
        if old:
            ax.plot(*zip(*old, strict=True), marker="s", color="grey", alpha=0.5,
                    linestyle=":", label=f"{label}, p50 before")
    ax.axhline(500, color="red", linewidth=0.8, label="target: 500 ms p95 at 10M")
    ax.set(xscale="log", yscale="log", xlabel="events seeded (30 days)",
           ylabel="full dashboard load, ms", title="Dashboard latency against data size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)
    return PLOT
