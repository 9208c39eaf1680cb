"""Plausible's value vocabularies, applied at query time over what crumbless stores.

Pure: SQL expressions (values bound through `bind`) and the tables they are built from.
Stored rows and rollups keep crumbless's own values; every dimension's answer *and* every
filter on it read the mapped value, so a filter written with Plausible's documented value
(`["is", "visit:os", ["GNU/Linux"]]`) matches, from the raw tables and the rollups alike.

Sources of the vocabularies:
- empty values: Plausible's lib/plausible/stats/sql/expression.ex (`select_dimension`):
  `(not set)` for empty UTM values, device, browser, browser version, OS and OS version;
  `Direct / None` for an empty visit:source or visit:referrer.
- browser and OS names: Plausible reports the names of Matomo's device detector (its
  UAInspector library), with the mobile flavours folded into their desktop names
  (lib/plausible/ingestion/event.ex, `browser_name`); crumbless parses with ua-parser, so
  the ua-parser names that differ are renamed here (`BROWSER_NAMES`, `OS_NAMES`).
- visit:referrer: "Raw Referer header without http://, https:// or www." (Plausible's Stats
  API docs); Plausible keeps host and path, without query, fragment and trailing slash.
- country and region names: ISO 3166 names of the maintained `pycountry` package (the
  common name where ISO has one: "South Korea", "Iran"); city names: the English name
  the GeoIP database gives (collector/geo.py), which is what crumbless stores.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pycountry

NOT_SET = "(not set)"
NO_REFERRER = "Direct / None"

# ua-parser family (as crumbless stores it) -> Plausible's (device detector) name.
BROWSER_NAMES: dict[str, str] = {
    "Edge": "Microsoft Edge",
    "Samsung Internet": "Samsung Browser",
    "Opera Mini": "Opera",
    "Yandex Browser Lite": "Yandex Browser",
    "DuckDuckGo Mobile": "DuckDuckGo Privacy Browser",
    "Chrome Mobile WebView": "Mobile App",
    "Facebook": "Mobile App",
    "Instagram": "Mobile App",
}
OS_NAMES: dict[str, str] = {"macOS": "Mac", "Linux": "GNU/Linux", "ChromeOS": "Chrome OS"}

# Dimensions answered from another dimension's stored value: (base dimension, names table).
NAMED: dict[str, tuple[str, str]] = {
    "visit:country_name": ("visit:country", "country"),
    "visit:region_name": ("visit:region", "region"),
    "visit:city_name": ("visit:city", ""),  # the stored city is already its English name
}
NOT_SET_DIMENSIONS = frozenset({
    "visit:utm_source", "visit:utm_medium", "visit:utm_campaign", "visit:utm_content",
    "visit:utm_term", "visit:device", "visit:browser", "visit:browser_version", "visit:os",
    "visit:os_version"})
RENAMED: dict[str, dict[str, str]] = {"visit:browser": BROWSER_NAMES, "visit:os": OS_NAMES}

Bind = Callable[[object, str], str]  # (value, ClickHouse type) -> "{pN:Type}"


def base_dimension(dimension: str) -> str:
    """The dimension whose stored value `dimension` is derived from (itself if stored)."""
    return NAMED[dimension][0] if dimension in NAMED else dimension


@functools.cache
def country_names() -> tuple[list[str], list[str]]:
    """(ISO 3166-1 alpha-2 codes, names), the common name where ISO has one."""
    countries = list(pycountry.countries)
    return ([c.alpha_2 for c in countries],
            [getattr(c, "common_name", None) or c.name for c in countries])


@functools.cache
def region_names() -> tuple[list[str], list[str]]:
    """(ISO 3166-2 codes, subdivision names)."""
    regions = list(pycountry.subdivisions)
    return [r.code for r in regions], [r.name for r in regions]


def display_sql(dimension: str, stored: str, bind: Bind) -> str:
    """The SQL String expression of `dimension`'s answered value from its stored column
    expression `stored` (a column of events or sessions, or a rollup's `value`)."""
    if dimension in NAMED:
        table = NAMED[dimension][1]
        if not table:
            return stored
        codes, names = country_names() if table == "country" else region_names()
        return (f"transform(toString({stored}), {bind(codes, 'Array(String)')},"
                f" {bind(names, 'Array(String)')}, '')")
    if dimension == "visit:referrer":
        # host and path: no scheme, no leading www., no query or fragment, no trailing /
        cleaned = ("replaceRegexpOne(replaceRegexpOne(replaceRegexpOne(" + stored
                   + ", '^[A-Za-z][A-Za-z0-9+.-]*://(www\\\\.)?', ''), '[?#].*$', ''), '/+$', '')")
        return f"if(empty({cleaned}), '{NO_REFERRER}', {cleaned})"
    if dimension == "visit:source":
        return f"if(empty({stored}), '{NO_REFERRER}', {stored})"
    if dimension in RENAMED:
        table_ = RENAMED[dimension]
        stored = (f"transform(toString({stored}), {bind(list(table_), 'Array(String)')},"
                  f" {bind(list(table_.values()), 'Array(String)')}, toString({stored}))")
    if dimension in NOT_SET_DIMENSIONS:
        return f"if(empty({stored}), '{NOT_SET}', {stored})"
    return stored
