"""Sessionisation: 30-minute visits, collapsing rows, and replay determinism."""

import dataclasses

from contract.event import AnonymousEvent
from processors.enrich import enrich
from processors.sessionise import Sessioniser

MIN = 60_000
T0 = 1_700_000_000_000


def ev(vid: int, minute: float, path: str = "/", name: str = "pageview", prev: int = 0,
       referrer: str = "") -> AnonymousEvent:
    return AnonymousEvent(site="example.com", ts_ms=T0 + int(minute * MIN), name=name,
                          hostname="example.com", pathname=path, visitor_id=vid,
                          prev_visitor_id=prev, referrer=referrer,
                          mode="full" if vid else "anonymous")


def run(s: Sessioniser, events: list[AnonymousEvent]):  # type: ignore[no-untyped-def]
    return s.process([enrich(e) for e in events])


def test_inactivity_over_the_timeout_starts_a_new_visit() -> None:
    s = Sessioniser(30 * MIN)
    out, _ = run(s, [ev(1, 0), ev(1, 29), ev(1, 59.5)])
    assert out[0].session_id == out[1].session_id != out[2].session_id


def test_visit_rows_track_entry_exit_pageviews_bounce_and_duration() -> None:
    s = Sessioniser(30 * MIN)
    _, rows = run(s, [ev(1, 0, "/a"), ev(1, 2, "/b", name="Signup"), ev(1, 5, "/c")])
    (row,) = rows
    v = row.visit
    assert (row.sign, v.entry_page, v.exit_page, v.pageviews, v.events) == (1, "/a", "/c", 2, 3)
    assert (v.is_bounce, v.duration_s) == (0, 300)


def test_a_single_pageview_visit_is_a_bounce() -> None:
    _, rows = run(Sessioniser(30 * MIN), [ev(1, 0)])
    assert rows[0].visit.is_bounce == 1


def test_an_update_in_a_later_batch_cancels_the_stored_state() -> None:
    s = Sessioniser(30 * MIN)
    run(s, [ev(1, 0, "/a")])
    _, rows = run(s, [ev(1, 1, "/b")])
    assert [(r.sign, r.visit.pageviews, r.visit.exit_page) for r in rows] == [
        (-1, 1, "/a"), (1, 2, "/b")]
    assert sum(r.sign for r in rows) == 0  # still one visit in total


def test_anonymous_events_join_no_visit() -> None:
    out, rows = run(Sessioniser(30 * MIN), [ev(0, 0), ev(0, 1)])
    assert [o.session_id for o in out] == [0, 0] and rows == []


def test_visit_attributes_come_from_the_first_event() -> None:
    s = Sessioniser(30 * MIN)
    out, _ = run(s, [ev(1, 0, referrer="https://www.google.com/"), ev(1, 1)])
    assert out[1].attrs["source"] == "Google" == out[0].attrs["source"]


def test_yesterdays_hash_continues_a_visit_across_midnight() -> None:
    s = Sessioniser(30 * MIN)
    out, _ = run(s, [ev(111, 0), ev(222, 10, prev=111)])
    assert out[0].session_id == out[1].session_id


def test_a_snapshot_is_every_field_of_each_visit_and_does_not_follow_later_changes() -> None:
    s = Sessioniser(30 * MIN)
    run(s, [ev(1, 0, referrer="https://www.google.com/"), ev(2, 1), ev(1, 3, "/b")])
    snapshot = s.snapshot()
    assert snapshot["visits"] == [dataclasses.asdict(v) for v in s.visits.values()]
    visit = next(iter(s.visits.values()))
    visit.attrs["source"] = "changed"
    visit.pageviews += 5
    assert all(v["attrs"].get("source") != "changed" for v in snapshot["visits"])
    assert Sessioniser.restore(30 * MIN, snapshot).snapshot() == snapshot


def test_restoring_a_snapshot_replays_byte_identical_rows() -> None:
    events = [ev(v, m, f"/{m}") for m in range(0, 90, 7) for v in (1, 2, 3)]
    one = Sessioniser(30 * MIN)
    run(one, events[:12])
    snapshot = one.snapshot()
    expected = run(one, events[12:])
    restored = Sessioniser.restore(30 * MIN, snapshot)
    replayed = run(restored, events[12:])
    assert [(o.session_id, o.attrs) for o in replayed[0]] == [
        (o.session_id, o.attrs) for o in expected[0]]
    assert [(r.sign, r.visit) for r in replayed[1]] == [(r.sign, r.visit) for r in expected[1]]


def test_finished_visits_are_evicted_from_memory() -> None:
    s = Sessioniser(30 * MIN)
    run(s, [ev(1, 0), ev(2, 100)])
    assert set(k[1] for k in s.visits) == {2}


def test_bounce_counts_interactions_as_plausible_defines_them() -> None:
    """An interactive custom event ends a bounce; engagement and `i: false` events do not."""
    import dataclasses

    signup = ev(1, 1, name="Signup")
    _, rows = run(Sessioniser(30 * MIN), [ev(1, 0), signup])
    assert rows[-1].visit.is_bounce == 0
    quiet = dataclasses.replace(ev(2, 1, name="Video play"), interactive=0)
    engaged = dataclasses.replace(ev(2, 3, name="engagement"), interactive=0,
                                  scroll_depth=80, engagement_ms=120_000)
    out, rows = run(Sessioniser(30 * MIN), [ev(2, 0), quiet, engaged])
    assert rows[-1].visit.is_bounce == 1
    assert rows[-1].visit.events == 2  # engagement is not an event of the visit
    assert rows[-1].visit.duration_s == 60  # nor does it stretch the visit
    assert out[2].session_id == out[0].session_id  # but it belongs to it


def test_engagement_without_an_open_visit_opens_none() -> None:
    import dataclasses

    engaged = dataclasses.replace(ev(3, 0, name="engagement"), interactive=0)
    out, rows = run(Sessioniser(30 * MIN), [engaged])
    assert rows == [] and out[0].session_id == 0



def test_a_visit_copy_equals_the_visit_and_does_not_follow_it() -> None:
    from processors.sessionise import _copy

    s = Sessioniser(30 * MIN)
    run(s, [ev(1, 0), ev(1, 1, "/b")])
    visit = next(iter(s.visits.values()))
    copy = _copy(visit)
    assert copy == visit and copy.attrs is not visit.attrs
    run(s, [ev(1, 2, "/c")])
    assert copy.exit_page == "/b" and visit.exit_page == "/c"


def test_a_visit_checkpoints_every_field() -> None:
    import dataclasses

    s = Sessioniser(30 * MIN)
    run(s, [ev(1, 0, referrer="https://news.example.org/a"), ev(1, 1, "/b")])
    visit = next(iter(s.visits.values()))
    assert visit.to_json() == dataclasses.asdict(visit)
    assert set(visit.to_json()) == {f.name for f in dataclasses.fields(visit)}
