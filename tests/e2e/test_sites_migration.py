"""Migration 4 on a real data directory: sites registered before it keep every policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sinks.migrations import MIGRATIONS

CLI = [sys.executable, "-m", "crumbless.cli"]
PREVIOUS = max(m.version for m in MIGRATIONS if m.version < 4)

# Runs in its own process (chdb lets one process hold a path): builds the schema as it was
# before migration 4, writes sites the way the registry wrote them then, and prints what
# the registry answered then for each domain.
BUILD_OLD = f"""
import json, sys
from contract.settings import Settings
from sinks.client import connect
from sinks.migrations import migrate
data = sys.argv[1]
settings = Settings(data_dir=__import__("pathlib").Path(data))
client = connect(settings.dsn, settings.database)
assert migrate(client, settings, upto={PREVIOUS}) == list(range(1, {PREVIOUS} + 1))
old = ["domain", "no_consent", "store_truncated_ip", "city_geo", "deleted", "version"]
client.insert("sites", [["a.example", "full", 1, 0, 0, 1],
                        ["b.example", "anonymous", 0, 1, 0, 2],
                        ["b.example", "drop", 0, 1, 0, 3],      # b updated: drop wins
                        ["gone.example", "full", 0, 0, 0, 4],
                        ["gone.example", "drop", 0, 0, 1, 5]],  # gone removed
              column_names=old)
rows = client.query('''SELECT domain, argMax(no_consent, version),
    argMax(store_truncated_ip, version), argMax(city_geo, version), argMax(deleted, version)
    FROM sites GROUP BY domain ORDER BY domain''').result_rows
print(json.dumps([{{"domain": d, "no_consent": nc, "store_truncated_ip": bool(ip),
                   "city_geo": bool(city)}} for d, nc, ip, city, deleted in rows
                  if not deleted]))
"""


def cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run([*CLI, *args, "--data-dir", str(data_dir)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_migration_4_keeps_every_site_and_its_answers_and_adds_empty_mappings(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    built = subprocess.run([sys.executable, "-c", BUILD_OLD, str(data_dir)],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    before = json.loads(built.stdout)
    assert [s["domain"] for s in before] == ["a.example", "b.example"]

    later = [m.version for m in MIGRATIONS if m.version >= 4]
    assert cli(data_dir, "migrate") == f"applied migrations: {later}"
    after = json.loads(cli(data_dir, "sites", "list", "--json"))
    assert [{k: s[k] for k in before[0]} for s in after] == before
    assert all((s["umami_website_id"], s["matomo_site_id"], s["matomo_currency"]) ==
               ("", 0, "USD") for s in after)
    assert cli(data_dir, "migrate") == "schema is up to date"

    out = cli(data_dir, "sites", "add", "a.example", "--no-consent", "full",
              "--store-truncated-ip", "--umami-website-id",
              "50429A93-8479-4073-BE80-D5D29C09C2EC", "--matomo-site-id", "3")
    assert "Umami website id: 50429a93-8479-4073-be80-d5d29c09c2ec" in out
    assert "Matomo site id: 3" in out
    taken = subprocess.run([*CLI, "sites", "add", "b.example", "--matomo-site-id", "3",
                            "--data-dir", str(data_dir)], capture_output=True, text=True,
                           timeout=120)
    assert taken.returncode == 2
    assert "Matomo site id 3 is already mapped to a.example" in taken.stderr
    mapped = {s["domain"]: s for s in json.loads(cli(data_dir, "sites", "list", "--json"))}
    assert {k: mapped["a.example"][k] for k in before[0]} == before[0]
    assert mapped["b.example"]["no_consent"] == "drop"  # untouched by the refused change
