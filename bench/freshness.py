"""freshness: from a beacon's 202 until it is counted, embedded and Kafka mode, by rate.

Four sender threads POST Plausible pageview beacons over HTTP (keep-alive) at a steady
rate, each to a path of its own (`/f<rate>/<i>`), from 250 visitor addresses (forwarded
by a trusted loopback proxy, so the per-client rate limit sees real-looking visitors).
Each beacon's latency runs from its 202 until a poller, every 50 ms, first sees it
counted:

- *embedded*: a real `crumbless serve` (default settings but `k_anonymity=1`, so a page
  seen once is not withheld); the poller asks its Stats API (`POST /api/v2/query`,
  pageviews by `event:page`, today) over HTTP, so its queries load the server as a
  dashboard would.
- *Kafka*: a real `crumbless collector` and a real `crumbless processor` (default
  settings) against the harness broker. chdb lets one process hold a data directory, so
  the two cannot share a database, and no Stats API process can read the processor's:
  the poller reads the processor group's committed Kafka offsets instead. The processor
  commits a partition's offset after the batch is inserted into ClickHouse and its
  checkpoint committed, so a committed offset is counted data (a Stats API query against
  a shared ClickHouse server would see it a few ms earlier, at the insert). Each beacon's
  partition and offset are read back from the topic after the run.

Memory: peak resident set (VmHWM, /proc) of every process over the runs.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from bench import report
from bench.kafka_drain import PARTITIONS, group_offsets, kafka_env
from bench.procs import DOMAIN, MemoryWatch, Processes, cli, free_port, percentile, send_at_rate
from contract.event import decode_envelope
from crumbless.testing.kafka import KAFKA_VERSION, KafkaBroker

NAME = "freshness"
TITLE = "202 until counted, embedded and Kafka mode, by rate"
DESCRIPTION = __doc__.split("\n", 2)[2].strip() if __doc__ else ""
PLOT = report.ROOT / "docs" / "freshness.png"
POLL_S = 0.05
SETTLE_S = 30  # how long to wait after the last 202 for the stragglers
BASE_ENV = {"CRUMBLESS_K_ANONYMITY": "1", "CRUMBLESS_TRUSTED_PROXIES": "127.0.0.1",
            "CRUMBLESS_LOG_LEVEL": "warning"}


def path_for(rate: int) -> Callable[[int], str]:
    """The distinct page of beacon i at `rate`."""
    return lambda i: f"/f{rate}/{i}"


class Poller:
    """Calls `seen()` every POLL_S in a thread; records when each path first appears."""

    def __init__(self, seen: Callable[[], set[str]]) -> None:
        self.seen, self.first = seen, dict[str, float]()
        self.polls, self.poll_s = 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            paths = self.seen()
            now = time.monotonic()
            self.polls, self.poll_s = self.polls + 1, self.poll_s + now - began
            for path in paths:
                self.first.setdefault(path, now)
            self._stop.wait(max(POLL_S - (now - began), 0))

    def wait_for(self, paths: list[str], timeout: float) -> None:
        """Until every path was seen or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p not in self.first for p in paths):
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(10)


def summarise(sent: list[tuple[int, float, float]], first: dict[str, float],
              path_of: Callable[[int], str]) -> dict[str, Any]:
    """Latency in ms from 202 to counted (p50/p95/max) of the beacons seen, how many were
    never seen, the 202's own p95 from when the beacon was due (queueing at the sender
    included), and the rate achieved (beacons / first due until last 202)."""
    latencies = [(first[path_of(i)] - t) * 1000 for i, _, t in sent if path_of(i) in first]
    span = max(t for *_, t in sent) - min(due for _, due, _ in sent)
    out: dict[str, Any] = {"sent": len(sent), "unseen": len(sent) - len(latencies),
                           "achieved_per_s": len(sent) / span if span > 0 else 0.0,
                           "accept_p95_ms": percentile([(t - due) * 1000
                                                        for _, due, t in sent], 0.95)}
    if latencies:
        out |= {"p50_ms": percentile(latencies, 0.5), "p95_ms": percentile(latencies, 0.95),
                "max_ms": max(latencies)}
    return out


