"""The end-to-end harness: `crumbless serve` as a subprocess, a loopback site, real Chromium.

- `Server`: a real `crumbless serve` on an ephemeral loopback port with its own data dir.
- `stored_events`: the rows of the `events` table, read after the server stopped, by a
  child process (chdb lets one process hold a path, and the test process may hold its own).
- `Site`: a loopback HTTP server for test pages; Chromium resolves every `*.test` host to
  it, so pages live at http://shop.test:PORT/ and a referring site at http://news.test:PORT/.
- `ensure_chromium` / `bundle_plausible_trackers`: Debian's chromium (apt-get as root when
  missing) and the official Plausible trackers from npm, bundled with esbuild.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "crumbless.cli"]
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium announces itself (UA and Sec-CH-UA) and the edge drops it as a bot;
# the tests browse as an ordinary desktop Chrome (the client hints then follow the UA).
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/156.0.0.0 Safari/537.36")
BROWSER_DIR = Path(__file__).parent / "browser"


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `crumbless serve` subprocess on loopback with its own data directory."""

    FAST = {"CRUMBLESS_BATCH_INTERVAL": "0.1", "CRUMBLESS_K_ANONYMITY": "1"}

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.env = self.FAST if env is None else env
        self.port = free_port()
        self.host = host
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"
        # Every line the server writes goes to a file (a pipe nobody reads could fill up).
        self.log_path = data_dir.parent / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--host", self.host, "--port", str(self.port), "--data-dir",
                 str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2):
                    if (self.data_dir / "server.json").exists():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not answer /api/health within 60 s")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill(self) -> None:
        """Kill the subprocess if it still runs (fixture teardown after a failure)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def cli(self, *args: str) -> str:
        done = subprocess.run([*CLI, *args, "--data-dir", str(self.data_dir)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def beacons_seen(self) -> int:
        """Requests to /api/event answered so far (accepted, dropped or rejected), from /metrics."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        total = 0
        for line in text.splitlines():
            if re.match(r"^crumbless_(events_accepted|events_dropped|beacons_rejected)\b", line):
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def wait_quiet(self, quiet_s: float = 1.0, limit_s: float = 15.0) -> None:
        """Wait until no beacon arrived for `quiet_s` (keepalive requests land late)."""
        deadline = time.monotonic() + limit_s
        last, since = self.beacons_seen(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.beacons_seen()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return


_READ_EVENTS = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1] + "/clickhouse")
result = client.query("SELECT * FROM crumbless.events ORDER BY ts")
print(json.dumps([dict(zip(result.column_names, row)) for row in result.result_rows],
                 default=str))
"""


def stored_events(data_dir: Path) -> list[dict[str, Any]]:
    """Every row of crumbless.events in a stopped server's data directory, oldest first."""
    done = subprocess.run([sys.executable, "-c", _READ_EVENTS, str(data_dir)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


class Site:
    """Test pages on a loopback HTTP server: `pages[path] = html`; /files/* and /away answer 204.

    A 204 keeps the browser on the page, so an outbound or download click is tracked
    without a navigation or a download. Paths under a registered SPA prefix serve that
    prefix's page (history routing).
    """

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.assets: dict[str, bytes] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path in site.assets:
                    self._send(200, site.assets[path], "application/javascript")
                    return
                html = site.page_for(path)
                if html is None:
                    self._send(204, b"", "text/plain")
                else:
                    self._send(200, html.encode(), "text/html; charset=utf-8")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def page_for(self, path: str) -> str | None:
        """The page at `path`, or the page of the longest registered prefix ending in '/'."""
        if path in self.pages:
            return self.pages[path]
        prefixes = [p for p in self.pages if p.endswith("/") and path.startswith(p)]
        return self.pages[max(prefixes, key=len)] if prefixes else None

    def url(self, path: str, host: str = "shop.test") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ensure_chromium() -> str:
    """The path of Debian's chromium, installed with apt-get when missing and we are root."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        cmd = [apt, "install", "-y", "-q", "chromium"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(cmd, capture_output=True, env=env, timeout=900).returncode != 0:
            subprocess.run([apt, "update", "-q"], capture_output=True, env=env,
                           timeout=900)
            subprocess.run(cmd, capture_output=True, env=env, timeout=900)
    if not Path(CHROMIUM).exists():
        raise AssertionError("Chromium is missing: run `apt-get install -y chromium` (as root)")
    return CHROMIUM


def bundle_plausible_trackers(out_dir: Path) -> dict[str, bytes]:
    """npm ci the pinned official trackers and esbuild, then bundle each for the browser.

    Returns {"/vendor/plausible-current.js": ..., "/vendor/plausible-legacy.js": ...}.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("npm is missing: install Node.js 18+ with npm (apt-get install npm)")
    if not (BROWSER_DIR / "node_modules" / ".bin" / "esbuild").exists():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci in {BROWSER_DIR} failed: {done.stderr[-1500:]}"
    bundles = {}
    for name in ("current", "legacy"):
        target = out_dir / f"plausible-{name}.js"
        done = subprocess.run(
            [str(BROWSER_DIR / "node_modules" / ".bin" / "esbuild"), f"entry-{name}.js",
             "--bundle", "--format=iife", f"--outfile={target}"],
            cwd=BROWSER_DIR, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        bundles[f"/vendor/plausible-{name}.js"] = target.read_bytes()
    return bundles


def wait_until(predicate: Callable[[], bool], what: str, limit_s: float = 10.0) -> None:
    """Poll `predicate` until true, or fail naming `what`."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
