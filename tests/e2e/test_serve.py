"""`crumbless serve` as a user runs it: a real gunicorn process, the CLI beside it, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "crumbless.cli"]
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `crumbless serve` subprocess on loopback with its own data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.host = host
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"
        self.env = env or {}
        self.log_path = data_dir.parent / f"serve-{self.port}.log"  # every line it writes
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "CRUMBLESS_BATCH_INTERVAL": "0.1", "CRUMBLESS_K_ANONYMITY": "1",
               **self.env}
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--host", self.host, "--port", str(self.port), "--data-dir",
             str(self.data_dir)], stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
            env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.log_path.read_text()}")
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.kill()


def send_pageview(srv: Server, path: str, ip_hint: int) -> int:
    status, _ = srv.post("/api/event", {"name": "pageview", "url": f"https://example.com{path}",
                                        "domain": "example.com"},
                         {"Content-Type": "text/plain", "User-Agent": FIREFOX + f" v{ip_hint}"})
    return status


def pageviews(srv: Server, key: str) -> int:
    status, answer = srv.post("/api/v2/query", {"site_id": "example.com", "date_range": "day",
                                                "metrics": ["pageviews"]},
                              {"Authorization": f"Bearer {key}",
                               "Content-Type": "application/json"})
    assert status == 200, answer
    return int(answer["results"][0]["metrics"][0]) if answer["results"] else 0


def test_serve_accepts_a_beacon_and_answers_a_query_and_cli_cooperates(server: Server) -> None:
    # The CLI runs while serve holds the chdb path: it must go through the server.
    assert "registered example.com" in server.cli("sites", "add", "example.com",
                                                  "--no-consent", "full")
    assert json.loads(server.cli("sites", "list"))[0]["domain"] == "example.com"
    key = server.cli("keys", "create", "--site", "example.com")
    assert key.startswith("cbl_")
    assert send_pageview(server, "/hello", 1) == 202
    deadline = time.monotonic() + 30
    while pageviews(server, key) != 1:
        assert time.monotonic() < deadline, "the event never reached the Stats API"
        time.sleep(0.2)
    status, answer = server.post("/api/event", {"name": "pageview"},
                                 {"Content-Type": "text/plain"})
    assert status == 400 and answer["error"] == "url is required"


def test_sigterm_drains_every_acknowledged_event_and_data_survives_restart(
        server: Server) -> None:
    server.cli("sites", "add", "example.com", "--no-consent", "full")
    key = server.cli("keys", "create", "--site", "example.com")
    for i in range(40):
        assert send_pageview(server, f"/p{i % 4}", i) == 202
    assert server.stop() == 0  # straight after the last 202: the drain must write them all
    assert not (server.data_dir / "server.json").exists()
    # Nothing runs now: the CLI opens the data directory itself.
    assert json.loads(server.cli("sites", "list"))[0]["domain"] == "example.com"
    server.start()
    assert pageviews(server, key) == 40
    assert server.stop() == 0


def test_retention_and_privacy_notice_through_the_running_server(server: Server) -> None:
    server.cli("sites", "add", "example.com", "--no-consent", "full")
    assert send_pageview(server, "/x", 1) == 202
    shown = json.loads(server.cli("retention", "show", "--json"))
    assert {t["table"] for t in shown["tables"]} >= {"events", "sessions", "rollup_daily"}
    plan = json.loads(server.cli("retention", "plan", "--tier", "raw", "--days", "14",
                                 "--site", "example.com", "--json"))
    assert (plan["old"], plan["new"]) == (30, 14)
    out = server.cli("retention", "apply", "--tier", "raw", "--days", "14", "--site",
                     "example.com", "--yes", "--actor", "e2e")
    assert "events: 0 rows removed" in out
    assert "e2e: raw for example.com 30 → 14" in server.cli("retention", "audit")
    notice = server.cli("privacy-notice", "--site", "example.com")
    assert "| individual page views and events | 14 days |" in notice
