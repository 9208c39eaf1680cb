"""Fixtures of the browser tests: one Chromium per session, one site server per session.

Each browser test module starts its own `crumbless serve` (see harness.Server) and reads
what was stored after stopping it with SIGTERM.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import (
    DESKTOP_CHROME,
    Site,
    bundle_plausible_trackers,
    ensure_chromium,
)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's headless chromium driven by Playwright (never a downloaded browser)."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True,
            # Every *.test host is the loopback site server: real-looking, distinct origins.
            # The UA switch also covers keepalive requests that outlive their page, which
            # the per-context override misses (the edge would drop them as headless).
            args=["--host-resolver-rules=MAP *.test 127.0.0.1", "--no-sandbox",
                  f"--user-agent={DESKTOP_CHROME}"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """The loopback HTTP server of the test pages (shop.test, news.test, localhost)."""
    server = Site()
    yield server
    server.close()


@pytest.fixture(scope="session")
def plausible_bundles(tmp_path_factory: pytest.TempPathFactory, site: Site) -> dict[str, bytes]:
    """The official Plausible trackers from npm, bundled and served under /vendor/."""
    bundles = bundle_plausible_trackers(tmp_path_factory.mktemp("vendor"))
    site.assets.update(bundles)
    return bundles


def new_context(browser: Any, **options: Any) -> Any:
    """A fresh browser context (own cookies and storage) browsing as desktop Chrome."""
    return browser.new_context(user_agent=DESKTOP_CHROME, **options)
