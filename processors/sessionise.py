"""Sessionisation: group a visitor's events into visits, as a deterministic state machine.

A visit ends after `timeout` of inactivity (event time, not wall time), so replaying the
same records from the same state yields byte-identical rows: that is what makes retried
inserts deduplicate. Each batch emits, per touched visit, a -1 row of its state before
the batch (if it was already stored) and a +1 row of its state after (CollapsingMergeTree).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from contract.rows import VISIT_ATTRIBUTES
from processors.enrich import EnrichedEvent

ENGAGEMENT = "engagement"


@dataclass(slots=True)
class Visit:
    """The state of one open visit."""

    site: str
    session_id: int
    visitor_id: int
    start_ms: int
    last_ms: int
    entry_page: str
    exit_page: str
    pageviews: int
    events: int
    attrs: dict[str, str]
    stored: bool = False  # a +1 row of this visit is already in the sink
    interactions: int = 0  # pageviews plus interactive custom events

    @property
    def is_bounce(self) -> int:
        """1 when the visit had at most one interaction, as Plausible defines a bounce.

        Pageviews and interactive custom events are interactions; engagement events and
        custom events sent with `interactive: false` are not. (`pageviews` is compared too
        so that a visit restored from a checkpoint written before `interactions` existed
        keeps its answer.)
        """
        return 1 if max(self.interactions, self.pageviews) <= 1 else 0

    @property
    def duration_s(self) -> int:
        """Seconds between the first and the last event."""
        return (self.last_ms - self.start_ms) // 1000

    def to_json(self) -> dict[str, Any]:
        """Checkpoint form: every field by name, `attrs` copied (a shallow asdict; the
        recursive `dataclasses.asdict` deep-copies each value and cost the processor
        thread ~5% of the collector's GIL at load, bench/collector_wrk.py)."""
        out = {name: getattr(self, name) for name in VISIT_FIELDS}
        out["attrs"] = dict(self.attrs)
        return out


VISIT_FIELDS = tuple(field.name for field in dataclasses.fields(Visit))


def session_id_for(site: str, visitor_id: int, start_ms: int) -> int:
    """A stable 64-bit id of a visit, derived from already-anonymous values."""
    digest = hashlib.blake2b(f"{site}\0{visitor_id}\0{start_ms}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") or 1


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One row for the sessions table: a visit's state with a sign."""

    visit: Visit
    sign: int


@dataclass(frozen=True, slots=True)
class SessionisedEvent:
    """An enriched event with its visit's id and visit-level attributes."""

    enriched: EnrichedEvent
    session_id: int
    attrs: dict[str, str]


class Sessioniser:
    """Holds the open visits of the visitors it has seen; not thread-safe (one per partition)."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.visits: dict[tuple[str, int], Visit] = {}
        self.high_water_ms = 0

    def process(self, events: Iterable[EnrichedEvent]
                ) -> tuple[list[SessionisedEvent], list[SessionRow]]:
        """Assign events to visits; return the events and the session rows of this batch."""
        before: dict[int, Visit | None] = {}
        touched: dict[int, Visit] = {}
        out: list[SessionisedEvent] = []
        for item in events:
            ev = item.event
            if ev.visitor_id == 0:  # counted anonymously: no visit, attributes of its own
                out.append(SessionisedEvent(item, 0, _attrs_of(item)))
                continue
            if ev.name == ENGAGEMENT:  # belongs to the open visit but never changes it
                open_visit = self._open_visit(ev.site, ev.visitor_id, ev.prev_visitor_id,
                                              ev.ts_ms)
                out.append(SessionisedEvent(item, open_visit.session_id, open_visit.attrs)
                           if open_visit is not None
                           else SessionisedEvent(item, 0, _attrs_of(item)))
                continue
            self.high_water_ms = max(self.high_water_ms, ev.ts_ms)
            visit = self._open_visit(ev.site, ev.visitor_id, ev.prev_visitor_id, ev.ts_ms)
            if visit is None:
                visit = Visit(site=ev.site, visitor_id=ev.visitor_id,
                              session_id=session_id_for(ev.site, ev.visitor_id, ev.ts_ms),
                              start_ms=ev.ts_ms, last_ms=ev.ts_ms, entry_page=ev.pathname,
                              exit_page=ev.pathname, pageviews=0, events=0,
                              attrs=_attrs_of(item))
                before.setdefault(visit.session_id, None)
            else:
                before.setdefault(visit.session_id, _copy(visit) if visit.stored else None)
                visit.last_ms = max(visit.last_ms, ev.ts_ms)
            self.visits[(ev.site, ev.visitor_id)] = visit
            visit.events += 1
            visit.interactions += 1 if ev.interactive else 0
            if ev.name == "pageview":
                visit.pageviews += 1
                visit.exit_page = ev.pathname
            touched[visit.session_id] = visit
            out.append(SessionisedEvent(item, visit.session_id, visit.attrs))
        rows: list[SessionRow] = []
        for sid, visit in touched.items():
            old = before[sid]
            if old is not None:
                rows.append(SessionRow(old, -1))
            visit.stored = True
            rows.append(SessionRow(_copy(visit), 1))
        self._evict()
        return out, rows

    def _open_visit(self, site: str, visitor_id: int, prev_id: int, ts_ms: int) -> Visit | None:
        for key in ((site, visitor_id), (site, prev_id)):
            visit = self.visits.get(key)
            if visit is not None and ts_ms - visit.last_ms <= self.timeout_ms:
                return visit
        return None

    def _evict(self) -> None:
        """Forget visits that can no longer continue: their last rows are final."""
        horizon = self.high_water_ms - self.timeout_ms
        for key in [k for k, v in self.visits.items() if v.last_ms < horizon]:
            del self.visits[key]

    def snapshot(self) -> dict[str, Any]:
        """The open visits and every key that reaches them, for a checkpoint."""
        visits = {v.session_id: v.to_json() for v in self.visits.values()}
        keys = [[site, vid, v.session_id] for (site, vid), v in self.visits.items()]
        return {"high_water_ms": self.high_water_ms, "visits": list(visits.values()),
                "keys": keys}

    @classmethod
    def restore(cls, timeout_ms: int, snapshot: dict[str, Any]) -> Sessioniser:
        """Rebuild exactly the state `snapshot()` saw, so a replay yields identical rows."""
        sessioniser = cls(timeout_ms)
        by_id = {raw["session_id"]: Visit(**raw) for raw in snapshot.get("visits", [])}
        for site, vid, sid in snapshot.get("keys", []):
            sessioniser.visits[(site, vid)] = by_id[sid]
        sessioniser.high_water_ms = snapshot.get("high_water_ms", 0)
        return sessioniser


def _attrs_of(item: EnrichedEvent) -> dict[str, str]:
    """The visit attributes (contract.rows.VISIT_KEYS) an event brings to a new visit."""
    ev = item.event
    attrs = {"hostname": ev.hostname}
    for a in VISIT_ATTRIBUTES:
        attrs[a.key] = getattr(item if a.enriched else ev, a.key)
    return attrs


def _copy(visit: Visit) -> Visit:
    return dataclasses.replace(visit, attrs=dict(visit.attrs))
