"""Decide whether a beacon came from a bot, a prefetch or an automated browser.

:class:`BotFilter` returns a short kebab-case reason (for a per-reason drop counter) or
``None`` for traffic that looks human. Checks run cheapest first:

==================== ==========================================================
reason               when
==================== ==========================================================
empty-user-agent     the User-Agent is missing or blank
prefetch             ``Purpose: prefetch``, ``Sec-Purpose: prefetch[;prerender]``,
                     ``X-Moz: prefetch`` or ``X-Purpose: preview`` (the page was
                     loaded speculatively, nobody has seen it yet)
headless-browser     HeadlessChrome, PhantomJS, SlimerJS or HtmlUnit in the UA
automation           a client-hint header (``Sec-CH-UA``, ``Sec-CH-UA-Full-Version-List``)
                     announcing HeadlessChrome, or a Puppeteer / Playwright /
                     Selenium / WebDriver token in the UA
crawler-user-agent   crawlerdetect's pattern list matches the UA (search engine
                     bots, curl, python-requests, Go-http-client, uptime checkers...)
==================== ==========================================================

A plain ``Electron/`` token is *not* treated as a bot: Slack, Teams, VS Code, Notion
and friends are Electron apps used by people, and the Electron scrapers that once
announced themselves (Nightmare) are long unmaintained. crawlerdetect still flags some
Electron apps by their own token (e.g. ``slack/``).

crawlerdetect costs ~150-280 µs per string, so its verdict is cached per user agent.
A ``CrawlerDetect`` instance keeps per-call state (``matches``) and is not documented
as thread-safe, so the one instance is used under a lock; regex matching holds the GIL
anyway, so the lock costs no parallelism, and cache hits never take it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

from crawlerdetect import CrawlerDetect

__all__ = ["BotFilter", "HeaderItems"]


class HeaderItems(Protocol):
    """Anything with ``items()`` of (name, value): werkzeug ``Headers`` is not a Mapping."""

    def items(self) -> Iterable[tuple[str, str]]: ...


# Bot tokens sit near the start of a user agent; longer strings are cut for the cache key.
_MAX_USER_AGENT_LENGTH = 1024

_PREFETCH_HEADERS: dict[str, tuple[str, ...]] = {
    "purpose": ("prefetch", "preview"),
    "sec-purpose": ("prefetch", "prerender"),
    "x-moz": ("prefetch",),
    "x-purpose": ("preview", "prefetch"),
}
_CLIENT_HINT_HEADERS = ("sec-ch-ua", "sec-ch-ua-full-version-list")
_INTERESTING_HEADERS = frozenset(_PREFETCH_HEADERS) | frozenset(_CLIENT_HINT_HEADERS)

_HEADLESS_TOKENS = ("headlesschrome", "phantomjs", "slimerjs", "htmlunit")
_AUTOMATION_TOKENS = ("puppeteer", "playwright", "selenium", "webdriver")


class BotFilter:
    """Classify a request as bot (with a reason) or human; safe to share between threads."""

    def __init__(self, cache_size: int = 50_000) -> None:
        """Set up crawlerdetect behind an LRU cache of ``cache_size`` user agents."""
        self._detector = CrawlerDetect()
        self._detector_lock = threading.Lock()
        self._is_crawler = functools.lru_cache(maxsize=cache_size)(self._detect_crawler)

    def __call__(self, user_agent: str, headers: Mapping[str, str] | HeaderItems) -> str | None:
        """Return the reason this request is a bot (short, kebab-case), or None for a human."""
        user_agent = user_agent.strip()[:_MAX_USER_AGENT_LENGTH]
        if not user_agent:
            return "empty-user-agent"
        wanted = _lowercase_headers(headers)
        if _is_prefetch(wanted):
            return "prefetch"
        lowered = user_agent.lower()
        if any(token in lowered for token in _HEADLESS_TOKENS):
            return "headless-browser"
        if _is_automation(lowered, wanted):
            return "automation"
        if self._is_crawler(user_agent):
            return "crawler-user-agent"
        return None

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the crawlerdetect verdict cache."""
        return self._is_crawler.cache_info()

    def _detect_crawler(self, user_agent: str) -> bool:
        """Ask crawlerdetect (uncached, serialised: the instance is not thread-safe)."""
        with self._detector_lock:
            return bool(self._detector.is_crawler(user_agent))


def _lowercase_headers(headers: Mapping[str, str] | HeaderItems) -> dict[str, str]:
    """Pick the headers the filter reads, keyed by lowercase name, values lowercased."""
    # One pass over the items works for a plain dict in any case and for werkzeug Headers.
    return {
        name.lower(): str(value).lower()
        for name, value in headers.items()
        if name.lower() in _INTERESTING_HEADERS
    }


def _is_prefetch(headers: Mapping[str, str]) -> bool:
    """True when a header says the browser loaded the page speculatively."""
    for name, markers in _PREFETCH_HEADERS.items():
        value = headers.get(name)
        if value and any(marker in value for marker in markers):
            return True
    return False


def _is_automation(lowered_user_agent: str, headers: Mapping[str, str]) -> bool:
    """True when the UA or a client hint names a browser-automation tool."""
    if any(token in lowered_user_agent for token in _AUTOMATION_TOKENS):
        return True
    return any("headlesschrome" in headers.get(name, "") for name in _CLIENT_HINT_HEADERS)
