"""Browser fixtures for the dashboard tests: Debian's chromium, a real `crumbless serve`.

Chromium comes from Debian (`apt-get install chromium`, done here when missing and we are
root) and is driven by Playwright with executable_path: no browser is downloaded. Without
it the tests fail with one line saying what to install; they are never skipped.
Screenshots go to tests/e2e/ui/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve import free_port

CHROMIUM = "/usr/bin/chromium"
CLI = [sys.executable, "-m", "crumbless.cli"]
ARTIFACTS = Path(__file__).parent / "artifacts"


def ensure_chromium() -> str:
    """The path of Debian's chromium, installed with apt-get when missing and we are root."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "update", "-q"], capture_output=True, env=env, timeout=900)
        subprocess.run([apt, "install", "-y", "-q", "chromium"], capture_output=True, env=env,
                       timeout=900)
    if not Path(CHROMIUM).exists():
        raise AssertionError("Chromium is missing: run `apt-get install -y chromium` (as root)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium under Playwright."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


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
