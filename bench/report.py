"""Machine facts, the stored results (bench/results.json) and docs/benchmarks.md built from them.

Results are stored per benchmark, so `--only NAME` refreshes one section and keeps the
others; the conclusions are computed from whatever results are stored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.timing import median
from crumbless.testing.kafka import KAFKA_VERSION

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
Result = dict[str, Any]

INTRO = """\
# Benchmarks

Numbers from `bench/`, written here by `make bench` (`python -m bench --quick`, about 10
minutes on this machine) and `make bench-full` (`python -m bench`, longer: the dashboard
alone seeds and measures 1M and 10M events, ~10 minutes; `CRUMBLESS_BENCH_DATA_DIR=dir`
keeps the seeded databases for the next run). `--only NAME` runs one benchmark and keeps
the other sections as they were; `--render` rewrites this file from bench/results.json.
Each section says when its numbers were measured, quick or full. Every number is a
median over repeats. The machine is small and shared (see below), so absolute numbers move by
±20 % between runs; ratios of variants measured in the same run are the stable part,
and they are what the conclusions rest on. Tests never assert on timings.
"""


def machine_facts() -> dict[str, str]:
    """What the numbers depend on: CPUs, Python, library and broker versions, the temp disk."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "chdb": _version("chdb"),
        "clickhouse-connect": _version("clickhouse-connect"),
        "kafka-python": _version("kafka-python"),
        "Kafka broker": f"{KAFKA_VERSION} (KRaft, single node, crumbless.testing.kafka)",
        "java": _java_version(),
        "flask": _version("flask"),
        "temp dir filesystem": _filesystem_of(Path(tempfile.gettempdir())),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _java_version() -> str:
    java = shutil.which("java")
    if java is None:
        return "not found"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (done.stderr.strip().splitlines() or ["unknown"])[0]


def _filesystem_of(path: Path) -> str:
    """Type and device of the mount holding `path` (fsync costs depend on it)."""
    best = ("", "unknown", "unknown")
    for line in _read("/proc/mounts").splitlines():
        device, mount, kind = line.split()[:3]
        if str(path.resolve()).startswith(mount) and len(mount) >= len(best[0]):
            best = (mount, kind, device)
    return f"{best[1]} on {best[2]}"


def load() -> dict[str, Any]:
    """The stored results, or an empty store."""
    if RESULTS.exists():
        stored: dict[str, Any] = json.loads(RESULTS.read_text())
        return stored
    return {"facts": {}, "benchmarks": {}}


def save(store: dict[str, Any]) -> None:
    """Write the results store, stable and diff-friendly."""
    RESULTS.write_text(json.dumps(store, indent=1) + "\n")


