"""The official Plausible trackers from npm, unchanged, against `crumbless serve`.

`@plausible-analytics/tracker` (current: sends `v`, engagement with `sd`/`e`, revenue,
outbound links and file downloads; nothing under automation unless window.__plausible)
and `plausible-tracker` (legacy: sends `w`, `h`, props as a JSON string). Each scenario
runs on its own pages; the server is stopped with SIGTERM and the stored rows asserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import new_context
from tests.e2e.harness import Server, Site, stored_events
from tests.e2e.test_tracker import Beacons, Outcome


def current_page(server: Server, body: str = "") -> str:
    return ('<!doctype html><html><head><script src="/vendor/plausible-current.js"></script>'
            "<script>window.__plausible = true;"  # allow sending under automation
            "PlausibleCurrent.init({domain: 'shop.test', endpoint:"
            f" '{server.url}/api/event', outboundLinks: true, fileDownloads: true,"
            " captureOnLocalhost: true, logging: false});</script>"
            f"</head><body>{body}</body></html>")


def legacy_page(server: Server, body: str = "") -> str:
    return ('<!doctype html><html><head><script src="/vendor/plausible-legacy.js"></script>'
            "<script>window.tracker = PlausibleLegacy({domain: 'shop.test',"
            f" apiHost: '{server.url}'}}); tracker.enableAutoPageviews();"
            " tracker.enableAutoOutboundTracking();</script>"
            f"</head><body>{body}</body></html>")


@pytest.fixture(scope="module")
def outcome(chromium: Any, site: Site, plausible_bundles: dict[str, bytes],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    server = Server(tmp_path_factory.mktemp("plausible") / "data")
    server.start()
    try:
        server.cli("sites", "add", "shop.test", "--no-consent", "full")
        result = Outcome(rows=[])
        for name, run in (("current", run_current), ("legacy", run_legacy)):
            try:
                result.notes[name] = run(chromium, site, server)
            except Exception as exc:
                result.errors[name] = exc
        server.wait_quiet()
        assert server.stop() == 0
        result.rows = stored_events(server.data_dir)
        yield result
    finally:
        server.kill()


def run_current(browser: Any, site: Site, server: Server) -> Any:
    out = site.url("/away", host="news.test")
    site.pages["/p/current/"] = current_page(
        server, f'<div style="height:4000px"><a id="out" href="{out}">out</a>'
                '<a id="pdf" href="/files/guide.pdf">pdf</a></div>')
    site.pages["/bye"] = "<p>bye</p>"
    context = new_context(browser, viewport={"width": 800, "height": 800})
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/p/current/"))
    beacons.wait(1)
    page.evaluate("PlausibleCurrent.track('Signup', {props: {plan: 'pro'},"
                  " revenue: {amount: 15.99, currency: 'USD'}})")
    beacons.wait(2)
    page.click("#out")
    page.click("#pdf")
    beacons.wait(4)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(200)
    page.evaluate("history.pushState({}, '', '/p/current/next')")  # engagement + pageview
    beacons.pageviews(2)
    page.goto(site.url("/bye", host="news.test"))
    page.wait_for_timeout(500)  # closing the context would abort the keepalive request
    context.close()
    return beacons.sent


def run_legacy(browser: Any, site: Site, server: Server) -> Any:
    out = site.url("/away", host="news.test")
    site.pages["/p/legacy/"] = legacy_page(server, f'<a id="out" href="{out}">out</a>')
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/p/legacy/"))
    beacons.wait(1)
    page.evaluate("tracker.trackEvent('Signup', {props: {plan: 'pro', seats: 2}})")
    beacons.wait(2)
    page.evaluate("history.pushState({}, '', '/p/legacy/pricing')")
    beacons.pageviews(2)
    # The legacy tracker navigates itself 150 ms after the click; /away answers 204.
    page.click("#out")
    beacons.wait(4)
    context.close()
    return beacons.sent


def test_current_tracker_sends_its_own_fields_and_every_beacon_is_accepted(
        outcome: Outcome) -> None:
    sent = outcome.note("current")
    assert all("v" in b for b in sent)  # the tracker's version field, ignored by the edge
    assert any(b["n"] == "engagement" and "sd" in b and "e" in b for b in sent)


def test_current_tracker_pageviews_spa_custom_event_and_revenue_are_stored(
        outcome: Outcome) -> None:
    outcome.note("current")
    views = sorted(r["pathname"] for r in outcome.under("/p/current/", "pageview"))
    assert views == ["/p/current/", "/p/current/next"]
    [signup] = outcome.under("/p/current/", "Signup")
    assert signup["props"] == {"plan": "pro"}
    assert float(signup["revenue_amount"]) == 15.99 and signup["revenue_currency"] == "USD"


def test_current_tracker_outbound_link_and_file_download_are_stored(outcome: Outcome) -> None:
    outcome.note("current")
    [out] = outcome.under("/p/current/", "Outbound Link: Click")
    assert out["props"]["url"].startswith("http://news.test:")
    [download] = outcome.under("/p/current/", "File Download")
    assert download["props"]["url"].endswith("/files/guide.pdf")


def test_current_tracker_engagement_is_stored_with_scroll_depth(outcome: Outcome) -> None:
    outcome.note("current")
    rows = {r["pathname"]: r for r in outcome.under("/p/current/", "engagement")}
    assert rows["/p/current/"]["scroll_depth"] == 100
    assert int(rows["/p/current/"]["engagement_ms"]) >= 0


def test_legacy_tracker_pageviews_spa_props_string_and_outbound_are_stored(
        outcome: Outcome) -> None:
    sent = outcome.note("legacy")
    signup_sent = next(b for b in sent if b["n"] == "Signup")
    assert isinstance(signup_sent["p"], str) and json.loads(signup_sent["p"])["seats"] == 2
    assert all("w" in b and b["h"] == 0 for b in sent)
    views = sorted(r["pathname"] for r in outcome.under("/p/legacy/", "pageview"))
    assert views == ["/p/legacy/", "/p/legacy/pricing"]
    [signup] = outcome.under("/p/legacy/", "Signup")
    assert signup["props"] == {"plan": "pro", "seats": "2"}
    [out] = outcome.under("/p/legacy/", "Outbound Link: Click")
    assert out["props"]["url"].startswith("http://news.test:")
