"""`crumbless serve` as a user runs it: a real server process, the CLI beside it, SIGTERM."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


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
    assert json.loads(server.cli("sites", "list", "--json"))[0]["domain"] == "example.com"
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
    assert json.loads(server.cli("sites", "list", "--json"))[0]["domain"] == "example.com"
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
