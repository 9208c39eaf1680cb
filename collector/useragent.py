"""Turn a raw User-Agent string into the coarse browser / OS / device fields we keep.

The raw user agent never leaves the collector; only a :class:`ClientInfo` does.
Parsing uses ua-parser 1.x with its Rust-backed ``regex`` resolver (the fastest one
ua-parser ships, ~15 µs per string here) and sits behind an LRU cache keyed by the
user-agent string, because real traffic repeats a few thousand strings all day long.

Names are normalised so that one browser or OS is one dashboard row: "Mobile Safari"
is "Safari", "Chrome Mobile iOS" is "Chrome", "Mac OS X" is "macOS", Linux
distributions are "Linux", an iPad on iOS 13+ runs "iPadOS". ua-parser does not say
whether a device is a phone, a tablet or a computer, so :func:`_device_type` derives it
from well-known user-agent tokens.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ua_parser import OS, Domain, Parser, UserAgent

try:  # the ``ua-parser[regex]`` extra: Rust regex engine, ~10x faster than the fallback
    from ua_parser import load_lazy_builtins as _load_matchers
    from ua_parser.regex import Resolver as _FastestResolver
except ImportError:  # pragma: no cover - only without ua-parser-rs installed
    from ua_parser import BasicResolver as _FastestResolver  # type: ignore[assignment]
    from ua_parser import load_builtins as _load_matchers

__all__ = [
    "MAX_USER_AGENT_LENGTH",
    "ClientInfo",
    "parse_cache_info",
    "parse_user_agent",
]

# Real browsers stay well under this; longer strings are cut so that a hostile client
# cannot make each cache entry arbitrarily large.
MAX_USER_AGENT_LENGTH = 1024
_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Browser, OS and device class of a client; "" where unknown."""

    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # "Desktop" | "Mobile" | "Tablet" | ""


UNKNOWN_CLIENT = ClientInfo("", "", "", "", "")

# ua-parser family -> the name a dashboard shows; mobile flavours join their desktop row.
_BROWSER_NAMES: dict[str, str] = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "IE": "Internet Explorer",
    "IE Mobile": "Internet Explorer",
    "Other": "",
}

_OS_NAMES: dict[str, str] = {
    "Mac OS X": "macOS",
    "Chrome OS": "ChromeOS",
    "Other": "",
}

# Distributions are grouped under "Linux": a marketer asks "how many Linux visitors",
# and most distributions do not announce themselves in the user agent anyway.
_LINUX_DISTRIBUTIONS = frozenset(
    {
        "Ubuntu", "Kubuntu", "Xubuntu", "Lubuntu", "Debian", "Fedora", "Red Hat",
        "CentOS", "Linux Mint", "Mint", "Arch Linux", "Gentoo", "Slackware", "SUSE",
        "openSUSE", "Mandriva", "Mageia", "PCLinuxOS", "Puppy", "Knoppix", "elementary OS",
    }
)  # fmt: skip

_DESKTOP_OSES = frozenset(
    {"Windows", "macOS", "Linux", "ChromeOS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
)

_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook", re.IGNORECASE)
_MOBILE = re.compile(r"iphone|ipod|mobi|windows phone|opera mini", re.IGNORECASE)


def parse_user_agent(user_agent: str) -> ClientInfo:
    """Parse a User-Agent header into a :class:`ClientInfo` (cached by the string)."""
    return _parse_cached(user_agent[:MAX_USER_AGENT_LENGTH])


def parse_cache_info() -> functools._CacheInfo:
    """Hits, misses and size of the parse cache, for metrics and tests."""
    return _parse_cached.cache_info()


@functools.cache
def _parser() -> Parser:
    """Build the ua-parser parser once (loading the regexes takes ~0.2 s)."""
    # No ua-parser CachingResolver: _parse_cached caches the finished ClientInfo instead.
    return Parser(_FastestResolver(_load_matchers()))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(user_agent: str) -> ClientInfo:
    """Parse one (already length-capped) user agent; the cache makes repeats ~free."""
    if not user_agent.strip():
        return UNKNOWN_CLIENT
    result = _parser()(user_agent, Domain.USER_AGENT | Domain.OS)
    browser, browser_version = _browser(result.user_agent)
    os_name, os_version = _operating_system(result.os, user_agent)
    return ClientInfo(
        browser=browser,
        browser_version=browser_version,
        os=os_name,
        os_version=os_version,
        device=_device_type(user_agent, os_name),
    )


def _major_minor(major: str | None, minor: str | None) -> str:
    """Format a version as "major.minor", or "major" alone, or ""."""
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


def _browser(user_agent: UserAgent | None) -> tuple[str, str]:
    """Dashboard browser name and "major.minor" version."""
    if user_agent is None:
        return "", ""
    name = _BROWSER_NAMES.get(user_agent.family, user_agent.family)
    if not name:
        return "", ""
    return name, _major_minor(user_agent.major, user_agent.minor)


def _operating_system(os: OS | None, user_agent: str) -> tuple[str, str]:
    """Dashboard OS name and version."""
    if os is None:
        return "", ""
    if os.family in _LINUX_DISTRIBUTIONS:
        return "Linux", ""
    name = _OS_NAMES.get(os.family, os.family)
    if not name:
        return "", ""
    # Apple renamed iOS on the iPad to iPadOS from version 13 on.
    if name == "iOS" and "iPad" in user_agent and os.major and os.major.isdigit():
        if int(os.major) >= 13:
            name = "iPadOS"
    return name, _major_minor(os.major, os.minor)


def _device_type(user_agent: str, os_name: str) -> str:
    """Classify the device as "Tablet", "Mobile" or "Desktop" from user-agent tokens."""
    if _TABLET.search(user_agent):
        return "Tablet"
    if os_name == "Android":
        # Google's rule for Android: phones send "Mobile", tablets leave it out.
        return "Mobile" if "Mobile" in user_agent else "Tablet"
    if _MOBILE.search(user_agent):
        return "Mobile"
    if os_name in _DESKTOP_OSES:
        return "Desktop"
    return ""
