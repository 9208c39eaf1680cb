"""Seed millions of events in seconds: visits generated inside ClickHouse, inserted in bulk.

`INSERT INTO events … SELECT … FROM numbers(…)` and the same for `sessions`, so every row
goes through the real tables and their materialized views (the rollups fill as in
production), without the HTTP collector or the Python processor core (which would take
~20 minutes for 10M events on this machine). Every value is a hash of the visit number,
so a size always gives the same rows.

Shape (per site, over `DAYS` days ending at `end`): a visit has 1-6 events (mean 2.6, 40 %
bounce), 90 % page views and 10 % custom events of 5 names; a visitor id is a hash of
(person, UTC day), as the daily salt makes it: a visit's id is its first day's, and its
events after midnight carry the next day's, as the collector hashes them; people per day =
0.7 x visits per day, so at 10M events about 80k visitors a day. Skewed (power-law)
choices over 1,000 pages, 50 referrer sources (30 % direct) in 6 channels, 30 countries, 4
regions each, 3 cities each, 10 browsers, 8 operating systems, 3 devices; 10 % of visits
carry UTM tags (10 sources, 4 media, 20 campaigns); 1 % of custom events carry revenue.
Sessions are written in their final state (+1 rows only), as a merged month-old table
holds them.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from contract.rows import VISIT_ATTRIBUTES

SITE = "example.com"
DAYS = 30
EVENTS_PER_VISIT = 2.6  # mean of LENGTHS
LENGTHS = "[1, 1, 1, 1, 2, 2, 3, 4, 5, 6]"
COUNTRIES = ("US", "DE", "GB", "FR", "IN", "BR", "CA", "NL", "ES", "IT", "PL", "JP", "AU", "SE",
             "CH", "BE", "AT", "MX", "TR", "ID", "KR", "NO", "DK", "FI", "IE", "PT", "CZ", "RO",
             "ZA", "AR")
CHUNK_VISITS = 400_000  # one INSERT of each table: bounded memory for the views' blocks
SPREAD_S = 1800  # seconds between two events of a visit, at most


def _u(*parts: str) -> str:
    """A uniform float in [0, 1) from a hash of the visit number and a salt."""
    return f"(cityHash64({', '.join(parts)}) / 18446744073709551616.0)"


def _pick(items: str, count: int, salt: str, power: int = 2) -> str:
    """A skewed pick: item i of `count` with density ~ (i/count)^(1/power - 1)."""
    return f"{items}[1 + toUInt32({count} * pow({_u('v', repr(salt))}, {power}))]"


def _page(event: str) -> str:
    return f"concat('/p/', toString(toUInt32(1000 * pow({_u('v', event, repr('page'))}, 3))))"


def visits_sql(first: int, count: int, total: int, start_s: int) -> str:
    """A SELECT of visits `first`..`first+count` out of `total`: one row per visit."""
    sources = "arrayMap(i -> concat('source', toString(i), '.example'), range(50))"
    channels = ("['Organic Search', 'Referral', 'Organic Social', 'Paid Search', 'Email',"
                " 'Display']")
    countries = "[" + ", ".join(f"'{c}'" for c in COUNTRIES) + "]"
    browsers = ("['Chrome', 'Safari', 'Firefox', 'Edge', 'Samsung Internet', 'Opera',"
                " 'Chrome Mobile', 'Safari Mobile', 'Brave', 'Vivaldi']")
    oses = "['Windows', 'iOS', 'Android', 'Mac', 'GNU/Linux', 'Chrome OS', 'Ubuntu', 'Fedora']"
    span = DAYS * 86_400 - SPREAD_S * 6
    per_day = max(total // DAYS, 1)
    people = max(int(per_day * 0.7), 1)
    return f"""SELECT number AS v, '{SITE}' AS site,
    toDateTime64({start_s} + intDiv(v * {span}, {total}), 3, 'UTC') AS start,
    toUInt64(cityHash64(v, 'person') % {people}) AS person,
    cityHash64(person, toDate(start)) AS visitor_id,
    v + 1 AS session_id,
    {LENGTHS}[1 + cityHash64(v, 'length') % 10] AS n,
    {_u('v', "'direct'")} < 0.3 AS direct,
    if(direct, '', {_pick(sources, 50, 'source')}) AS referrer_source,
    if(direct, '', concat('https://', referrer_source, '/', toString(cityHash64(v, 'r') % 4)))
        AS referrer,
    if(direct, 'Direct', {channels}[1 + cityHash64(referrer_source) % 6]) AS channel,
    {_u('v', "'utm'")} < 0.1 AS tagged,
    if(tagged, concat('utm', toString(cityHash64(v, 'us') % 10)), '') AS utm_source,
    if(tagged, ['email', 'cpc', 'social', 'banner'][1 + cityHash64(v, 'um') % 4], '')
        AS utm_medium,
    if(tagged, concat('campaign', toString(cityHash64(v, 'uc') % 20)), '') AS utm_campaign,
    '' AS utm_content, '' AS utm_term,
    {_pick(countries, 30, 'country')} AS country,
    concat(country, '-', toString(cityHash64(v, 'region') % 4)) AS region,
    concat(region, '-city', toString(cityHash64(v, 'city') % 3)) AS city,
    {_pick(browsers, 10, 'browser')} AS browser,
    toString(100 + cityHash64(v, 'bv') % 20) AS browser_version,
    {_pick(oses, 8, 'os')} AS os, toString(cityHash64(v, 'ov') % 5) AS os_version,
    ['Desktop', 'Mobile', 'Tablet'][1 + toUInt8(3 * pow({_u('v', "'device'")}, 2))] AS device
