"""Sessionisation: group a visitor's events into visits, as a deterministic state machine.

A visit ends after `timeout` of inactivity (event time, not wall time), so replaying the
same records from the same state yields byte-identical rows: that is what makes retried
inserts deduplicate. Each batch emits, per touched visit, a -1 row of its state before
the batch (if it was already stored) and a +1 row of its state after (CollapsingMergeTree).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

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
        """Checkpoint form: dataclasses.asdict's dict, spelled out (asdict deep-copies
        field by field, and every open visit is snapshotted twice a batch)."""
        return {"site": self.site, "session_id": self.session_id,
                "visitor_id": self.visitor_id, "start_ms": self.start_ms,
                "last_ms": self.last_ms, "entry_page": self.entry_page,
                "exit_page": self.exit_page, "pageviews": self.pageviews,
                "events": self.events, "attrs": dict(self.attrs), "stored": self.stored,
                "interactions": self.interactions}


def session_id_for(site: str, visitor_id: int, start_ms: int) -> int:
    """A stable 64-bit id of a visit, derived from already-anonymous values."""
    digest = hashlib.blake2b(f"{site}\0{visitor_id}\0{start_ms}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") or 1


class SessionRow(NamedTuple):
    """One row for the sessions table: a visit's state with a sign."""

    visit: Visit
    sign: int


class SessionisedEvent(NamedTuple):
    """An enriched event with its visit's id and visit-level attributes (one per event:
    a NamedTuple, built in C)."""

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
        append, visits, high_water = out.append, self.visits, self.high_water_ms
        for item in events:
            ev = item.event
            if ev.visitor_id == 0:  # counted anonymously: no visit, attributes of its own
                append(SessionisedEvent(item, 0, _attrs_of(item)))
                continue
            site, visitor_id, ts_ms = ev.site, ev.visitor_id, ev.ts_ms
            if ev.name == ENGAGEMENT:  # belongs to the open visit but never changes it
                open_visit = self._open_visit(site, visitor_id, ev.prev_visitor_id, ts_ms)
                append(SessionisedEvent(item, open_visit.session_id, open_visit.attrs)
                       if open_visit is not None
                       else SessionisedEvent(item, 0, _attrs_of(item)))
                continue
            if ts_ms > high_water:
                high_water = ts_ms
            visit = self._open_visit(site, visitor_id, ev.prev_visitor_id, ts_ms)
            if visit is None:
                visit = Visit(site=site, visitor_id=visitor_id,
                              session_id=session_id_for(site, visitor_id, ts_ms),
                              start_ms=ts_ms, last_ms=ts_ms, entry_page=ev.pathname,
                              exit_page=ev.pathname, pageviews=0, events=0,
                              attrs=_attrs_of(item))
                before.setdefault(visit.session_id, None)
            else:
                if visit.session_id not in before:
                    before[visit.session_id] = _copy(visit) if visit.stored else None
                if ts_ms > visit.last_ms:
                    visit.last_ms = ts_ms
            visits[(site, visitor_id)] = visit
            visit.events += 1
            if ev.interactive:
                visit.interactions += 1
            if ev.name == "pageview":
                visit.pageviews += 1
                visit.exit_page = ev.pathname
            touched[visit.session_id] = visit
            append(SessionisedEvent(item, visit.session_id, visit.attrs))
        self.high_water_ms = high_water
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
        visit = self.visits.get((site, visitor_id))
        if visit is not None and ts_ms - visit.last_ms <= self.timeout_ms:
            return visit
        visit = self.visits.get((site, prev_id))
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
    """A copy that later events of the visit leave alone (spelled out: dataclasses.replace
    is several times slower, and a copy is made per visit and batch)."""
    return Visit(visit.site, visit.session_id, visit.visitor_id, visit.start_ms, visit.last_ms,
                 visit.entry_page, visit.exit_page, visit.pageviews, visit.events,
                 dict(visit.attrs), visit.stored, visit.interactions)
