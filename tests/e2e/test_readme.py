"""The README's walkthrough, pasted as one block into a shell next to a real `crumbless
serve`, answers with the right numbers (issue 14). The block is read from README.md, so
the README cannot drift from what works."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    """The first ```sh block after "## Run it" that queries the Stats API."""
    section = README.read_text().split("## Run it", 1)[1]
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        if "/api/v2/query" in block:
            return str(block)
    raise AssertionError("README.md has no walkthrough block querying /api/v2/query")


@pytest.fixture
def readme_server(tmp_path: Path) -> Iterator[Server]:
    # As `make run` starts it: default settings (batch interval, k), data in ./data.
    srv = Server(tmp_path / "data", env={})
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def test_the_readme_walkthrough_pasted_as_one_block_counts_five_visitors(
        readme_server: Server, tmp_path: Path) -> None:
    block = walkthrough()
    assert ".venv/bin/crumbless" in block and "http://127.0.0.1:8000" in block
    script = (block.replace(".venv/bin/crumbless",
                            f"{shlex.quote(sys.executable)} -m crumbless.cli")
              .replace("http://127.0.0.1:8000", readme_server.url))
    bash = shutil.which("bash")
    assert bash, "the walkthrough is a shell block: install bash"
    done = subprocess.run([bash, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[:5] == ["202"] * 5, done.stdout
    answer = json.loads(lines[-1])
    assert answer["results"][0]["metrics"] == [5, 5], answer
    assert "Traceback" not in done.stderr