def stats_api_pages(port: int, key: str) -> Callable[[], set[str]]:
    """A poll of the Stats API: the pages with at least one pageview today."""
    body = json.dumps({"site_id": DOMAIN, "metrics": ["pageviews"], "date_range": "day",
                       "dimensions": ["event:page"], "pagination": {"limit": 10_000}})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def seen() -> set[str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/v2/query", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"Stats API answered {response.status}: {data[:200]!r}")
        return {row["dimensions"][0] for row in json.loads(data)["results"]
                if row["metrics"][0] > 0}
    return seen


def embedded(folder: Path, rates: list[int], seconds: float) -> dict[str, Any]:
    """`crumbless serve`: each rate in turn, latencies from the Stats API."""
    data, port = folder / "serve", free_port()
    env = {**BASE_ENV, "CRUMBLESS_DATA_DIR": str(data)}
    out: dict[str, Any] = {}
    with Processes(folder) as procs:
        proc = procs.start("serve", env, "serve", "--host", "127.0.0.1", "--port", str(port))
        procs.wait_http("serve", f"http://127.0.0.1:{port}")
        while not (data / "server.json").exists():
            time.sleep(0.1)
        cli(env, "sites", "add", DOMAIN)
        key = cli(env, "keys", "create", "--site", DOMAIN).splitlines()[0].strip()
        # Warm up (first requests, UA caches, the first batch) until the warm-up is counted.
        poller = Poller(stats_api_pages(port, key))
        try:
            warm = send_at_rate(port, 20, 1, lambda i: f"/warm/{i}", senders=1)
            poller.wait_for([f"/warm/{i}" for i, *_ in warm], 60)
        finally:
            poller.stop()
        with MemoryWatch({"serve": proc.pid}) as memory:
            for rate in rates:
                poller = Poller(stats_api_pages(port, key))
                try:
                    sent = send_at_rate(port, rate, seconds, path_for(rate))
                    poller.wait_for([path_for(rate)(i) for i, *_ in sent], SETTLE_S)
                finally:
                    poller.stop()
                out[str(rate)] = summarise(sent, poller.first, path_for(rate)) | {
                    "poll_ms": poller.poll_s / max(poller.polls, 1) * 1000}
        procs.stop("serve")
    return {"rates": out, "memory": memory.peak}


def committed_offsets(admin: KafkaAdminClient, group: str) -> Callable[[], set[str]]:
    """A poll of the processor group's committed offsets, as "partition:offset" keys
    (resolved to pages after the run by `visible_times`)."""
    def seen() -> set[str]:
        return {f"{p}:{offset}" for p, offset in group_offsets(admin, group).items()}
    return seen


def record_positions(bootstrap: str, topic: str) -> dict[str, tuple[int, int]]:
    """path -> (partition, offset) of every record in the topic (read from the beginning)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                             enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(partitions)
    where: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + 60
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        if time.monotonic() > deadline:
            raise RuntimeError("could not read the topic back within 60 s")
        for tp, messages in consumer.poll(timeout_ms=200).items():
            for message in messages:
                for event in decode_envelope(message.value):
                    where[event.pathname] = (tp.partition, message.offset)
    consumer.close()
    return where


def visible_times(offsets_seen: dict[str, float], where: dict[str, tuple[int, int]]
                  ) -> dict[str, float]:
    """When each path was counted: the first poll whose committed offset passed its record.

    offsets_seen: "partition:committed offset" -> first time seen (committed offsets
    only grow, so a record at offset o is counted at the first time any committed
    offset > o was seen on its partition).
    """
    by_partition: dict[int, list[tuple[int, float]]] = {}
    for key, t in offsets_seen.items():
        part, committed = key.split(":")
        by_partition.setdefault(int(part), []).append((int(committed), t))
    first: dict[str, float] = {}
    for path, (partition, offset) in where.items():
        times = [t for done, t in by_partition.get(partition, []) if done > offset]
        if times:
            first[path] = min(times)
    return first


def kafka(folder: Path, rates: list[int], seconds: float) -> dict[str, Any]:
    """`crumbless collector` + `crumbless processor`: latencies from committed offsets."""
    out: dict[str, Any] = {}
    with KafkaBroker(folder / "kafka") as broker, Processes(folder) as procs:
        topic, group = "bench.fresh", "bench-fresh"
        env = {**BASE_ENV, **kafka_env(broker.bootstrap, topic, group)}
        collector_env = {**env, "CRUMBLESS_DATA_DIR": str(folder / "collector")}
        cli(collector_env, "migrate")  # the topics, and the collector's own schema
        cli(collector_env, "sites", "add", DOMAIN)
        port = free_port()
        collector = procs.start("collector", collector_env, "collector", "--host",
                                "127.0.0.1", "--port", str(port))
        processor = procs.start("processor", {**env, "CRUMBLESS_DATA_DIR": str(
            folder / "processor")}, "processor")
        procs.wait_http("collector", f"http://127.0.0.1:{port}")
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap.split(","))
        # Warm up: the collector's lazy producer, the processor's group join and first batch.
        warm = send_at_rate(port, 20, 1, lambda i: f"/warm/{i}", senders=1)
        deadline = time.monotonic() + 90
        while sum(group_offsets(admin, group).values()) < len(warm):
            if time.monotonic() > deadline or processor.poll() is not None:
                raise RuntimeError(f"the processor did not take the warm-up beacons:\n"
                                   f"{procs.log_tail('processor')}")
            time.sleep(0.2)
        pids = {"collector": collector.pid, "processor": processor.pid}
        runs = {}
        with MemoryWatch(pids) as memory:
            for rate in rates:
                base = sum(group_offsets(admin, group).values())
                poller = Poller(committed_offsets(admin, group))
                try:
                    sent = send_at_rate(port, rate, seconds, path_for(rate))
                    wait_until = time.monotonic() + SETTLE_S
                    while time.monotonic() < wait_until and sum(
                            group_offsets(admin, group).values()) < base + len(sent):
                        time.sleep(0.1)
                    time.sleep(2 * POLL_S)  # the poller's view catches up
                finally:
                    poller.stop()
                runs[rate] = (sent, dict(poller.first))
        admin.close()
        where = record_positions(broker.bootstrap, topic)
        for rate, (sent, offsets_seen) in runs.items():
            out[str(rate)] = summarise(sent, visible_times(offsets_seen, where),
                                       path_for(rate))
        for name in ("collector", "processor"):
            procs.stop(name)
    return {"rates": out, "memory": memory.peak}


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Embedded first, then Kafka, each at every rate."""
    rates, seconds = ([100, 200], 4.0) if quick else ([50, 100, 200, 300], 10.0)
    with tempfile.TemporaryDirectory(prefix="crumbless-bench-") as tmp:
        folder = Path(tmp)
        result = {"seconds": seconds, "kafka_version": KAFKA_VERSION,
                  "embedded": embedded(folder, rates, seconds),
                  "kafka": kafka(folder, rates, seconds)}
    plot(result)
    return result


def plot(result: dict[str, Any]) -> Path | None:
    """docs/freshness.png: p50/p95 latency against the rate, per mode, if matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for mode in ("embedded", "kafka"):
        rates = [(int(r), v) for r, v in result[mode]["rates"].items() if "p50_ms" in v]
        xs = [r for r, _ in rates]
        ax.plot(xs, [v["p50_ms"] for _, v in rates], marker="o", label=f"{mode}, p50")
        ax.plot(xs, [v["p95_ms"] for _, v in rates], marker="x", linestyle="--",
                label=f"{mode}, p95")
    ax.axhline(2000, color="red", linewidth=0.8, label="target: Kafka p95 < 2 s")
    ax.set(xlabel="beacons/s sent", ylabel="202 until counted, ms", ylim=(0, None),
           title="Freshness against load")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)
    return PLOT


def render(result: dict[str, Any]) -> list[str]:
    """Latency per mode and rate, then the memory of every process."""
    lines = [f"Each rate sent for {result['seconds']:.0f} s; latency from each 202 until "
             f"the beacon is counted (poll every {POLL_S * 1000:.0f} ms).", "",
             "| mode | rate asked, /s | achieved, /s | 202 p95 ms | counted p50 ms | "
             "counted p95 ms | counted max ms | unseen |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for mode in ("embedded", "kafka"):
        for rate, v in result[mode]["rates"].items():
            if "p50_ms" not in v:
                lines.append(f"| {mode} | {rate} | {v['achieved_per_s']:.0f} | "
                             f"{v['accept_p95_ms']:,.0f} | - | - | - | {v['unseen']} |")
                continue
            lines.append(f"| {mode} | {rate} | {v['achieved_per_s']:.0f} | "
                         f"{v['accept_p95_ms']:,.0f} | {v['p50_ms']:,.0f} | {v['p95_ms']:,.0f} "
                         f"| {v['max_ms']:,.0f} | {v['unseen']} |")
    lines += ["", "| process (under these loads) | peak RSS (VmHWM), MiB |", "|---|---:|"]
    for mode in ("embedded", "kafka"):
        for name, mem in result[mode]["memory"].items():
            lines.append(f"| `crumbless {name}` | {mem.get('hwm_kib', 0) / 1024:,.0f} |")
    if PLOT.exists():
        lines += ["", f"![freshness against load]({PLOT.name})"]
    return lines
