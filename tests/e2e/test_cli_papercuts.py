"""Small things a new user meets running the CLI: no terminal for a password, a closed
pipe, a data directory created where they did not expect one, an audit actor without
$USER. Each is one short line (or silence), never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.e2e.harness import CLI


def crumbless(*args: str, data: Path, env: dict[str, str] | None = None,
              stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args, "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=120, stdin=stdin, env=env)


def test_users_add_without_a_terminal_says_how_to_pass_the_password(tmp_path: Path) -> None:
    done = crumbless("users", "add", "a@example.com", data=tmp_path / "data")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("crumbless: no terminal to ask for the password: pipe it in with "
                           "--password-stdin"), done.stderr
    assert "Traceback" not in done.stderr and "EOFError" not in done.stderr


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert crumbless("sites", "add", "example.com", data=data).returncode == 0
    read, write = os.pipe()
    os.close(read)  # as `| head` that has already left
    try:
        proc = subprocess.run([*CLI, "sites", "list", "--data-dir", str(data)], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_a_new_data_directory_is_named_once_on_stderr(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere" / "data"
    first = crumbless("sites", "list", data=data)
    assert first.returncode == 0
    assert f"crumbless: created a new data directory {data.resolve()} (pass --data-dir to " \
           "use another)" in first.stderr.splitlines()
    assert "no sites registered yet" in first.stdout  # stdout stays the answer only
    again = crumbless("sites", "list", data=data)
    assert "created a new data directory" not in again.stderr


def test_the_audit_actor_without_user_names_the_cli_and_uid(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME")}
    done = crumbless("retention", "apply", "--tier", "raw", "--days", "14", "--yes",
                     data=data, env=env)
    assert done.returncode == 0, done.stderr
    audit = crumbless("retention", "audit", "--json", data=data).stdout
    assert f'"actor": "cli-uid{os.getuid()}@{socket.gethostname()}"' in audit
