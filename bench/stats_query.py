"""stats-query: Stats API latency at 50k and 200k events, daily rollups against raw tables.

The data goes through the real processor core (envelopes → build_batch → ClickHouseSink),
so sessions carry the -1/+1 rows of visits updated across batches and the materialized
views fill the rollups as in production. Runs in its own process: chdb opens one path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.timing import median
from bench.worker import spawn
from bench.workload import PATHS, REFERRERS
from contract.event import AnonymousEvent, encode_envelope
from contract.settings import Settings
from contract.transport import Record
from dashboards.query import parse_query
from dashboards.stats import StatsService
from processors.batch import build_batch
from processors.rows import batch_rows
from processors.sessionise import Sessioniser
from sinks.clickhouse import ClickHouseSink
from sinks.client import connect, run
from sinks.migrations import migrate

NAME = "stats-query"
TITLE = "Stats API latency, rollups against raw tables"
DESCRIPTION = """
`StatsService.run(parse_query(...))` for four typical dashboard queries on a chdb
database holding synthetic traffic for one site over the last 29 days (visits of 1-8
page views, daily visitor hashes). The events go through the processor core (single-event
envelopes → `build_batch` → `ClickHouseSink`, 2000 per batch), so the sessions table
holds the -1/+1 rows of visits continued across batches and the materialized views fill
the rollups as in production. The tables are then merged (`OPTIMIZE ... FINAL`, which
also collapses the sessions' -1/+1 pairs), as background merges leave a month-old live
table, so the timing does not depend on when a merge happens to run. Two sizes, each in
its own database, show how each path grows with traffic. *rollup*: what the planner
picks (the daily rollup for all four); *raw*: the same query with `force_raw=True`
(events and sessions tables). Times are the wall time of `run`, chdb round trip
included; *same answer*: both paths returned identical results at every size.
"""
SITE = "example.com"
TABLES = ("events", "sessions", "rollup_daily", "rollup_hourly")
QUERIES: dict[str, dict[str, Any]] = {
    "totals, 30d": {"metrics": ["visitors", "visits", "pageviews", "bounce_rate",
                                "visit_duration"], "date_range": "30d"},
    "top pages, 30d": {"metrics": ["visitors", "pageviews"], "date_range": "30d",
                       "dimensions": ["event:page"], "order_by": [["visitors", "desc"]],
                       "pagination": {"limit": 10}},
    "countries, filtered, 30d": {"metrics": ["visitors", "visits", "pageviews"],
                                 "date_range": "30d", "dimensions": ["visit:country"],
                                 "filters": [["is_not", "visit:country", ["US", "JP"]]]},
    "time:day series, 30d": {"metrics": ["visitors", "pageviews"], "date_range": "30d",
                             "dimensions": ["time:day"]},
}
CLIENTS = [("Chrome", "126.0", "Windows", "10", "Desktop"), ("Safari", "17.5", "iOS", "17.5",
           "Mobile"), ("Firefox", "128.0", "Linux", "", "Desktop"), ("Chrome", "125.0",
           "Android", "14", "Mobile"), ("Edge", "126.0", "Windows", "11", "Desktop"),
           ("Safari", "17.4", "Mac", "10.15", "Desktop")]
PLACES = [("DE", "DE-BE", "Berlin"), ("FR", "FR-IDF", "Paris"), ("GB", "GB-ENG", "London"),
          ("US", "US-CA", "San Jose"), ("NL", "NL-NH", "Amsterdam"), ("JP", "JP-13", "Tokyo"),
          ("ES", "ES-MD", "Madrid"), ("PL", "PL-14", "Warsaw"), ("", "", "")]


def synthetic_events(count: int, end: dt.datetime, *, days: int = 29, seed: int = 11
                     ) -> list[AnonymousEvent]:
    """About `count` events in visits of 1-8 page views over `days` days before `end`.

    The window must end near the wall clock: the tables' TTLs count from real time, so
    older rows would be dropped by the next merge.
    """
    rng = random.Random(seed)  # noqa: S311 -- a seeded workload, not a secret
    start = end.timestamp() * 1000 - days * 86_400_000
    people = [(rng.getrandbits(32), rng.choice(CLIENTS), rng.choice(PLACES))
              for _ in range(max(count // 12, 1))]
    events: list[AnonymousEvent] = []
    while len(events) < count:
        person, client, place = rng.choice(people)
        ts = int(start + rng.random() * (days * 86_400_000 - 3_600_000))
        # The visitor hash changes daily with the salt, as in production.
        vid = hash((person, ts // 86_400_000)) & 0x7FFF_FFFF_FFFF_FFFF or 1
        utm = ("newsletter", "email") if rng.random() < 0.1 else ("", "")
        referrer = rng.choice(REFERRERS)
        for n in range(min(int(rng.expovariate(0.45)) + 1, 8)):
            name = "pageview" if n == 0 or rng.random() < 0.9 else "Signup"
            events.append(AnonymousEvent(
                site=SITE, ts_ms=ts, name=name, hostname=SITE, pathname=rng.choice(PATHS),
                referrer=referrer if n == 0 else "", utm_source=utm[0], utm_medium=utm[1],
                visitor_id=vid, browser=client[0], browser_version=client[1], os=client[2],
                os_version=client[3], device=client[4], country=place[0], region=place[1],
                city=place[2]))
            ts += rng.randrange(5_000, 240_000)
    events.sort(key=lambda e: e.ts_ms)
    return events


def fill(client: Any, events: list[AnonymousEvent], batch_size: int = 2000
         ) -> tuple[float, float]:
    """Write events as the embedded processor does (one-event envelopes, 2000 per batch).

    Returns the seconds spent in the processor core (decode, enrich, sessionise) and in
    ClickHouse inserts (rollup views included).
    """
    sink = ClickHouseSink(client)
    sessioniser = Sessioniser(30 * 60_000)
    records = [Record(0, n, encode_envelope([e])) for n, e in enumerate(events)]
    core_s = insert_s = 0.0
    for first in range(0, len(records), batch_size):
        began = time.perf_counter()
        batch = batch_rows(build_batch(records[first:first + batch_size], sessioniser))
        built = time.perf_counter()
        sink.write(batch)
        core_s, insert_s = core_s + built - began, insert_s + time.perf_counter() - built
    return core_s, insert_s


def measure(sizes: list[int], repeats: int) -> dict[str, Any]:
    """Fill one database per size, then time every query on rollups and raw tables."""
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        client = connect(f"chdb://{Path(tmp) / 'clickhouse'}", "default")
        now = dt.datetime.now(dt.UTC)
        filled = [_fill_database(client, Path(tmp), now, size) for size in sizes]
        service = StatsService(client, k=5, clock=lambda: now)
        queries = {label: parse_query({"site_id": SITE, **body}, today=now.date())
                   for label, body in QUERIES.items()}
        times: dict[tuple[str, str, str], list[float]] = {}
        answers: dict[tuple[str, str, str], Any] = {}
        for repeat in range(repeats + 1):  # the first round only warms up and keeps answers
            # Interleaved (sizes, queries, paths), so slow phases of the machine hit all.
            for size in filled:
                client.database = size["database"]
                for label, query in queries.items():
                    for path in ("rollup", "raw"):
                        began = time.perf_counter()
                        answer = service.run(query, force_raw=path == "raw")
                        elapsed = time.perf_counter() - began
                        key = (size["database"], label, path)
                        if repeat == 0:
                            answers[key] = answer
                        else:
                            times.setdefault(key, []).append(elapsed)
        for size in filled:
            db = size["database"]
            size["queries"] = {label: {
                "source": answers[(db, label, "rollup")]["meta"]["source"],
                "rollup_ms": median(times[(db, label, "rollup")]) * 1000,
                "raw_ms": median(times[(db, label, "raw")]) * 1000,
                "same_answer": (answers[(db, label, "rollup")]["results"]
                                == answers[(db, label, "raw")]["results"]),
            } for label in queries}
        floors = {"select1": ("SELECT 1", {}),
                  "read": ("SELECT count() FROM rollup_daily WHERE site = {site:String} "
                           "AND dim = ''", {"site": SITE})}
        floor_ms = {name: median([_timed(client, sql, params) for _ in range(repeats)]) * 1000
                    for name, (sql, params) in floors.items()}
        engine = run(client, "SELECT version()")[0][0]
        client.close()
    return {"sizes": filled, "repeats": repeats, "clickhouse": engine, "floor_ms": floor_ms}


def _fill_database(client: Any, data_dir: Path, now: dt.datetime, events: int
                   ) -> dict[str, Any]:
    """Create database `bench_<events>`, fill it and merge it; say what it holds."""
    database = f"bench_{events}"
    run(client, f"CREATE DATABASE {database}")
    client.database = database
    migrate(client, Settings(data_dir=data_dir, database=database))
    data = synthetic_events(events, now)
    core_s, insert_s = fill(client, data)
    # A bulk fill leaves ~100 fresh parts per table that background merges would fold at
    # unpredictable moments during the timing; a month-old live table is merged.
    for table in TABLES:
        run(client, f"OPTIMIZE TABLE {table} FINAL")
    counts = {table: run(client, f"SELECT count() FROM {table}")[0][0] for table in TABLES}
    return {"database": database, "events": len(data), "core_s": core_s,
            "insert_s": insert_s, "counts": counts}


def _timed(client: Any, sql: str, parameters: dict[str, Any]) -> float:
    """Seconds one statement takes through sinks.client.run."""
    began = time.perf_counter()
    run(client, sql, parameters)
    return time.perf_counter() - began


def worker(argv: list[str]) -> dict[str, Any]:
    """`python -m bench.worker stats-query --events N [--events M ...] --repeats R`."""
    parser = argparse.ArgumentParser(prog="bench.worker stats-query")
    parser.add_argument("--events", type=int, action="append", required=True)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    return measure(args.events, args.repeats)


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Run the measurement in a fresh process and return its JSON result."""
    sizes, repeats = ((20_000, 50_000), 5) if quick else ((50_000, 200_000), 15)
    sizes_args = [arg for size in sizes for arg in ("--events", str(size))]
    return spawn(NAME, *sizes_args, "--repeats", str(repeats), timeout=300)


def render(result: dict[str, Any]) -> list[str]:
    """The Markdown table of one result: each size's rollup and raw times, ratio at the last."""
    sizes = result["sizes"]
    largest = sizes[-1]
    floors = result["floor_ms"]
    events = ", ".join(f"{size['events']:,}" for size in sizes)
    rollup_rows = ", ".join(f"{size['counts']['rollup_daily']:,}" for size in sizes)
    lines = [f"{events} events ({rollup_rows} rollup_daily rows); ClickHouse "
             f"{result['clickhouse']} (chdb). Median of {result['repeats']} runs each, sizes, "
             "queries and paths interleaved. Floors: `SELECT 1` takes "
             f"{floors['select1']:.1f} ms, the smallest filtered read of rollup_daily (a "
             f"`count()`) {floors['read']:.1f} ms.", "",
             "| query | planner picks | " + " | ".join(
                 f"{s['events'] // 1000}k: rollup ms | raw ms" for s in sizes)
             + f" | raw / rollup at {largest['events'] // 1000}k | same answer |",
             "|---|---|" + "---:|---:|" * len(sizes) + "---:|---|"]
    for label, q in largest["queries"].items():
        cells = " | ".join(f"{s['queries'][label]['rollup_ms']:.1f} | "
                           f"{s['queries'][label]['raw_ms']:.1f}" for s in sizes)
        same = all(s["queries"][label]["same_answer"] for s in sizes)
        lines.append(f"| {label} | {q['source']} | {cells} | "
                     f"{q['raw_ms'] / q['rollup_ms']:.1f}x | {'yes' if same else 'no'} |")
    lines += ["", f"Filling the {largest['events']:,}-event database, the processor core "
                  f"(decode, enrich, sessionise) ran at "
                  f"{largest['events'] / largest['core_s']:,.0f} events/s and the inserts "
                  f"(rollup views included) at {largest['events'] / largest['insert_s']:,.0f}"
                  " events/s, one thread."]
    return lines
