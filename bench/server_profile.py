"""What a server process spends under load: py-spy stacks and per-thread CPU from /proc.

Used by bench/collector_wrk.py on `crumbless serve`. py-spy (pinned in the bench extra)
needs ptrace rights over the process (root, or the same user with ptrace_scope 0).
Stacks come in py-spy's raw (collapsed) format: `thread (tid): name;frame;...;frame count`
per line, a frame being `function (file:line)`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(pid: int, seconds: float, out: Path, *, gil: bool) -> Path:
    """py-spy record of `pid` (raw collapsed stacks); `gil`: only samples holding the GIL."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
        "py-spy")
    if spy is None:
        raise RuntimeError("py-spy is missing: `make install` (bench extra) installs it")
    argv = [spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}", "--rate", "200",
            "--format", "raw", "--output", str(out), "--threads"]
    argv += ["--gil"] if gil else ["--idle"]
    subprocess.run(argv, capture_output=True, timeout=seconds + 60, check=True)
    return out


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """{native thread id: (kernel thread name, user + system CPU seconds)} of a process."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # the thread ended meanwhile
            continue
        found[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return found


def thread_names(raw: str) -> dict[int, str]:
    """{native thread id: Python thread name} from py-spy's `thread (tid): name;...` lines."""
    names = {}
    for line in raw.splitlines():
        head = line.split(";", 1)[0]
        if head.startswith("thread (") and "): " in head:
            tid, _, name = head.removeprefix("thread (").partition("): ")
            if tid.isdigit():
                names[int(tid)] = name
    return names


def cpu_by_role(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                names: dict[int, str], requests: int) -> dict[str, float]:
    """Server CPU µs per request by thread role, over one run between the two readings."""
    roles: dict[str, float] = {}
    for tid, (comm, cpu) in after.items():
        used = cpu - before.get(tid, (comm, 0.0))[1]
        name = names.get(tid)
        if name == "MainThread":
            role = EVENT_LOOP
        elif name == "crumbless-processor":
            role = "processor thread (Python: decode, sessionise, build rows)"
        elif name is not None and name.startswith("waitress"):
            role = "request threads (Flask, anonymiser, event-log append)"
        elif name is not None:
            role = f"other Python threads ({name.split('-')[0]}…)"
        else:
            role = "native threads (chdb: inserts, merges, views)"
        roles[role] = roles.get(role, 0.0) + used / max(requests, 1) * 1e6
    return dict(sorted(roles.items(), key=lambda kv: -kv[1]))


# Where a request thread's frame belongs, by its file (first match wins, specific first).
BUCKETS = (
    ("request: event-log append + fsync", ("eventlog.py", "files.py")),
    ("request: Kafka spool append", ("transports/kafka.py",)),
    ("request: anonymiser (UA parse, geo, hashing, bots)", (
        "collector/pipeline.py", "collector/anonymise.py", "collector/useragent.py",
        "collector/geo.py", "collector/bots.py", "collector/salts.py", "ua_parser",
        "maxminddb", "geoip2")),
    ("request: beacon parse, ingest, response", (
        "collector/beacon.py", "collector/ingest.py", "collector/app.py",
        "collector/edge.py", "contract/")),
    ("request: crumbless hooks (rate limit, in-flight count)", (
        "crumbless/app.py", "crumbless/server.py", "collector/ratelimit.py")),
    ("request: Flask / Werkzeug", ("flask/", "werkzeug/")),
    ("request: waitress task (environ, response write)", ("waitress/",)),
)
EVENT_LOOP = "event loop thread: waitress accept, HTTP parse, dispatch"
PROCESSOR = "processor thread: read log, sessionise, chdb insert"


def _bucket(thread: str, frames: list[str], *, idle: bool) -> str:
    """The bucket of one sampled stack: by thread role, then (request threads) by the
    innermost frame that falls into one of BUCKETS. `idle` (an `--idle` profile) splits a
    request thread's time into working, waiting on the fsync, and waiting for a request."""
    if thread.endswith("MainThread"):
        return EVENT_LOOP
    if "crumbless-processor" in thread or any("processors/" in f for f in frames):
        return PROCESSOR
    if not any("handler_thread (waitress" in f for f in frames):
        return "other threads (salt rotation, Kafka forwarder)"
    if idle:
        if any("_sync_until" in f for f in frames):
            return "request thread waiting on the event log's fsync"
        if frames and "handler_thread (waitress" in frames[-2 if len(frames) > 1 else -1]:
            return "request thread idle (no request queued)"
        return "request thread working (or waiting for the GIL)"
    for frame in reversed(frames):
        for name, needles in BUCKETS:
            if any(n in frame for n in needles):
                return name
    return "request: other (stdlib)"


def summarise_profile(raw: str, top: int = 15, *, idle: bool = False) -> dict[str, Any]:
    """Shares of py-spy's collapsed stacks (`thread (tid): name;frame;...;frame count`).

    Returns {"samples": n, "buckets": {name: share}, "self": [(frame, share)],
    "inclusive": [(frame, share)]}; shares are of the samples counted: every sample, or
    with `idle` only the request threads' (their time split by `_bucket`). A frame is
    `function (file)`, the line dropped so a function counts once.
    """
    buckets: dict[str, int] = {}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *rest = stack.split(";")
        frames = [_function(f) for f in rest]
        key = _bucket(thread, frames, idle=idle)
        if idle and not key.startswith("request thread"):
            continue
        total += count
        buckets[key] = buckets.get(key, 0) + count
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def shares(counts: dict[str, int], limit: int = top) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
        return [(name, n / max(total, 1)) for name, n in ranked]

    return {"samples": total, "buckets": dict(shares(buckets, 50)), "self": shares(own),
            "inclusive": shares(inclusive)}


def _function(frame: str) -> str:
    """`send (waitress/channel.py:123)` -> `send (waitress/channel.py)`, path shortened."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    path = path.replace(str(ROOT) + "/", "")
    return f"{name} ({path})" if path else name
