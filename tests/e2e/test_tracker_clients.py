"""Real Umami and Matomo client libraries (npm `@umami/node`, `matomo-tracker`) against a real
`crumbless serve`: what a site switching its endpoint would send lands as crumbless events.

The clients are installed from the pinned tests/e2e/clients/package-lock.json (`npm ci`).
After SIGTERM (which drains) the stored rows are read from the chdb data directory in a
subprocess: chdb lets one process open one path, and this pytest process may hold another.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve import FIREFOX, Server

CLIENTS = Path(__file__).parent / "clients"
WEBSITE = "7f3c2a10-5b7e-4c1d-9a55-0e6d1f2b8c91"
MATOMO_IDENTIFYING = ("0123456789abcdef", "alice@example.com", "fedcba9876543210",
                      "2020-01-02 03:04:05", "203.0.113.77", "1577934245", "1577934246",
                      "Pixel 7")
DUMP_ROWS = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1] + "/clickhouse")
tables = [r[0] for r in client.query("SELECT name FROM system.tables WHERE database = "
          "'crumbless' AND engine NOT LIKE '%View'").result_rows]
dump = {}
for table in tables:  # aggregate states are hashes and counts: every other column is read
    columns = [r[0] for r in client.query("SELECT name FROM system.columns WHERE database = "
               "'crumbless' AND table = {t:String} AND type NOT LIKE 'AggregateFunction%'",
               parameters={"t": table}).result_rows]
    result = client.query(f"SELECT {', '.join(columns)} FROM crumbless.{table}")
    dump[table] = [dict(zip(result.column_names, row)) for row in result.result_rows]
print(json.dumps(dump, default=str))
"""


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable; fails saying what to install when node or npm is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for the tracker client tests: "
                    "apt-get install nodejs npm", pytrace=False)
    return node


@pytest.fixture(scope="session")
def node_clients(node: str) -> Path:
    """tests/e2e/clients with its pinned node_modules installed (npm ci from the lock)."""
    npm = str(shutil.which("npm"))
    installed = CLIENTS / "node_modules" / ".package-lock.json"
    lock = CLIENTS / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {CLIENTS} failed: {done.stderr.strip().splitlines()[-1:]}",
                        pytrace=False)
    return CLIENTS


@pytest.fixture
def server(tmp_path: Path) -> Any:
    srv = Server(tmp_path / "data")
    srv.start()
    srv.cli("sites", "add", "example.com", "--no-consent", "full", "--umami-website-id",
            WEBSITE, "--matomo-site-id", "5", "--matomo-currency", "EUR")
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.kill()


def run_node(node: str, clients: Path, script: str, *args: str) -> str:
    done = subprocess.run([node, str(clients / script), *args], cwd=clients,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored_rows(data_dir: Path) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Every row of every crumbless table, and the same rows as one text to search."""
    done = subprocess.run([sys.executable, "-c", DUMP_ROWS, str(data_dir.resolve())],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stdout


def events_of(dump: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return sorted((e["site"], e["name"], e["pathname"], e["referrer"], e["utm_source"],
                   e["utm_campaign"], json.dumps(e["props"], sort_keys=True))
                  for e in dump["events"])


def test_umami_node_client_events_land_with_site_path_referrer_name_and_props(
        server: Server, node: str, node_clients: Path) -> None:
    answers = json.loads(run_node(node, node_clients, "umami_client.js", server.url, WEBSITE))
    # Umami's clients parse the answer as JSON; identify (user identification) is discarded.
    assert answers == [{"status": 200, "body": {}}] * 4
    assert server.stop() == 0  # SIGTERM drains every acknowledged event
    dump, text = stored_rows(server.data_dir)
    ref = "https://news.example/item"
    assert events_of(dump) == [
        ("example.com", "newsletter", "/", ref, "newsletter", "", '{"list": "weekly"}'),
        ("example.com", "pageview", "/pricing", ref, "newsletter", "", "{}"),
        ("example.com", "signup", "/pricing", ref, "newsletter", "",
         '{"plan": "pro", "seats": "3"}'),
    ]
    assert all(e["visitor_id"] not in (0, "0") for e in dump["events"])
    for not_kept in ("alice@example.com", "Pricing plans", "1920x1080", "session=abc"):
        assert not_kept not in text


def test_matomo_tracker_hits_and_bulk_land_and_visitor_identifying_fields_do_not(
        server: Server, node: str, node_clients: Path) -> None:
    out = run_node(node, node_clients, "matomo_client.js", server.url + "/matomo.php", "5", FIREFOX)
    assert json.loads(out) == {"status": "success", "tracked": 3, "invalid": 0}
    assert server.stop() == 0
    dump, text = stored_rows(server.data_dir)
    ref = "https://search.example/"
    assert events_of(dump) == [
        ("example.com", "Goal 2", "/thanks", ref, "", "spring", '{"goal": "2"}'),
        ("example.com", "Outbound Link: Click", "/docs", ref, "", "spring",
         '{"url": "https://partner.example/offer"}'),
        ("example.com", "Video: Play", "/docs", ref, "", "spring",
         '{"action": "Play", "category": "Video", "name": "Intro", "value": "12"}'),
        ("example.com", "pageview", "/docs", ref, "", "spring", "{}"),
        ("example.com", "pageview", "/pricing", ref, "", "spring", "{}"),
    ]
    goal = next(e for e in dump["events"] if e["name"] == "Goal 2")
    assert (float(goal["revenue_amount"]), goal["revenue_currency"]) == (49.9, "EUR")
    assert {e["browser"] for e in dump["events"]} == {"Firefox"}  # from Matomo's ua parameter
    for value in (*MATOMO_IDENTIFYING, "Documentation"):
        assert value not in text, value
