"""processor-scaling: one against two `crumbless processor` processes on the same backlog.

The same pre-filled 6-partition topic as `kafka-processor`, drained by one process and
by two processes in one consumer group (a fresh group each time, so each run drains it
all), alternated and repeated; events/s between 10 % and 90 % of the backlog from the
group's committed offsets, and the speed-up. A process takes several seconds to start
on this loaded machine and a member joining late makes the group stop and reassign, so
the broker waits 8 s (`group.initial.rebalance.delay.ms`, restarted by each join) before
it first assigns a new group's partitions. A run counts only if nothing was committed
before the group was Stable with every process in it (a commit right after a rebalance
can carry work done before it); the table says how many runs were clean. (Starting the
processes on an empty topic and writing the backlog once they are in was tried:
kafka-python's producer writes only ~3-5k events/s here, no faster than the processors
drain, so it bounded the result.)

**What this is not.** In Kafka mode a processor writes to the ClickHouse its DSN names
(`--clickhouse-dsn`); a deployment points every processor (and the dashboards) at one
ClickHouse server. This machine has no usable ClickHouse server (Debian's package is
18.16, from 2018: no table TTL, which came in 19.6 and the schema uses), only chdb, and
chdb lets one process hold a data directory ("Cannot lock file <data dir>/status.
Another server instance in same directory is already running"). So each processor here
has **its own chdb data directory**: the two processes split the partitions (a visitor's
events stay on one partition, so every visit is whole in one of them), but their rows
end in two databases that no dashboard reads together. The speed-up is an upper bound
for one shared ClickHouse server on this machine: here each process also runs its own
ClickHouse engine, so the storage work scales with the processes instead of queueing in
one server.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from bench import kafka_drain
from bench.stats_query import synthetic_events
from bench.timing import median
from crumbless.testing.kafka import KAFKA_VERSION, KafkaBroker

NAME = "processor-scaling"
TITLE = "1 against 2 Kafka processor processes on one backlog (separate chdb each)"
DESCRIPTION = __doc__.split("\n", 2)[2].strip() if __doc__ else ""
COUNTS = (1, 2)
JOIN_WAIT_MS = 8000  # a new group's first assignment waits this long for more members


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Fill one topic, then drain it with 1 and 2 processes, alternated."""
    count, repeats = (20_000, 2) if quick else (150_000, 3)
    events = synthetic_events(count, dt.datetime.now(dt.UTC))
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in COUNTS}
    every: dict[int, int] = dict.fromkeys(COUNTS, 0)
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        folder = Path(tmp)
        with KafkaBroker(folder / "kafka", extra_config={
                "group.initial.rebalance.delay.ms": str(JOIN_WAIT_MS)}) as broker:
            topic = "bench.backlog"
            broker.create_topic(topic, kafka_drain.PARTITIONS)
            broker.create_topic(f"{topic}.dlq", 1)
            kafka_drain.fill_topic(broker.bootstrap, topic, events)
            for _ in range(repeats):
                for n in COUNTS:
                    run = kafka_drain.drain(folder, broker.bootstrap, topic, len(events),
                                            processes=n)
                    every[n] += 1
                    if run["clean"]:
                        runs[n].append(run)
    if not all(runs.values()):
        raise RuntimeError(f"no clean run for some process count: {every} runs, clean: "
                           f"{ {n: len(r) for n, r in runs.items()} }")
    return {"events": len(events), "repeats": repeats, "kafka": KAFKA_VERSION,
            "partitions": kafka_drain.PARTITIONS, "processes": {str(n): {
                "clean_runs": len(results), "runs": every[n],
                "events_per_s": median([r["events_per_s"] for r in results]),
                "drain_s": median([r["total_s"] - r["stable_s"] for r in results]),
                "stable_s": median([r["stable_s"] for r in results]),
                "cpu_us_per_event": median([r["cpu_us_per_event"] for r in results]),
                "alive": min(r["alive"] for r in results),
                "memory": {name: {key: max(r["memory"][name].get(key, 0) for r in results)
                                  for key in ("hwm_kib", "rss_kib")}
                           | {"cpu_s": median([r["memory"][name].get("cpu_s", 0)
                                               for r in results])}
                           for name in results[0]["memory"]},
            } for n, results in runs.items()}}


def render(result: dict[str, Any]) -> list[str]:
    """Events/s per process count, the speed-up, and each process's peak RSS."""
    procs = result["processes"]
    one = procs["1"]["events_per_s"]
    lines = [f"{result['events']:,} events in a {result['partitions']}-partition topic "
             f"(Kafka {result['kafka']}), median of {result['repeats']} alternated rounds; "
             "each processor with its own chdb data directory (see above).", "",
             "| processes | clean runs | events/s (10-90 %) | speed-up | CPU µs/event, all "
             "processes | group stable after s | drained s after that | CPU s per process | "
             "peak RSS per process, MiB |", "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for n, p in procs.items():
        rss = ", ".join(f"{m['hwm_kib'] / 1024:,.0f}" for m in p["memory"].values())
        cpu = ", ".join(f"{m['cpu_s']:.1f}" for m in p["memory"].values())
        lines.append(f"| {n} | {p['clean_runs']} of {p['runs']} | {p['events_per_s']:,.0f} | "
                     f"{p['events_per_s'] / one:.2f} | "
                     f"{p['cpu_us_per_event']:,.0f} | {p['stable_s']:.1f} | "
                     f"{p['drain_s']:.1f} | {cpu} | {rss} |")
    return [*lines, "", "Medians over the clean runs only. *group stable "
                    "after*: from starting the processes (interpreter, chdb, migrations, "
                    "join, the broker's wait for members); *CPU s per process* includes that "
                    "start, *CPU µs/event* does not (it counts from the Stable group to the "
                    "end). The machine is shared: a process gets a share of the 2 cores "
                    "against everything else running, so two processes also get a larger "
                    "share than one; CPU µs/event is what that does not distort."]