def document(store: dict[str, Any], sections: list[tuple[str, str, str]],
             render: dict[str, Callable[[Result], list[str]]]) -> str:
    """docs/benchmarks.md: intro, machine, conclusions, then one section per benchmark.

    sections: (name, title, description) in the order they appear.
    """
    facts = store["facts"]
    lines = [INTRO, "## Machine", "", "| fact | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in facts.items()]
    lines += ["", "## Conclusions", "", *conclusions(store["benchmarks"]), ""]
    for n, (name, title, description) in enumerate(sections, 1):
        lines += [f"## {n}. `{name}`: {title}", "", description.strip(), ""]
        entry = store["benchmarks"].get(name)
        if entry is None:
            lines += ["_Not run yet: `python -m bench --only " + name + "`._", ""]
            continue
        mode = "quick run" if entry["quick"] else "full run"
        lines += [*render[name](entry["result"]), "", f"_Measured {entry['date']}, {mode}._", ""]
    return "\n".join(lines).rstrip() + "\n"


def conclusions(done: dict[str, Any]) -> list[str]:
    """Bullet points computed from the stored numbers (only those whose inputs exist)."""
    get = {name: entry["result"] for name, entry in done.items()}
    out: list[str] = []
    privacy, http = get.get("privacy-transform"), get.get("collector-http")
    kafka, stats = get.get("kafka-envelope"), get.get("stats-query")
    if privacy and http:
        warm = privacy["us_per_event"]["warm"]
        fsync, flush = http["modes"]["fsync"], http["modes"]["flush"]
        out.append(f"- **The privacy transform is not the bottleneck.** Parsing and "
                   f"anonymising a beacon takes {warm:.0f} µs warm "
                   f"({1e6 / warm:,.0f} events/s per core); a whole request through the "
                   f"embedded app (processor idle) takes {fsync['us_per_request']:,.0f} µs "
                   "with fsync and "
                   f"{flush['us_per_request']:,.0f} µs with flush, so the core is "
                   f"{warm / flush['us_per_request']:.0%} of a request even without fsync. "
                   f"A new user agent costs ~{privacy['us_per_new_agent']:,.0f} µs once.")
        extra = fsync["us_per_request"] - flush["us_per_request"]
        out.append(f"- **fsync costs ~{extra:,.0f} µs per request from one thread**: flush "
                   f"answers {flush['alone_per_s'] / fsync['alone_per_s']:.1f}x the "
                   "requests/s. Group commit shares one fsync between concurrent requests "
                   "only, so a single client pays it in full; the server's threads narrow the "
                   "gap under load.")
        slowest = min(fsync["processor_per_s"], flush["processor_per_s"])
        fastest = max(fsync["alone_per_s"], flush["alone_per_s"])
        keeps_up = "keeps up with" if slowest > 1.5 * fastest else "is close to"
        out.append(f"- **The embedded processor {keeps_up} the collector**: it writes a "
                   f"backlog to ClickHouse at {slowest:,.0f}+ events/s against at most "
                   f"{fastest:,.0f} requests/s in. End to end, with both running, events land "
                   f"at {fsync['into_clickhouse_per_s']:,.0f} / "
                   f"{flush['into_clickhouse_per_s']:,.0f} events/s (fsync / flush); the "
                   "drain tail after the last request is mostly the batch_interval wait.")
    if kafka:
        out += _kafka_conclusions(kafka["variants"], http)
    if stats:
        out.append(_stats_conclusion(stats))
    if get.get("processor", {}).get("profile"):
        out.append(_processor_conclusion(get["processor"]))
    out += _pipeline_conclusions(get)
    if (dash := get.get("dashboard")) and len(dash["sizes"]) > 1:
        out.append(_dashboard_conclusion(dash))
    return out or ["_No results stored yet._"]


def _processor_conclusion(processor: Result) -> str:
    """How close the processor is to a bare insert, and what its time goes to."""
    large = max(processor["sizes"], key=lambda size: size["batch_size"])
    shares = {s["stage"]: s["share"] for s in processor["profile"]}
    insert = sum(v for k, v in shares.items() if k.startswith("insert"))
    python = sum(v for k, v in shares.items() if not k.startswith("insert"))
    top = max((k for k in shares if not k.startswith("insert")), key=shares.__getitem__)
    return (f"- **The processor writes a backlog at {large['ratio']:.2f}x a bare insert of "
            f"the same rows** (batches of {large['batch_size']:,}: "
            f"{large['crumbless_eps']:,.0f} against {large['floor_eps']:,.0f} events/s; "
            f"core {large['core_us']:.0f} µs an event, its idempotent insert "
            f"{large['sink_us']:.0f} µs, the bare insert {large['floor_us']:.0f} µs). The "
            f"insert is {insert:.0%} of a pass (ClickHouse and its views, then "
            f"clickhouse-connect's serialisation), the Python core {python:.0%}, most of it "
            f"{top} (cProfile, which inflates Python calls): the bound is the insert itself.")


def _kafka_conclusions(variants: dict[str, Any], http: Result | None) -> list[str]:
    """Does one record per event cap the collector, and what would envelopes buy."""
    one, ten = variants["one record per event"], variants["envelopes of 10"]
    fifty = variants["envelopes of 50"]
    spool_fsync = variants["KafkaTransport, spool fsync"]
    out = []
    headroom = None
    if http:
        flush = http["modes"]["flush"]
        headroom = one["events_per_s"] / flush["alone_per_s"]
        capped = "does not cap" if headroom > 1.5 else "caps"
        out.append(f"- **One Kafka record per event {capped} the collector.** The producer "
                   f"alone sends {one['events_per_s']:,.0f} events/s, {headroom:.1f}x the "
                   f"{flush['alone_per_s']:,.0f} requests/s one collector process answers at "
                   "best (embedded app, flush, processor idle). It does cost "
                   f"{one['cpu_us_per_event']:.0f} µs of the process's CPU per event, which "
                   "the GIL takes off the request budget: by estimate a flush collector "
                   f"would serve ~{_served(flush, one):,.0f} requests/s instead "
                   f"of {flush['alone_per_s']:,.0f}, or "
                   f"~{_served(flush, fifty):,.0f} with envelopes of 50.")
    spool_flush = variants["KafkaTransport, spool flush"]
    out.append(f"- **On the Kafka path the spool's fsync sets the pace, not the record "
               f"count.** Through KafkaTransport one thread publishes "
               f"{spool_fsync['events_per_s']:,.0f} events/s with an fsync'd spool "
               f"({spool_fsync['events_per_s'] / one['events_per_s']:.2f}x the bare producer, "
               f"{spool_fsync['cpu_us_per_event']:.0f} µs CPU per event) and "
               f"{spool_flush['events_per_s']:,.0f} with a flushed one "
               f"({spool_flush['events_per_s'] / one['events_per_s']:.2f}x).")
    if spool_fsync["bytes_per_event"] > 1.5 * one["bytes_per_event"]:
        out.append(f"  It also stores {spool_fsync['bytes_per_event']:.0f} bytes/event on the "
                   f"broker, {spool_fsync['bytes_per_event'] / one['bytes_per_event']:.1f}x "
                   "the bare producer: when publishes arrive one fsync at a time, each "
                   "forwarder round (send, flush, wait for the acks, fsync its position) "
                   "carries few records, so each Kafka batch holds one or two and zstd has "
                   "little to work with. Any sender at a trickle writes such batches.")
    verdict = ("Envelopes buy efficiency, not capacity we need yet" if headroom is not None
               and headroom > 1.5 else "Envelopes would lift the cap")
    out.append(f"- **{verdict}.** Envelopes of 10 / "
               f"50 events give {ten['events_per_s'] / one['events_per_s']:.1f}x / "
               f"{fifty['events_per_s'] / one['events_per_s']:.1f}x the events/s, "
               f"{ten['cpu_us_per_event'] / one['cpu_us_per_event']:.2f}x / "
               f"{fifty['cpu_us_per_event'] / one['cpu_us_per_event']:.2f}x the CPU per event "
               f"and {ten['bytes_per_event'] / one['bytes_per_event']:.2f}x / "
               f"{fifty['bytes_per_event'] / one['bytes_per_event']:.2f}x the bytes on disk. "
               "The schema already allows several events per envelope; if it is ever done, "
               "the place is the forwarder (group spool records per partition when sending), "
               "so the spool keeps one record per accepted request and a 202 keeps its "
               "meaning.")
    return out


def _served(collector: Result, kafka: Result) -> float:
    """Requests/s of a collector that also spends the variant's Kafka CPU on every event."""
    return 1e6 / (float(collector["us_per_request"]) + float(kafka["cpu_us_per_event"]))


def _stats_conclusion(stats: Result) -> str:
    """How much the rollups save, and how each path grows from the smaller size."""
    small, large = stats["sizes"][0], stats["sizes"][-1]
    labels = list(large["queries"])
    ratios = [large["queries"][q]["raw_ms"] / large["queries"][q]["rollup_ms"] for q in labels]
    rollup = [large["queries"][q]["rollup_ms"] for q in labels]

    def growth(path: str) -> float:
        return median([large["queries"][q][f"{path}_ms"] / small["queries"][q][f"{path}_ms"]
                       for q in labels])

    same = all(q["same_answer"] for size in stats["sizes"] for q in size["queries"].values())
    rows = large["counts"]["rollup_daily"] / small["counts"]["rollup_daily"]
    text = (f"- **Rollups answer {min(ratios):.1f}-{max(ratios):.1f}x faster than the raw "
            f"tables at {large['events']:,} events** ({min(rollup):.0f}-{max(rollup):.0f} ms), "
            f"with {'identical' if same else 'DIFFERENT'} answers; the gain is largest for the "
            "queries whose raw form reads the sessions table (visit metrics, country "
            f"breakdown). From {small['events']:,} to {large['events']:,} events rollup times "
            f"grow {growth('rollup'):.1f}x and raw times {growth('raw'):.1f}x")
    if growth("rollup") > 1.3 and rows < 1.1:
        text += (", although the rollup holds as many rows: merging the `uniq` visitor "
                 "states dominates, and they grow with the distinct visitors per day and "
                 "value (until uniq's 65,536-entry cap), not with the row count")
    return text + "."


def _pipeline_conclusions(get: dict[str, Result]) -> list[str]:
    """Freshness against its target, the Kafka processor against its floors, scaling, RSS."""
    out = []
    fresh, kafka, scaling = (get.get("freshness"), get.get("kafka-processor"),
                             get.get("processor-scaling"))
    if fresh:
        def worst(mode: str) -> tuple[str, dict[str, Any]]:
            rates: dict[str, dict[str, Any]] = fresh[mode]["rates"]
            return max(rates.items(), key=lambda item: float(item[1].get("p95_ms", "inf")))

        (e_rate, e), (k_rate, k) = worst("embedded"), worst("kafka")
        verdict = "meets" if k.get("p95_ms", float("inf")) < 2000 else "misses"
        out.append(f"- **Freshness: Kafka mode {verdict} the p95 < 2 s target.** At its worst "
                   f"rate measured a beacon is counted {k.get('p50_ms', 0):,.0f} ms (p50) / "
                   f"{k.get('p95_ms', 0):,.0f} ms (p95) after its 202 in Kafka mode "
                   f"({k_rate}/s), and {e.get('p50_ms', 0):,.0f} / "
                   f"{e.get('p95_ms', 0):,.0f} ms embedded ({e_rate}/s). At these rates no "
                   "batch fills its 2,000 events, so a batch is written when its oldest "
                   "event has waited the `batch_interval` (0.5 s by default since this "
                   "measurement: 1 s gave a Kafka p95 of ~2.0 s on a quiet machine, 0.5 s "
                   "1.1-1.6 s): events wait up to that long before the write itself.")
        behind = [f"{mode} {rate}/s (achieved {v['achieved_per_s']:.0f}/s, 202 p95 "
                  f"{v['accept_p95_ms']:,.0f} ms)" for mode in ("embedded", "kafka")
                  for rate, v in fresh[mode]["rates"].items()
                  if v["achieved_per_s"] < 0.9 * int(rate)]
        if behind:
            out.append("  The senders could not hold every rate: " + "; ".join(behind)
                       + ". There the collector answered late and beacons queued at the "
                       "sender; other work on this shared machine may be part of it, so those "
                       "rows are the noisiest.")
    if kafka:
        slower = min(kafka["consume_eps"], kafka["insert_eps"])
        ratio = kafka["processor_eps"] / slower
        out.append(f"- **The Kafka processor drains {kafka['processor_eps']:,.0f} events/s, "
                   f"{ratio:.2f}x its slower floor** (bare insert of the same rows "
                   f"{kafka['insert_eps']:,.0f}/s, bare consume + decode "
                   f"{kafka['consume_eps']:,.0f}/s; target >= 0.50), using "
                   f"{kafka['processor_cpu_us_per_event']:,.0f} µs of CPU per event."
                   + (" Reading Kafka is not what bounds it: the insert with its views is."
                      if kafka["insert_eps"] < kafka["consume_eps"] else ""))
    if scaling:
        procs = scaling["processes"]
        speedup = procs["2"]["events_per_s"] / procs["1"]["events_per_s"]
        one, two = procs["1"], procs["2"]
        out.append(f"- **A second processor process gives {speedup:.2f}x the events/s** "
                   f"({one['events_per_s']:,.0f} -> {two['events_per_s']:,.0f}), at "
                   f"{one['cpu_us_per_event']:,.0f} / {two['cpu_us_per_event']:,.0f} µs of CPU "
                   "per event (one / two processes). On a shared 2-core machine two "
                   "processes also claim a larger share of the cores than one, so the speed-up "
                   "is not a capacity estimate; the CPU per event is. And each process wrote "
                   "its own chdb: chdb processes cannot share one database, so more than one "
                   "processor needs a ClickHouse server.")
    memory: dict[str, float] = {}
    if fresh:
        for mode in ("embedded", "kafka"):
            memory |= {name: m.get("hwm_kib", 0) for name, m in fresh[mode]["memory"].items()}
    if memory:
        listed = ", ".join(f"`{name}` {kib / 1024:,.0f} MiB" for name, kib in memory.items())
        out.append(f"- **Peak RSS under these loads**: {listed}. Most of it is the chdb "
                   "engine each process opens, the collector's too (it keeps sites and salts "
                   "there): Python with crumbless imported holds ~80 MiB, and opening chdb "
                   "and migrating the schema takes it to ~450 MiB before any event "
                   "(measured by hand on this machine).")
    return out


RAW_PARTS = ("event:goal", "event:goal, revenue", "event:name (goal filter)")


def _dashboard_conclusion(dash: dict[str, Any]) -> str:
    """The full dashboard against its targets (500 ms p95 at the largest size, growth <= 2x
    for 10x data) and what its time is made of."""
    small, large = dash["sizes"][0], dash["sizes"][-1]
    load, small_load = large["scenarios"]["30d"], small["scenarios"]["30d"]
    factor = large["counts"]["events"] / small["counts"]["events"]
    growth = load["p50_ms"] / small_load["p50_ms"]
    parts = load["parts"]
    raw = sum(parts[p]["p50_ms"] for p in RAW_PARTS if p in parts)
    panels = [t["p50_ms"] for p, t in parts.items() if p not in RAW_PARTS]
    met = "met" if load["p95_ms"] < 500 else "not met"
    return (f"- **A full dashboard at {large['counts']['events'] / 1e6:.0f}M events: "
            f"{load['p50_ms']:,.0f} ms p50, {load['p95_ms']:,.0f} ms p95** (target 500 ms "
            f"p95: {met}); growth from {small['counts']['events'] / 1e6:.0f}M is "
            f"{growth:.1f}x for {factor:.0f}x the data (target <= 2x: "
            f"{'met' if growth <= 2 else 'not met'}). Of the p50, the three goal panels, "
            f"which read raw events, take {raw:,.0f} ms; the other {len(panels)} parts "
            f"(rollups) {sum(panels):,.0f} ms, {min(panels):,.0f}-{max(panels):,.0f} ms each, "
            f"over {load['statements']:.0f} statements.")
