"""Browser fixtures for the dashboard tests: Debian's chromium, a real `crumbless serve`.

Chromium is the e2e session's (tests/e2e/conftest.py: Debian's package, installed with
apt-get when missing and we are root, driven by Playwright with executable_path; no
browser download). Without it the tests fail with one line saying what to install.
Screenshots go to tests/e2e/ui/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import free_port

CLI = [sys.executable, "-m", "crumbless.cli"]
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    """The e2e session's headless Debian chromium (tests/e2e/conftest.py, ensure_chromium)."""
    return chromium


class Serve:
    """A `crumbless serve` subprocess on a loopback port with its own data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        env = {**os.environ, "CRUMBLESS_BATCH_INTERVAL": "0.1"}
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir",
             str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read().decode()  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health",
                                            timeout=2):
                    if (data_dir / "server.json").exists():
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError("crumbless serve did not answer within 90 s")

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*CLI, *args, "--data-dir", str(self.data_dir)], input=stdin,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = Serve(tmp_path_factory.mktemp("ui-serve") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