FROM numbers({first}, {count})"""


# Event e of visit v: page e, a custom event 10 % of the time after the first.
EVENT_NAME = ("if(e > 0 AND cityHash64(v, e, 'name') % 10 = 0, ['Signup', 'Download',"
              " 'Outbound Link: Click', 'Purchase', 'Contact'][1 + cityHash64(v, e, 'n') % 5],"
              " 'pageview')")
VISIT_COLUMNS = [a.column for a in VISIT_ATTRIBUTES]


def _events_insert(visits: str) -> str:
    attrs = ", ".join(VISIT_COLUMNS)
    return f"""INSERT INTO events (site, ts, name, visitor_id, session_id, hostname, pathname,
    {attrs}, consent, mode, truncated_ip, revenue_amount, revenue_currency)
SELECT site, start + toIntervalSecond(e * {SPREAD_S // 2} + cityHash64(v, e) % {SPREAD_S // 2})
        AS ts, {EVENT_NAME} AS name,
    if(toDate(ts) = toDate(start), visitor_id, cityHash64(person, toDate(ts))), session_id,
    '{SITE}', {_page('e')}, {attrs},
    '', 'full', '', if(name != 'pageview' AND cityHash64(v, e, 'rev') % 100 = 0,
        toDecimal64(cityHash64(v, e, 'amount') % 50000 / 100, 3), NULL), 'EUR'
FROM ({visits}) ARRAY JOIN range(n) AS e"""


def _sessions_insert(visits: str) -> str:
    attrs = ", ".join(VISIT_COLUMNS)
    pageviews = f"arrayCount(e -> {EVENT_NAME} = 'pageview', range(n))"
    return f"""INSERT INTO sessions (site, session_id, visitor_id, sign, start, end, hostname,
    entry_page, exit_page, pageviews, events, duration, is_bounce, {attrs})
SELECT site, session_id, visitor_id, 1, start,
    start + toIntervalSecond((n - 1) * {SPREAD_S // 2}), '{SITE}',
    {_page('toUInt8(0)')}, {_page('toUInt8(n - 1)')}, {pageviews}, n,
    (n - 1) * {SPREAD_S // 2}, n = 1, {attrs}
FROM ({visits})"""


def seed(client: Any, events: int, end: dt.datetime) -> dict[str, Any]:
    """Insert about `events` events (and their sessions) over the DAYS days before `end`.

    Returns the rows written and the seconds the inserts took. The window must end near
    the wall clock: TTLs count from real time.
    """
    total = max(int(events / EVENTS_PER_VISIT), 1)
    start_s = int(end.timestamp()) - DAYS * 86_400
    began = time.perf_counter()
    for first in range(0, total, CHUNK_VISITS):
        visits = visits_sql(first, min(CHUNK_VISITS, total - first), total, start_s)
        client.command(_events_insert(visits))
        client.command(_sessions_insert(visits))
    seconds = time.perf_counter() - began
    counts = {table: int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])
              for table in ("events", "sessions")}
    return {"visits": total, "seconds": seconds, **counts}
