"""`crumbless keys list / revoke` and `crumbless goals add / list / remove` as an operator
runs them: through the running server and offline. A revoked key stops answering at once;
removing a site revokes its keys, so adding the site again does not bring old keys back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CLI, Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.start()
    yield srv
    srv.kill()


def query_status(srv: Server, key: str) -> int:
    status, _ = srv.post("/api/v2/query", {"site_id": "example.com", "date_range": "day",
                                           "metrics": ["visitors"]},
                         {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    return status


def test_keys_are_listed_without_the_key_revoked_by_id_or_key_and_die_with_their_site(
        server: Server) -> None:
    server.cli("sites", "add", "example.com")
    server.cli("sites", "add", "other.org")
    first = server.cli("keys", "create", "--site", "example.com")
    second = server.cli("keys", "create", "--site", "example.com")
    theirs = server.cli("keys", "create", "--site", "other.org")
    assert query_status(server, first) == query_status(server, second) == 200
    listed = json.loads(server.cli("keys", "list", "--site", "example.com", "--json"))
    assert [k["site"] for k in listed] == ["example.com"] * 2
    assert all(not k["revoked"] and len(k["id"]) == 12 for k in listed)
    text = server.cli("keys", "list")
    assert "other.org" in text and "live" in text
    for key in (first, second, theirs):  # never the key, nor a part of it
        assert key not in text and key[4:16] not in text
    # revoke by id (through the running server): 401 at once, the other key still works
    revoked = server.cli("keys", "revoke", listed[0]["id"])
    assert revoked == f"revoked key {listed[0]['id']} of example.com"
    statuses = {query_status(server, first), query_status(server, second)}
    assert statuses == {401, 200}
    # removing the site revokes its keys: re-adding it does not revive them
    server.cli("sites", "remove", "example.com")
    server.cli("sites", "add", "example.com")
    assert query_status(server, first) == query_status(server, second) == 401
    assert all(k["revoked"] for k in json.loads(
        server.cli("keys", "list", "--site", "example.com", "--json")))
    # offline (no server): list and revoke by the key itself
    assert server.stop() == 0
    assert not json.loads(server.cli("keys", "list", "--site", "other.org", "--json"))[0][
        "revoked"]
    assert server.cli("keys", "revoke", theirs).endswith("of other.org")
    assert json.loads(server.cli("keys", "list", "--site", "other.org", "--json"))[0]["revoked"]
    unknown = subprocess.run([*CLI, "keys", "revoke", "cbl_nope", "--data-dir",
                              str(server.data_dir)], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "crumbless: no API key matches this key"


def test_goals_add_list_remove_through_the_server_and_offline(server: Server) -> None:
    server.cli("sites", "add", "example.com")
    out = server.cli("goals", "add", "example.com", "--event", "Signup", "--currency", "eur")
    assert out == "goal 'Signup' of example.com: custom event Signup, revenue in EUR"
    assert server.cli("goals", "add", "example.com", "--page", "/pricing") == \
        "goal 'Visit /pricing' of example.com: pageviews of /pricing"
    listed = json.loads(server.cli("goals", "list", "example.com", "--json"))
    assert [(g["name"], g["kind"], g["currency"]) for g in listed] == [
        ("Signup", "event", "EUR"), ("Visit /pricing", "page", "")]
    bad = subprocess.run([*CLI, "goals", "add", "example.com", "--page", "pricing",
                          "--data-dir", str(server.data_dir)], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--page 'pricing': a path starting with /" in bad.stderr
    assert server.stop() == 0
    assert server.cli("goals", "remove", "example.com", "Signup") == \
        "removed goal 'Signup' of example.com"
    assert "Visit /pricing" in server.cli("goals", "list", "example.com")
    assert "Signup" not in server.cli("goals", "list", "example.com")
