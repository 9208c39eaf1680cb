"""Count each closed day's visitors once, into rollup_daily_visitors (schema 9).

rollup_daily keeps visitors as `uniq` states, which a query must decode and merge: at
10M events a month's page breakdown spent most of a second there. A visitor hash is
made under its UTC day's salt, so a hash never appears under two days, and the visitors
of whole days add up. Once a day is over, its count per (dim, value) is final unless a
late insert changes it, so it is stored as a plain number, with the day's change
counter (`fingerprint`, DAY_CHANGES) at the moment it was counted. The planner
(dashboards/plan.py) reads a day's numbers only while the fingerprint still equals the
live counter, and the states otherwise, so an answer does not depend on whether or when
this ran; a late insert makes the day stale until the next round counts it again.

DAY_CHANGES adds three sums of the day's totals row that never go down: events (every
event of the day), visits (+1 for every visit that starts on the day, 0 for a visit's
-1/+1 update) and visit page views (+1 for every page view that continues one of the
day's visits, even after midnight: the only update that moves a visit's exit page). So
every insert that can change a count (a new visitor arrives with an event and a visit of
its day; an exit page moves with a page view) moves the counter: the events of a batch
and its sessions are two inserts, and a round between them sees the counter move again.

`finalize(client, today)` is the whole job: idempotent, safe to run in several processes
at once (a recount writes the same numbers under a newer version). `Finalizer` runs it
in a daemon thread every `interval` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from contract.errors import StorageError
from sinks.client import command, run

log = logging.getLogger(__name__)

# A day's change counter over its rollup_daily totals rows (see the module docstring).
DAY_CHANGES = "sum(events) + sum(visits) + sum(visit_pageviews)"
# (site, day, live change counter) of the past days whose counts are missing or stale.
STALE_DAYS = """SELECT r.site, r.day, r.e FROM (
    SELECT site, day, """ + DAY_CHANGES + """ AS e FROM rollup_daily
    WHERE dim = '' AND day < {today:Date} GROUP BY site, day) AS r
LEFT JOIN (
    SELECT site, day, argMax(fingerprint, version) AS seen FROM rollup_daily_visitors
    WHERE dim = '' AND value = '' AND day < {today:Date} GROUP BY site, day) AS f
ON r.site = f.site AND r.day = f.day
WHERE f.seen != r.e OR f.day = toDate(0)
ORDER BY r.site, r.day
LIMIT {limit:UInt32}"""

# A day's rows in three INSERTs, the day's totals row last: it carries the `fingerprint`
# the planner checks, so when it is there every other row of the count is there too.
COUNT_DAY = """INSERT INTO rollup_daily_visitors
    (site, dim, day, value, visitors, fingerprint, version, keep_days)
SELECT site, dim, day, value, uniqMerge(visitors), {seen:UInt64}, {version:UInt64},
       max(keep_days)
FROM rollup_daily
WHERE site = {site:String} AND day = {day:Date} AND dim != 'visit:exit_page'
  AND (dim = '') = {totals:Bool}
GROUP BY site, dim, day, value"""


def exit_page_visits(days: str) -> str:
    """The site's ({site:String}) sessions that started on `days` (an SQL set of Date) as
    rollup-shaped rows (site, dim, day, value = exit page, session_id, visitor_id, s_live),
    each session state collapsed (Σ sign): a visit stands under the exit page it ended on,
    which the rollup's `uniq` states cannot tell (a visit moves on from an exit page, a
    state cannot drop its visitor). Count visitors with EXIT_VISITORS; also read by
    dashboards/plan.py for days not counted yet."""
    return f"""(SELECT site, 'visit:exit_page' AS dim, toDate(start) AS day,
        exit_page AS value, session_id, visitor_id, sum(sign) AS s_live
    FROM sessions WHERE site = {{site:String}} AND toDate(start) IN {days}
    GROUP BY site, day, value, session_id, visitor_id HAVING s_live != 0)"""


EXIT_VISITORS = "uniqIf(visitor_id, s_live > 0)"
# Exit pages from the day's visits as they ended. A day whose sessions already expired
# has no exit-page count: its visitors there read as 0.
COUNT_EXIT_PAGES = f"""INSERT INTO rollup_daily_visitors
    (site, dim, day, value, visitors, fingerprint, version, keep_days)
SELECT site, dim, day, value, {EXIT_VISITORS}, {{seen:UInt64}}, {{version:UInt64}},
       (SELECT max(keep_days) FROM rollup_daily WHERE site = {{site:String}}
          AND dim = '' AND day = {{day:Date}})
FROM {exit_page_visits("({day:Date})")}
GROUP BY site, dim, day, value"""


LIMIT = 400  # days per round


def finalize(client: Client, today: dt.date, *, limit: int = LIMIT) -> int:
    """Count the visitors of up to `limit` past days (UTC days before `today`) whose
    numbers are missing or stale; returns how many days were counted.

    Raises StorageError (from sinks.client) when ClickHouse fails; what was written
    before stays valid.
    """
    days = run(client, STALE_DAYS, {"today": today, "limit": limit})
    for site, day, seen in days:
        bound = {"site": site, "day": day, "seen": int(seen), "version": time.time_ns()}
        command(client, COUNT_EXIT_PAGES, bound)
        command(client, COUNT_DAY, {**bound, "totals": False})
        command(client, COUNT_DAY, {**bound, "totals": True})
    return len(days)


class Finalizer:
    """Runs `finalize` every `interval` seconds in a daemon thread until `close()`."""

    def __init__(self, client: Client, *, interval: float = 300.0,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.client, self.interval, self.clock = client, interval, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One round now; StorageError is logged and the round counts as 0 days."""
        try:
            return finalize(self.client, self.clock().astimezone(dt.UTC).date())
        except StorageError as exc:
            log.warning("counting closed days' visitors failed: %s; next round in %.0fs",
                        exc, self.interval)
            return 0

    def start(self) -> None:
        """Start the background rounds (the first one right away)."""
        self._thread = threading.Thread(target=self._loop, name="crumbless-finalizer",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.run_once() >= LIMIT:
                continue  # a full round: more may be waiting; go on until caught up
            self._stop.wait(self.interval)

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
