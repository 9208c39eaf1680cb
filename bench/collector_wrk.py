"""collector-wrk: `POST /api/event` over real HTTP (wrk) against the bare server's floor.

Each variant is a real server process on 127.0.0.1 with the same waitress set-up
(`crumbless.server.serve`, `threads` request threads): the FLOOR is a bare WSGI app
answering 202 through that same `serve`; `crumbless serve` (embedded, fsync and flush);
`crumbless collector` (Kafka mode, through its spool, against the test-harness broker of
`crumbless.testing.kafka`). wrk (Debian package `wrk`) drives them with a generated Lua
script; `python -m bench.collector_wrk serve-floor PORT` runs the floor by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.server_profile import (
    cpu_by_role,
    cpu_seconds,
    profile,
    summarise_profile,
    thread_cpu,
    thread_names,
)
from bench.timing import median
from bench.workload import build_geo_db, make_hits

NAME = "collector-wrk"
TITLE = "collector over real HTTP (wrk) against the bare server"
DESCRIPTION = """
`POST /api/event` over loopback HTTP/1.1 keep-alive from wrk (Debian's `wrk`, one thread,
16 connections), each request one of 500 realistic beacons (the traffic mix above) with
its own `User-Agent` and `X-Forwarded-For` (127.0.0.1 is a trusted proxy, so the
collector hashes 500 distinct client addresses; the default rate limits stay on and are
not reached: *non-2xx* would show a 429).
Every variant is its own server process with the same waitress set-up and 8 request
threads (`crumbless.server.serve`): *floor* is a bare WSGI app answering 202 on it;
*serve fsync* / *serve flush* is `crumbless serve` (embedded: the 202 waits for the event
log's fsync, or only its write to the kernel; the processor thread writes to chdb in the
same process); *collector kafka* is `crumbless collector` (its 202 waits for the spool's
fsync; a forwarder thread sends to a local single-node Kafka broker). The variants are
alternated and repeated; between runs the embedded servers drain their event log
(`crumbless wait`). *req/s* and wrk's latency percentiles are medians over the repeats;
*ratio* is req/s over the floor's. *202s per fsync*, *ms per fsync* and *fsync busy* (the
share of the run an fsync was in flight) come from the server's `/api/health` counters
of its event log / spool group commit. *server CPU µs/request* is the server process's
user + system CPU time (all its threads, /proc) over the run divided by the requests:
the cost of a request, which the machine's other load moves less than req/s (not
never: CPU steal and cache pressure count), and *CPU ratio* the floor's cost over that
(the req/s ratio a CPU-bound server would reach); *server CPU busy* is that CPU time
over the run's wall time (100% = one core). wrk and the servers share the two cores,
with whatever else runs on the machine: the req/s of a run move with it, the CPU costs
less. What bounds the collector, read from these tables, and what would lift it: docs/
architecture.md, "The collector against its bare server".
"""
CONNECTIONS = 16
THREADS = 8
BEACONS = 500
VARIANTS = ("floor", "serve-fsync", "serve-flush", "collector-kafka")
ROOT = Path(__file__).resolve().parent.parent
CRUMBLESS = [sys.executable, "-m", "crumbless.cli"]

# wrk's done() hook prints one JSON line; latencies are in microseconds.
LUA_TAIL = """
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/api/event", {
    ["Content-Type"] = "text/plain", ["Origin"] = "https://example.com",
    ["User-Agent"] = agents[i], ["X-Forwarded-For"] = ips[i]}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "errors": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def require_wrk() -> str:
    """The wrk binary; installs Debian's `wrk` when running as root, else fails saying so."""
    found = shutil.which("wrk")
    apt = shutil.which("apt-get")
    if found is None and apt and os.geteuid() == 0:
        cmd = [apt, "install", "-y", "-q", "wrk"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(cmd, capture_output=True, env=env, timeout=600).returncode != 0:
            subprocess.run([apt, "update", "-q"], capture_output=True, env=env, timeout=600)
            subprocess.run(cmd, capture_output=True, env=env, timeout=600)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is missing: install it with `apt-get install -y wrk`")
    return found


def lua_script(count: int = BEACONS) -> str:
    """The wrk script: `count` beacons with their user agents and client addresses."""
    hits = make_hits(count, ips=count)

    def table(name: str, values: Iterable[str]) -> str:
        return f"{name} = {{\n" + ",\n".join(f"[==[{v}]==]" for v in values) + "\n}\n"

    return (table("bodies", (h.body.decode() for h in hits))
            + table("agents", (h.headers["User-Agent"] for h in hits))
            + table("ips", (h.ip for h in hits)) + LUA_TAIL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer /api/health in {timeout:.0f} s")


@contextmanager
def _process(argv: list[str], env: dict[str, str], port: int, log: Path, root: Path = ROOT
             ) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server (from the source tree `root`), wait until it answers, stop it with
    SIGTERM (then SIGKILL)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=out)
        try:
            _wait_healthy(port, proc)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _env(data_dir: Path, port: int, geo: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CRUMBLESS_DATA_DIR": str(data_dir), "CRUMBLESS_PORT": str(port),
           "CRUMBLESS_THREADS": str(THREADS), "CRUMBLESS_TRUSTED_PROXIES": "127.0.0.1",
           "CRUMBLESS_GEOIP_DB": str(geo), "CRUMBLESS_LOG_LEVEL": "warning"}
    env.update({f"CRUMBLESS_{k.upper()}": v for k, v in extra.items()})
    return env


def _cli(env: dict[str, str], *args: str, root: Path = ROOT) -> None:
    done = subprocess.run([*CRUMBLESS, *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"crumbless {' '.join(args)}: {done.stderr.strip()[-500:]}")


def start_variant(stack: ExitStack, variant: str, tmp: Path, geo: Path,
                  bootstrap: str | None, *, root: Path = ROOT, label: str = ""
                  ) -> tuple[int, subprocess.Popen[bytes], dict[str, str]]:
    """Prepare and start one variant's server; return its port, process and environment.

    `root` is the source tree the server runs from (`python -m` finds its packages in the
    working directory first), so a before/after comparison can run two checkouts.
    """
    port = _free_port()
    data = tmp / (label or variant)
    log = tmp / f"{label or variant}.log"
    if variant == "floor":
        env = _env(data, port, geo)
        argv = [sys.executable, "-m", "bench.collector_wrk", "serve-floor", str(port)]
    elif variant.startswith("serve-"):
        env = _env(data, port, geo, log_durability=variant.removeprefix("serve-"))
        _cli(env, "sites", "add", "example.com", root=root)
        _cli(env, "sites", "add", "shop.example.org", "--no-consent", "anonymous", root=root)
        argv = [*CRUMBLESS, "serve"]
    else:
        assert bootstrap is not None
        env = _env(data, port, geo, transport="kafka", kafka_bootstrap=bootstrap,
                   kafka_partitions="2")
        _cli(env, "migrate", root=root)
        _cli(env, "sites", "add", "example.com", root=root)
        _cli(env, "sites", "add", "shop.example.org", "--no-consent", "anonymous", root=root)
        argv = [*CRUMBLESS, "collector"]
    proc = stack.enter_context(_process(argv, env, port, log, root))
    return port, proc, env


def run_wrk(wrk: str, script: Path, port: int, seconds: float) -> dict[str, Any]:
    """One wrk run; the JSON its done() hook printed, plus req/s."""
    done = subprocess.run([wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout",
                           "10s", "-s", str(script), f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()[-300:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["req_per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as answer:
        health: dict[str, Any] = json.loads(answer.read())
    return health


def measure(wrk: str, script: Path, port: int, seconds: float, pid: int) -> dict[str, Any]:
    """One wrk run, with the server's CPU time over it and its fsync count and time (when
    it has a log)."""
    before = _health(port)
    cpu = cpu_seconds(pid)
    result = run_wrk(wrk, script, port, seconds)
    result["cpu_s"] = cpu_seconds(pid) - cpu
    after = _health(port)
    if "fsyncs" in before:
        result["fsyncs"] = after["fsyncs"] - before["fsyncs"]
        result["fsync_s"] = after["fsync_seconds"] - before["fsync_seconds"]
    return result


def _drain(env: dict[str, str]) -> None:
    """Let an embedded server's processor catch up, so it idles during the next run."""
    subprocess.run([*CRUMBLESS, "wait", "--timeout", "120"], cwd=ROOT, env=env,
                   capture_output=True, timeout=180, check=False)


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Start every variant, alternate wrk runs over them, then profile serve-fsync."""
    from crumbless.testing.kafka import KafkaBroker

    wrk = require_wrk()
    seconds, repeats, profile_s = (3.0, 2, 5.0) if quick else (10.0, 5, 20.0)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="crumbless-wrk-") as name, ExitStack() as stack:
        tmp = Path(name)
        script = tmp / "beacons.lua"
        script.write_text(lua_script())
        geo = build_geo_db(tmp)
        broker = stack.enter_context(KafkaBroker(tmp / "kafka"))
        servers = {v: start_variant(stack, v, tmp, geo, broker.bootstrap) for v in VARIANTS}
        for variant, (port, _, _) in servers.items():  # warm-up: caches, first segments
            run_wrk(wrk, script, port, 1)
            if variant.startswith("serve-"):
                _drain(servers[variant][2])
        for _ in range(repeats):
            for variant, (port, proc, env) in servers.items():
                runs[variant].append(measure(wrk, script, port, seconds, proc.pid))
                if variant.startswith("serve-"):
                    _drain(env)
        port, proc, env = servers["serve-fsync"]
        threads_before = thread_cpu(proc.pid)
        split_run = run_wrk(wrk, script, port, seconds)
        threads_after = thread_cpu(proc.pid)
        _drain(env)
        stacks = {}
        raws = []
        for gil in (False, True):
            out = tmp / f"profile-{'gil' if gil else 'all'}.txt"
            loader = subprocess.Popen([wrk, "-t1", f"-c{CONNECTIONS}",
                                       f"-d{profile_s + 4:g}s", "-s", str(script),
                                       f"http://127.0.0.1:{port}"], stdout=subprocess.DEVNULL)
            time.sleep(1)
            profile(proc.pid, profile_s, out, gil=gil)
            loader.wait()
            raws.append(out.read_text())
            stacks["gil" if gil else "all"] = summarise_profile(raws[-1], idle=not gil)
            _drain(env)
        split = cpu_by_role(threads_before, threads_after, thread_names("\n".join(raws)),
                            split_run["requests"])
    from bench.worker import spawn  # chdb: one data path per process, so its own process

    core = spawn(NAME, "--count", "1000" if quick else "3000", timeout=600)
    return {"seconds": seconds, "repeats": repeats, "connections": CONNECTIONS,
            "threads": THREADS, "variants": {v: _summary(r) for v, r in runs.items()},
            "profile": stacks, "profile_s": profile_s, "cpu_by_role": split,
            "in_process": core,
            "cpu_split_req_per_s": split_run["req_per_s"]}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    synced = [r for r in runs if r.get("fsyncs")]
    fsync = ({"per_fsync": median([r["requests"] / r["fsyncs"] for r in synced]),
              "fsync_ms": median([r["fsync_s"] / r["fsyncs"] * 1000 for r in synced]),
              "fsync_busy": median([r["fsync_s"] / (r["duration_us"] / 1e6) for r in synced])}
             if synced else {})
    return {**fsync, "req_per_s": median([r["req_per_s"] for r in runs]),
            "cpu_us": median([r["cpu_s"] / r["requests"] * 1e6 for r in runs]),
            "cpu_busy": median([r["cpu_s"] / (r["duration_us"] / 1e6) for r in runs]),
            "p50_ms": median([r["p50_us"] / 1000 for r in runs]),
            "p99_ms": median([r["p99_us"] / 1000 for r in runs]),
            "non2xx": sum(r["non2xx"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "all_req_per_s": [round(r["req_per_s"]) for r in runs]}


def render(result: dict[str, Any]) -> list[str]:
    """The Markdown tables of one result."""
    variants = result["variants"]
    floor = variants["floor"]["req_per_s"]
    lines = [f"wrk -t1 -c{result['connections']}, {result['seconds']:g} s per run, "
             f"{result['repeats']} alternated repeats (medians), {result['threads']} request "
             "threads per server.", "",
             "| variant | req/s | ratio to floor | p50 ms | p99 ms | non-2xx | server CPU "
             "µs/request | CPU ratio | server CPU busy | 202s per fsync | ms per fsync | "
             "fsync busy | runs, req/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    floor_cpu = variants["floor"]["cpu_us"]
    for variant, m in variants.items():
        synced = (f"{m['per_fsync']:.1f} | {m['fsync_ms']:.1f} | {m['fsync_busy']:.0%}"
                  if "per_fsync" in m else "- | - | -")
        lines.append(f"| {variant} | {m['req_per_s']:,.0f} | {m['req_per_s'] / floor:.2f} | "
                     f"{m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['non2xx']} | "
                     f"{m['cpu_us']:,.0f} | {floor_cpu / m['cpu_us']:.2f} | "
                     f"{m['cpu_busy']:.0%} | {synced} | "
                     f"{', '.join(f'{x:,}' for x in m['all_req_per_s'])} |")
    prof = result.get("profile")
    if prof:
        held = prof["gil"]["samples"] / (result["profile_s"] * 200)
        lines += ["", f"py-spy on `crumbless serve` (fsync) under the same load, "
                  f"{result['profile_s']:g} s at 200 Hz each. Where the GIL was (`--gil`: "
                  f"samples of the thread holding it; it was held in **{held:.0%}** of the "
                  "samples):", "", "| GIL holder | share |", "|---|---:|"]
        lines += [f"| {name} | {share:.0%} |" for name, share in prof["gil"]["buckets"].items()]
        lines += ["", "How the 8 request threads spent their time (`--idle`, every sample of "
                  "every request thread):", "", "| request threads | share |", "|---|---:|"]
        lines += [f"| {name} | {share:.0%} |" for name, share in prof["all"]["buckets"].items()]
        lines += ["", "Top functions holding the GIL (self time, % of GIL samples):", "",
                  "| function | self |", "|---|---:|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in prof["gil"]["self"][:12]]
        lines += ["", "Top functions holding the GIL (inclusive):", "",
                  "| function | inclusive |", "|---|---:|"]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in prof["gil"]["inclusive"][:15]]
    split = result.get("cpu_by_role")
    if split:
        total = sum(split.values())
        lines += ["", "Server CPU per request by thread (/proc per-thread counters over one "
                  f"{result['seconds']:g} s run at {result['cpu_split_req_per_s']:,.0f} req/s, "
                  f"no profiler attached; floor: {result['variants']['floor']['cpu_us']:,.0f}"
                  " µs):", "", "| thread | CPU µs/request | share |", "|---|---:|---:|"]
        lines += [f"| {role} | {us:,.0f} | {us / total:.0%} |" for role, us in split.items()]
        lines.append(f"| all | {total:,.0f} | 100% |")
    core = result.get("in_process")
    if core:
        lines += ["", "The same beacons in one process, one thread, no HTTP (log in flush mode, "
                  f"processor off): **{core['flask']:,.0f} µs** CPU per beacon through the "
                  f"Flask app, **{core['core']:,.0f} µs** through the same core (`Ingest`: "
                  "parse, anonymise, append) without Flask "
                  "(`python -m bench.collector_wrk --in-process`)."]
    return lines


def serve_floor(port: int) -> None:
    """The floor: a bare WSGI app answering 202, on crumbless's own server set-up."""
    from contract.settings import load_settings
    from crumbless.server import Served, serve

    def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") == "/api/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status":"ok"}']
        environ["wsgi.input"].read()
        start_response("202 Accepted", [("Content-Type", "text/plain"),
                                        ("Content-Length", "2")])
        return [b"ok"]

    settings = load_settings(env=dict(os.environ), flags={"port": port})
    serve(settings, lambda _settings: Served(public=bare, close=lambda: None))


def compare(before: Path, variants: list[str], seconds: float, repeats: int
            ) -> dict[str, dict[str, float]]:
    """Before/after: each variant from the source tree `before` and from this one, next to
    the floor, alternated; returns {label: summary} (labels `<variant>@before|after`)."""
    wrk = require_wrk()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="crumbless-wrk-ab-") as name, ExitStack() as stack:
        tmp = Path(name)
        script = tmp / "beacons.lua"
        script.write_text(lua_script())
        geo = build_geo_db(tmp)
        servers = {"floor": start_variant(stack, "floor", tmp, geo, None)}
        for variant in variants:
            for label, root in (("before", before.resolve()), ("after", ROOT)):
                servers[f"{variant}@{label}"] = start_variant(
                    stack, variant, tmp, geo, None, root=root, label=f"{variant}-{label}")
        for round_ in range(repeats + 1):  # round 0 warms up
            for label, (port, proc, env) in servers.items():
                result = measure(wrk, script, port, 1 if round_ == 0 else seconds, proc.pid)
                if round_:
                    runs.setdefault(label, []).append(result)
                if label != "floor":
                    _drain(env)
    return {label: _summary(r) for label, r in runs.items()}


def worker(argv: list[str]) -> dict[str, float]:
    """`python -m bench.worker collector-wrk [--count N]`: `in_process_cost` in a fresh
    process."""
    parser = argparse.ArgumentParser(prog="bench.worker collector-wrk")
    parser.add_argument("--count", type=int, default=3000)
    return in_process_cost(parser.parse_args(argv).count)


def in_process_cost(count: int = 3000) -> dict[str, float]:
    """CPU µs per beacon in this process, one thread, no HTTP, log in flush mode, processor
    off: through the whole Flask app, and through the same core (`Ingest`: parse,
    anonymise, append) without Flask. What a WSGI fast path for beacons could save."""
    import io

    from werkzeug.datastructures import EnvironHeaders

    from bench.workload import register_sites
    from collector.beacon import parse_beacon
    from collector.ingest import Ingest
    from contract.settings import Settings
    from crumbless.app import create_app
    from crumbless.runtime import Runtime

    hits = make_hits(count)

    def environ(hit: Any) -> dict[str, Any]:
        env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/event", "SCRIPT_NAME": "",
               "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(hit.body), "wsgi.errors": io.StringIO(),
               "CONTENT_LENGTH": str(len(hit.body)), "CONTENT_TYPE": "text/plain",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": hit.ip}
        env.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in hit.headers.items()
                    if k != "Content-Type"})
        return env

    def start_response(*_: Any) -> Any:
        return lambda _data: None

    class Facts:  # what Ingest.facts reads of a request
        def __init__(self, env: dict[str, Any]) -> None:
            self.environ, self.headers = env, EnvironHeaders(env)

    with tempfile.TemporaryDirectory(prefix="crumbless-core-") as name:
        tmp = Path(name)
        settings = Settings(data_dir=tmp / "data", log_durability="flush",
                            geoip_db=str(build_geo_db(tmp)),
                            trusted_proxies=("127.0.0.1",)).validate()
        runtime = Runtime(settings, start_background=False)
        try:
            register_sites(runtime.sites)
            app = create_app(runtime)
            ingest = Ingest(anonymiser=runtime.edge.anonymiser, site_for=runtime.sites.get,
                            transport=runtime.transport, metrics=runtime.metrics,
                            trusted_proxies=settings.trusted_proxies,
                            proxy_header=settings.proxy_header, site_limit=lambda _: 0.0)

            def flask(env: dict[str, Any]) -> None:
                b"".join(app(env, start_response))

            def core(env: dict[str, Any]) -> None:
                beacon = parse_beacon(env["wsgi.input"].read(), max_bytes=16384)
                ingest.publish(ingest.anonymise(beacon, ingest.sites_of(beacon),
                                                ingest.facts(Facts(env)), []))  # type: ignore[arg-type]

            costs: dict[str, list[float]] = {"flask": [], "core": []}
            for _ in range(2):
                for label, call in (("flask", flask), ("core", core)):
                    for env in [environ(h) for h in hits[:300]]:  # warm caches
                        call(env)
                    envs = [environ(h) for h in hits]
                    began = time.process_time()
                    for env in envs:
                        call(env)
                    costs[label].append((time.process_time() - began) / len(envs) * 1e6)
        finally:
            runtime.close()
    return {label: min(values) for label, values in costs.items()}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-floor":
        serve_floor(int(sys.argv[2]))
    else:
        parser = argparse.ArgumentParser(prog="python -m bench.collector_wrk")
        parser.add_argument("--quick", action="store_true")
        parser.add_argument("--before", type=Path, help="compare with the source tree in "
                            "this directory (e.g. `git worktree add` of the old commit)")
        parser.add_argument("--variant", action="append", choices=VARIANTS[1:3])
        parser.add_argument("--seconds", type=float, default=5.0)
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--in-process", action="store_true", help="CPU per beacon "
                            "in process through Flask and through the core without it")
        args = parser.parse_args()
        if args.in_process:
            cost = in_process_cost()
            print(f"through the Flask app: {cost['flask']:.0f} µs CPU/beacon; the same "
                  f"core without Flask: {cost['core']:.0f} µs")
        elif args.before:
            table = compare(args.before, args.variant or ["serve-fsync"], args.seconds,
                            args.repeats)
            floor = table["floor"]["req_per_s"]
            for label, m in table.items():
                print(f"| {label} | {m['req_per_s']:,.0f} | {m['req_per_s'] / floor:.2f} | "
                      f"{m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['cpu_us']:,.0f} µs CPU | "
                      f"{m.get('per_fsync', 0):.1f} | "
                      f"{m.get('fsync_ms', 0):.1f} | {m['all_req_per_s']} |")
        else:
            print("\n".join(render(run_benchmark(args.quick))))
