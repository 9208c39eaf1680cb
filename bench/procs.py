"""Real `crumbless` processes for the pipeline benchmarks: start, watch their memory, stop.

Every process listens on 127.0.0.1 (ephemeral ports), writes its output to a file in its
own temporary folder and is killed when the `Processes` block ends, whatever happened.
Memory comes from /proc/PID/status (Linux): VmHWM, the peak resident set, and VmRSS.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "crumbless.cli"]
DOMAIN = "bench.example"
# Ordinary browsers (a headless or bot agent would be dropped at the edge).
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
]


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """{"hwm_kib": peak RSS, "rss_kib": current RSS} of a live process; {} once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    out = {}
    for key, name in (("VmHWM", "hwm_kib"), ("VmRSS", "rss_kib")):
        if key in fields:
            out[name] = int(fields[key].split()[0])
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a live process has used (/proc/PID/stat), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run a one-shot `crumbless` command; its stdout, or RuntimeError with its stderr."""
    done = subprocess.run([*CLI, *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"crumbless {' '.join(args)}: {done.stderr.strip()[-800:]}")
    return done.stdout.strip()


class Processes:
    """`crumbless` servers started in a `with` block; all are killed when it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        """Start `crumbless args...` with `env` added, output to folder/name.log."""
        with (self.folder / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([*CLI, *args], cwd=ROOT, env={**os.environ, **env},
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.running[name] = proc
        return proc

    def log_tail(self, name: str) -> str:
        """The last lines a process wrote (for error messages)."""
        path = self.folder / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-12:]) if \
            path.exists() else ""

    def wait_http(self, name: str, url: str, timeout: float = 90) -> None:
        """Wait until `url` answers 200; RuntimeError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
        while time.monotonic() < deadline:
            if self.running[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=2)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f} s")

    def stop(self, name: str, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for name in list(self.running):
            proc = self.running.pop(name)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


class MemoryWatch:
    """Samples /proc of some processes every `interval` s in a thread: the peaks of their
    memory (KiB) and their CPU seconds so far (the last sample before they exit)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids, self.interval = pids, interval
        self.peak: dict[str, dict[str, float]] = {name: {} for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        """One sample of every process: highest VmHWM and VmRSS seen so far."""
        for name, pid in self.pids.items():
            for key, value in memory_kib(pid).items():
                self.peak[name][key] = max(self.peak[name].get(key, 0), value)
            if (cpu := cpu_seconds(pid)) is not None:
                self.peak[name]["cpu_s"] = cpu

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()


def beacon(path: str, n: int) -> tuple[bytes, dict[str, str]]:
    """A Plausible pageview of https://bench.example{path} from visitor `n` (by proxy header)."""
    body = (f'{{"n":"pageview","u":"https://{DOMAIN}{path}","d":"{DOMAIN}"}}').encode()
    return body, {"Content-Type": "text/plain", "User-Agent": AGENTS[n % len(AGENTS)],
                  "X-Forwarded-For": f"198.51.100.{n % 250 + 1}"}


def send_at_rate(port: int, rate: float, seconds: float, path_of: Callable[[int], str],
                 senders: int = 4) -> list[tuple[int, float, float]]:
    """POST `rate` beacons/s for `seconds` from `senders` threads (keep-alive connections).

    Beacon i is due at start + i / rate; a sender that falls behind sends at once (no
    coordinated omission hidden). Returns (i, when it was due, when its 202 came), both on
    time.monotonic(), per beacon in order; raises RuntimeError on any other status.
    """
    total = int(rate * seconds)
    done: list[tuple[int, float, float]] = []
    lock, counter = threading.Lock(), iter(range(total))
    errors: list[str] = []
    start = time.monotonic() + 0.2

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None or errors:
                break
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body, headers = beacon(path_of(i), i)
            conn.request("POST", "/api/event", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                errors.append(f"beacon {i}: HTTP {response.status}")
                break
            with lock:
                done.append((i, due, time.monotonic()))
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    if errors:
        raise RuntimeError(errors[0])
    return sorted(done)
