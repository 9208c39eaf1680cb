"""Every `crumbless` command as a new user first runs it: on a fresh data directory, on
one that does not exist yet, and on one that cannot be created. Whatever happens, the
user sees at most one line of error, never a Python traceback (issue 14)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import free_port

CLI = [sys.executable, "-m", "crumbless.cli"]
ADMIN = [
    ["migrate"], ["wait", "--timeout", "1"], ["sites", "add", "example.com"],
    ["sites", "list"], ["sites", "remove", "nothing.example"], ["retention", "show"],
    ["retention", "plan", "--tier", "raw", "--days", "14"],
    ["retention", "apply", "--tier", "raw", "--days", "14", "--yes", "--actor", "t"],
    ["retention", "audit"], ["privacy-notice"], ["keys", "create", "--site", "example.com"],
]
SERVERS = [["serve"], ["collector"], ["dashboard"], ["processor"]]
CLOSED_KAFKA = ["--kafka-bootstrap", "127.0.0.1:1"]  # nothing listens on port 1


@dataclass
class Ran:
    argv: list[str]
    status: int
    output: str


def run_admin(argv: list[str], data_dir: Path) -> Ran:
    done = subprocess.run([*CLI, *argv, "--data-dir", str(data_dir)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    return Ran(argv, done.returncode, done.stdout + done.stderr)


def run_server(argv: list[str], data_dir: Path) -> Ran:
    """Start a long-running role; stop it once it answers (or after a while); collect output."""
    port = free_port()
    proc = subprocess.Popen([*CLI, *argv, "--data-dir", str(data_dir), "--port", str(port),
                             *CLOSED_KAFKA], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + (8 if argv == ["processor"] else 60)
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                break
        except OSError:
            time.sleep(0.3)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    return Ran(argv, proc.returncode, output)


def run_all(data_dir: Path, *, one_dir_each: bool) -> list[Ran]:
    """Every command; each on its own copy of the situation when `one_dir_each`."""
    jobs = [(run_admin, argv) for argv in ADMIN] + [(run_server, argv) for argv in SERVERS]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(fn, argv, data_dir / f"d{i}" / "data" if one_dir_each
                               else data_dir)
                   for i, (fn, argv) in enumerate(jobs)]
        return [f.result() for f in futures]


def assert_no_traceback(results: list[Ran]) -> None:
    for ran in results:
        assert "Traceback" not in ran.output, (ran.argv, ran.output)
        assert ran.status in (0, 1, 2, 4, -signal.SIGTERM), (ran.argv, ran.status, ran.output)


def test_every_command_on_a_missing_directory_creates_it_private_and_never_shows_a_traceback(
        tmp_path: Path) -> None:
    results = run_all(tmp_path, one_dir_each=True)
    assert_no_traceback(results)
    by_command = {" ".join(r.argv): r for r in results}
    for name in ("migrate", "sites add example.com", "sites list", "retention show",
                 "retention audit", "retention plan --tier raw --days 14"):
        assert by_command[name].status == 0, by_command[name].output
    assert "registered example.com" in by_command["sites add example.com"].output
    assert "no sites registered yet" in by_command["sites list"].output
    assert "no retention changes recorded yet" in by_command["retention audit"].output
    assert "with the row" in by_command["retention show"].output
    assert "--site is required" in by_command["privacy-notice"].output
    for i, ran in enumerate(results):
        data = tmp_path / f"d{i}" / "data"
        if ran.argv[0] == "wait":  # only looks for a running server; creates nothing
            assert not data.exists()
            continue
        assert data.is_dir() and data.stat().st_mode & 0o777 == 0o700, data


def test_every_command_on_a_fresh_directory_shares_the_schema_it_created(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    results = [run_admin(argv, data) for argv in (
        ["sites", "add", "example.com", "--no-consent", "full"], ["sites", "list"],
        ["keys", "create", "--site", "example.com"], ["privacy-notice"],
        ["retention", "apply", "--tier", "raw", "--days", "14", "--yes", "--actor", "t"],
        ["retention", "audit"])]
    assert_no_traceback(results)
    assert [r.status for r in results] == [0] * len(results), [r.output for r in results]
    assert "example.com  full" in results[1].output
    assert "Web analytics on example.com" in results[3].output
    assert "t: raw for (default) 30 → 14" in results[5].output
    assert data.stat().st_mode & 0o777 == 0o700  # tightened, not only created so


def unusable_directories(tmp_path: Path) -> list[Path]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    dirs = [blocker / "data"]  # cannot be created, even by root
    if os.geteuid() != 0:  # root ignores permissions, so this case only means something
        locked = tmp_path / "locked"  # for other users
        locked.mkdir(mode=0o500)
        dirs.append(locked / "data")
    return dirs


def test_every_command_on_a_directory_that_cannot_be_created_says_so_in_one_line(
        tmp_path: Path) -> None:
    for data in unusable_directories(tmp_path):
        results = run_all(data, one_dir_each=False)
        assert_no_traceback(results)
        for ran in results:
            if ran.argv[0] == "wait":
                assert ran.status == 1 and "no server is running" in ran.output
                continue
            assert ran.status in (2, 4), (ran.argv, ran.output)
            assert f"crumbless: data_dir {data}: cannot create or use it" in ran.output, \
                (ran.argv, ran.output)


@pytest.mark.parametrize("argv", [*ADMIN, *SERVERS])
def test_each_command_help_shows_only_its_own_flags(argv: list[str]) -> None:
    from crumbless.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[argv[0]]  # type: ignore[union-attr]
    if argv[0] in ("sites", "retention", "keys"):
        sub = sub._subparsers._group_actions[0].choices[argv[1]]
    text = sub.format_help()
    assert "--data-dir" in text
    if argv[0] in ("serve", "collector", "dashboard", "processor", "migrate"):
        assert "--trusted-proxies TRUSTED_PROXIES" in text
        assert "()" not in text  # an empty list's default reads "none"
    else:
        assert "--threads" not in text and "--trusted-proxies" not in text
        assert "--max-body-bytes" not in text


def test_a_usage_error_is_short(capsys: pytest.CaptureFixture[str]) -> None:
    from crumbless.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["retention", "plan"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 3, err
    assert err[-1].endswith("the following arguments are required: --tier, --days")
