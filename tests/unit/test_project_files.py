"""What a contributor and a packager meet first: pyproject and the task runner (issue 14)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from crumbless.testing import kafka

ROOT = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "AGPL-3.0-or-later"
    requires = project["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d|\d{3,})(\.\d+)*", r) for r in requires)


def make_target(name: str) -> tuple[str, str]:
    """(prerequisites, recipe) of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{name}:([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.M)
    assert match, f"Makefile has no {name} target"
    return match.group(1).split("##")[0], match.group(2)


def test_make_test_runs_ruff_and_mypy_first() -> None:
    prerequisites, _ = make_target("test")
    assert "lint" in prerequisites.split()
    _, lint = make_target("lint")
    assert "ruff check" in lint
    assert "mypy contract collector processors sinks dashboards crumbless" in lint
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["strict"] is True


def test_distclean_removes_the_kafka_jar_cache_the_readme_names() -> None:
    cache = kafka._default_cache_dir()
    assert cache.parent == Path.home() / ".cache" / "crumbless"
    prerequisites, recipe = make_target("distclean")
    assert "clean" in prerequisites.split()
    assert "rm -rf $(HOME)/.cache/crumbless" in recipe
    assert "~/.cache/crumbless/" in (ROOT / "README.md").read_text()


def test_make_run_takes_the_port_and_data_dir_the_readme_names() -> None:
    """`make run PORT=… DATA_DIR=…` reaches `crumbless serve` (make -n prints the recipe)."""
    import shutil
    import subprocess

    make = shutil.which("make")
    assert make, "the task runner is make: install make"
    done = subprocess.run([make, "-n", "-W", "pyproject.toml", "run", "PORT=8123",
                           "DATA_DIR=/tmp/crumbless-x"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert "crumbless serve --host 127.0.0.1 --port 8123 --data-dir /tmp/crumbless-x" in \
        done.stdout, done.stdout + done.stderr
    assert "make run PORT=8080 DATA_DIR=" in (ROOT / "README.md").read_text()
