"""collector.bots: BotFilter reasons for bots, prefetches and automation."""

from __future__ import annotations

import concurrent.futures

import pytest
from werkzeug.datastructures import Headers

from collector.bots import BotFilter

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36"
)
PHANTOMJS = (
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
    "PhantomJS/2.1.1 Safari/538.1"
)
ELECTRON_APP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Electron/28.0.0 Chrome/120.0.6099.56 Safari/537.36"
)


@pytest.fixture(scope="module")
def is_bot() -> BotFilter:
    return BotFilter()


@pytest.mark.parametrize("user_agent", [FIREFOX, CHROME, SAFARI_IPHONE])
def test_ordinary_browsers_are_human(is_bot: BotFilter, user_agent: str) -> None:
    assert is_bot(user_agent, {"Accept": "*/*"}) is None


@pytest.mark.parametrize(
    "user_agent",
    [GOOGLEBOT, BINGBOT, "curl/8.4.0", "python-requests/2.31.0", "Go-http-client/1.1"],
)
def test_crawlers_and_http_libraries_are_crawler_user_agents(
    is_bot: BotFilter, user_agent: str
) -> None:
    assert is_bot(user_agent, {}) == "crawler-user-agent"


@pytest.mark.parametrize("user_agent", ["", "   ", "\t"])
def test_missing_user_agent_is_empty_user_agent(is_bot: BotFilter, user_agent: str) -> None:
    assert is_bot(user_agent, {}) == "empty-user-agent"


@pytest.mark.parametrize("user_agent", [HEADLESS_CHROME, PHANTOMJS])
def test_headless_browsers_are_named_as_such(is_bot: BotFilter, user_agent: str) -> None:
    assert is_bot(user_agent, {}) == "headless-browser"


def test_headless_chrome_in_client_hints_is_automation(is_bot: BotFilter) -> None:
    hints = '"HeadlessChrome";v="120", "Chromium";v="120", "Not_A Brand";v="24"'
    assert is_bot(CHROME, {"sec-ch-ua": hints}) == "automation"


def test_automation_tool_token_in_user_agent_is_automation(is_bot: BotFilter) -> None:
    assert is_bot(CHROME + " Puppeteer", {}) == "automation"


def test_plain_electron_app_is_human(is_bot: BotFilter) -> None:
    assert is_bot(ELECTRON_APP, {}) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Purpose": "prefetch"},
        {"purpose": "Prefetch"},
        {"SEC-PURPOSE": "prefetch"},
        {"Sec-Purpose": "prefetch;prerender"},
        {"x-moz": "prefetch"},
        {"X-Purpose": "preview"},
        Headers([("sec-purpose", "prefetch")]),
    ],
)
def test_prefetch_headers_match_whatever_their_case(
    is_bot: BotFilter, headers: dict[str, str] | Headers
) -> None:
    assert is_bot(FIREFOX, headers) == "prefetch"


def test_unrelated_purpose_value_is_not_prefetch(is_bot: BotFilter) -> None:
    assert is_bot(FIREFOX, {"Purpose": "navigate"}) is None


def test_crawler_verdicts_are_cached_by_user_agent() -> None:
    bot_filter = BotFilter(cache_size=10)
    bot_filter(GOOGLEBOT, {})
    bot_filter(GOOGLEBOT, {"Accept": "*/*"})
    info = bot_filter.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 1, 10)


def test_concurrent_calls_from_threads_give_consistent_answers() -> None:
    bot_filter = BotFilter(cache_size=64)  # small: threads keep missing and hit crawlerdetect
    cases = [
        (GOOGLEBOT, "crawler-user-agent"),
        ("curl/8.4.0", "crawler-user-agent"),
        (FIREFOX, None),
        (CHROME, None),
        (HEADLESS_CHROME, "headless-browser"),
    ]
    requests = [
        (f"{user_agent} n{n}", expected) for n in range(60) for user_agent, expected in cases
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda case: bot_filter(case[0], {}), requests * 3))
    assert answers == [expected for _, expected in requests] * 3
