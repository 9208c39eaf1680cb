"""collector.useragent: browser / OS / device from a User-Agent, behind a cache."""

from __future__ import annotations

import concurrent.futures

import pytest

from collector.useragent import (
    MAX_USER_AGENT_LENGTH,
    ClientInfo,
    parse_cache_info,
    parse_user_agent,
)

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.130 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
FIREFOX_UBUNTU = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MACOS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
CHROME_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
)
FIREFOX_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
SAFARI_OLD_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 12_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/12.1 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0"
FIREFOX_ANDROID_PHONE = "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0"
SAMSUNG_INTERNET = (
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"
)
KINDLE_SILK = (
    "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"
)
EDGE_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36 EdgA/120.0.2210.115"
)
OPERA_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0"
)
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def test_desktop_chrome_on_windows() -> None:
    assert parse_user_agent(CHROME_WINDOWS) == ClientInfo(
        browser="Chrome", browser_version="120.0", os="Windows", os_version="10", device="Desktop"
    )


def test_desktop_firefox_on_linux() -> None:
    assert parse_user_agent(FIREFOX_LINUX) == ClientInfo(
        browser="Firefox", browser_version="121.0", os="Linux", os_version="", device="Desktop"
    )


def test_linux_distributions_are_grouped_as_linux() -> None:
    info = parse_user_agent(FIREFOX_UBUNTU)
    assert (info.os, info.device) == ("Linux", "Desktop")


def test_safari_on_macos_is_named_macos_not_mac_os_x() -> None:
    assert parse_user_agent(SAFARI_MACOS) == ClientInfo(
        browser="Safari", browser_version="17.2", os="macOS", os_version="10.15", device="Desktop"
    )


def test_iphone_safari_is_mobile_safari_on_ios() -> None:
    assert parse_user_agent(SAFARI_IPHONE) == ClientInfo(
        browser="Safari", browser_version="17.2", os="iOS", os_version="17.2", device="Mobile"
    )


@pytest.mark.parametrize(
    ("user_agent", "browser"),
    [
        (CHROME_IPHONE, "Chrome"),
        (FIREFOX_IPHONE, "Firefox"),
        (CHROME_ANDROID_PHONE, "Chrome"),
        (FIREFOX_ANDROID_PHONE, "Firefox"),
        (EDGE_ANDROID, "Edge"),
    ],
)
def test_mobile_browser_flavours_share_the_desktop_name(user_agent: str, browser: str) -> None:
    info = parse_user_agent(user_agent)
    assert (info.browser, info.device) == (browser, "Mobile")


def test_ipad_is_a_tablet_running_ipados() -> None:
    assert parse_user_agent(SAFARI_IPAD) == ClientInfo(
        browser="Safari", browser_version="17.2", os="iPadOS", os_version="17.2", device="Tablet"
    )


def test_ipad_before_ios_13_still_runs_ios() -> None:
    info = parse_user_agent(SAFARI_OLD_IPAD)
    assert (info.os, info.os_version, info.device) == ("iOS", "12.5", "Tablet")


def test_android_phone_with_mobile_token_is_mobile() -> None:
    assert parse_user_agent(CHROME_ANDROID_PHONE) == ClientInfo(
        browser="Chrome", browser_version="120.0", os="Android", os_version="14", device="Mobile"
    )


@pytest.mark.parametrize("user_agent", [CHROME_ANDROID_TABLET, FIREFOX_ANDROID_TABLET, KINDLE_SILK])
def test_android_without_mobile_token_or_with_tablet_keyword_is_tablet(user_agent: str) -> None:
    info = parse_user_agent(user_agent)
    assert (info.os, info.device) == ("Android", "Tablet")


def test_samsung_internet_keeps_its_own_name() -> None:
    info = parse_user_agent(SAMSUNG_INTERNET)
    assert (info.browser, info.browser_version, info.device) == (
        "Samsung Internet",
        "23.0",
        "Mobile",
    )


def test_edge_on_windows_is_edge_not_chrome() -> None:
    info = parse_user_agent(EDGE_WINDOWS)
    assert (info.browser, info.browser_version, info.os) == ("Edge", "120.0", "Windows")


def test_opera_is_opera_not_chrome() -> None:
    assert parse_user_agent(OPERA_WINDOWS).browser == "Opera"


def test_chromebook_runs_chromeos_on_a_desktop() -> None:
    info = parse_user_agent(CHROMEBOOK)
    assert (info.os, info.device) == ("ChromeOS", "Desktop")


@pytest.mark.parametrize("user_agent", ["", "   "])
def test_empty_user_agent_is_all_unknown(user_agent: str) -> None:
    assert parse_user_agent(user_agent) == ClientInfo("", "", "", "", "")


@pytest.mark.parametrize("user_agent", ["garbage", "\x00\xff;;((", "Mozilla/5.0"])
def test_garbage_user_agent_is_unknown_without_raising(user_agent: str) -> None:
    assert parse_user_agent(user_agent) == ClientInfo("", "", "", "", "")


def test_same_user_agent_returns_the_identical_cached_object() -> None:
    first = parse_user_agent(CHROME_WINDOWS + " cache-identity")
    assert parse_user_agent(CHROME_WINDOWS + " cache-identity") is first


def test_repeated_user_agent_is_a_cache_hit() -> None:
    user_agent = CHROME_WINDOWS + " cache-hits"
    parse_user_agent(user_agent)
    before = parse_cache_info()
    parse_user_agent(user_agent)
    after = parse_cache_info()
    assert after.hits == before.hits + 1
    assert after.misses == before.misses


def test_overlong_user_agent_is_cut_before_parsing_and_caching() -> None:
    padded = CHROME_WINDOWS + " " + "x" * (2 * MAX_USER_AGENT_LENGTH)
    assert parse_user_agent(padded) is parse_user_agent(padded[:MAX_USER_AGENT_LENGTH])
    assert parse_user_agent(padded).browser == "Chrome"


def test_parsing_from_many_threads_gives_the_single_threaded_answers() -> None:
    user_agents = [
        f"Mozilla/5.0 (Linux; Android {n % 14 + 1}; Pixel {n}) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Chrome/{100 + n % 20}.0.{n}.0 Mobile Safari/537.36"
        for n in range(400)
    ]
    expected = [parse_user_agent(ua) for ua in user_agents]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse_user_agent, user_agents * 4))
    assert results == expected * 4
