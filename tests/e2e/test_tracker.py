"""crumbless's own tracker in real headless Chromium, checked by what `crumbless serve` stored.

One server for the module: every scenario below runs in its own browser context on its
own pages (/s/<scenario>...), then the server is stopped with SIGTERM (it drains) and the
`events` table is read; each test asserts its scenario's rows and what the browser sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import new_context
from tests.e2e.harness import Server, Site, stored_events

Scenario = Callable[[Any, Site, Server], Any]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def page_html(server: Server, *, attrs: str = "data-allow-local", head: str = "",
              body: str = "", domain: str = "shop.test") -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8">{head}'
            f'<script defer data-domain="{domain}" {attrs} src="{server.url}/js/script.js">'
            f"</script></head><body>{body}</body></html>")


class Beacons:
    """The /api/event requests a page made and the collector's answers (status, JSON body)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.sent: list[dict[str, Any]] = []
        self.answered: list[tuple[int, dict[str, Any]]] = []
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        if request.url.endswith("/api/event"):
            self.sent.append(json.loads(request.post_data))

    def _response(self, response: Any) -> None:
        if response.url.endswith("/api/event"):
            self.answered.append((response.status, json.loads(response.request.post_data)))

    def wait_for(self, predicate: Callable[[], bool], what: str, limit_s: float = 10) -> None:
        """Poll while Playwright runs (its events are delivered only inside its calls)."""
        deadline = time.monotonic() + limit_s
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.page.wait_for_timeout(50)

    def pageviews(self, count: int) -> None:
        self.wait_for(lambda: sum(b["n"] == "pageview" for b in self.sent) >= count,
                      f"{count} pageviews")
        self.wait(len(self.sent))

    def wait(self, count: int) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.answered) >= count, f"{count} beacons answered")
        assert all(status == 202 for status, _ in self.answered), self.answered
        return self.sent


@dataclass
class Outcome:
    rows: list[dict[str, Any]]
    notes: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    def note(self, name: str) -> Any:
        if name in self.errors:
            raise self.errors[name]
        return self.notes[name]

    def under(self, prefix: str, name: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["pathname"].startswith(prefix)
                and (name is None or r["name"] == name)]


@pytest.fixture(scope="module")
def outcome(chromium: Any, site: Site, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Outcome]:
    server = Server(tmp_path_factory.mktemp("tracker") / "data")
    server.start()
    try:
        server.cli("sites", "add", "shop.test", "--no-consent", "full")
        result = Outcome(rows=[])
        for name, run in SCENARIOS.items():
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


# --- scenarios: browser actions only; the tests below assert -----------------------------

@scenario
def pageview(browser: Any, site: Site, server: Server) -> Any:
    site.pages["/s/pageview/landing"] = page_html(server)
    site.pages["/news/story"] = (f'<a id="go" href="{site.url("/s/pageview/landing")}'
                                 '?utm_source=news&amp;token=secret">read</a>')
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/news/story", host="news.test"))
    page.click("#go")
    sent = beacons.wait(1)
    storage = page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]")
    cookies = context.cookies()
    context.close()
    return {"sent": sent, "storage": storage, "cookies": cookies}


@scenario
def spa(browser: Any, site: Site, server: Server) -> Any:
    site.pages["/s/spa/"] = page_html(server)
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/s/spa/"))
    beacons.wait(1)
    page.evaluate("history.pushState({}, '', '/s/spa/pricing')")
    page.evaluate("history.replaceState({x: 1}, '', '/s/spa/pricing')")  # same page: no view
    page.evaluate("history.back()")
    beacons.pageviews(3)
    context.close()
    return beacons.sent


@scenario
def custom(browser: Any, site: Site, server: Server) -> Any:
    stub = ("<script>window.crumbless = window.crumbless || function () {"
            "(window.crumbless.q = window.crumbless.q || []).push(arguments) };"
            "crumbless('Early', {props: {when: 'before-load'}});</script>")
    site.pages["/s/custom"] = page_html(server, head=stub)
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/s/custom"))
    beacons.wait(2)
    page.evaluate("crumbless('Signup', {props: {plan: 'pro', seats: 3, trial: true},"
                  " revenue: {amount: 10.5, currency: 'EUR'}})")
    sent = beacons.wait(3)
    context.close()
    return sent


@scenario
def links(browser: Any, site: Site, server: Server) -> Any:
    site.pages["/s/links"] = page_html(
        server, attrs="data-allow-local data-outbound-links data-file-downloads",
        body=f'<a id="out" href="{site.url("/away?ref=1", host="news.test")}">out</a>'
             '<a id="pdf" href="/files/report.pdf?download=1">pdf</a>')
    site.pages["/s/links-off"] = page_html(
        server, body=f'<a id="out" href="{site.url("/away", host="news.test")}">out</a>')
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/s/links"))
    beacons.wait(1)
    page.click("#pdf")
    beacons.wait(2)
    page.click("#out")
    beacons.wait(3)
    # Without the opt-in attributes a click sends nothing.
    quiet_page = context.new_page()
    quiet = Beacons(quiet_page)
    quiet_page.goto(site.url("/s/links-off"))
    quiet.wait(1)
    quiet_page.click("#out")
    quiet_page.wait_for_timeout(500)
    context.close()
    return {"sent": beacons.sent, "off": quiet.sent}


@scenario
def engagement(browser: Any, site: Site, server: Server) -> Any:
    site.pages["/s/engage/"] = page_html(server, body='<div style="height:4000px">tall</div>')
    site.pages["/bye"] = "<p>bye</p>"
    context = new_context(browser, viewport={"width": 800, "height": 800})
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/s/engage/"))
    beacons.wait(1)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(200)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    page.evaluate("history.pushState({}, '', '/s/engage/next')")  # engagement of the first
    page.evaluate("window.scrollTo(0, 2000)")  # (2000 + 800) / ~4016 ≈ 70 %
    page.wait_for_timeout(300)
    page.goto(site.url("/bye", host="news.test"))  # page hide: engagement of the second
    page.wait_for_timeout(500)  # closing the context would abort the keepalive request
    context.close()
    return beacons.sent


@scenario
def hash_routes(browser: Any, site: Site, server: Server) -> Any:
    site.pages["/s/hash"] = page_html(server, attrs="data-allow-local data-hash",
                                      body='<a id="about" href="#/about">about</a>')
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/s/hash"))
    beacons.wait(1)
    page.click("#about")
    beacons.pageviews(2)
    context.close()
    return beacons.sent


TCF = ("<script>window.__tcfapi = function (command, version, callback) {"
       " if (command === 'addEventListener') callback({eventStatus: 'tcloaded',"
       " gdprApplies: true, purpose: {consents: {1: true, 8: %s}}}, true); };</script>")
GCM = ("<script>window.dataLayer = window.dataLayer || [];"
       " function gtag() { dataLayer.push(arguments); }"
       " gtag('consent', 'default', {analytics_storage: 'denied', ad_storage: 'denied'});"
       " %s</script>")


@scenario
def consent(browser: Any, site: Site, server: Server) -> Any:
    site.pages["/s/consent/api"] = page_html(server)
    site.pages["/s/consent/tcf-granted"] = page_html(server, head=TCF % "true")
    site.pages["/s/consent/tcf-refused"] = page_html(server, head=TCF % "false")
    site.pages["/s/consent/gcm-granted"] = page_html(
        server, head=GCM % "gtag('consent', 'update', {analytics_storage: 'granted'});")
    site.pages["/s/consent/gcm-denied"] = page_html(server, head=GCM % "")
    context = new_context(browser)
    page = context.new_page()
    beacons = Beacons(page)
    page.goto(site.url("/s/consent/api"))
    beacons.wait(1)
    page.evaluate("crumbless.consent({analytics: false}); crumbless('Refused');"
                  "crumbless.consent({analytics: true}); crumbless('Granted')")
    beacons.wait(3)
    for path in ("tcf-granted", "tcf-refused", "gcm-granted", "gcm-denied"):
        count = len(beacons.answered)
        page.goto(site.url(f"/s/consent/{path}"))
        beacons.wait(count + 1)
    context.close()
    return beacons.sent


@scenario
def opted_out(browser: Any, site: Site, server: Server) -> Any:
    """DNT / GPC in the browser, and the default off-switches (localhost, automation)."""
    site.pages["/s/optout/dnt"] = page_html(server)
    site.pages["/s/optout/gpc"] = page_html(server)
    site.pages["/s/optout/local"] = page_html(server, attrs="")
    site.pages["/s/optout/automation"] = page_html(server, attrs="")
    cases = [
        ("dnt", "shop.test", "Object.defineProperty(Navigator.prototype, 'doNotTrack',"
                             " {get: () => '1'})", {"DNT": "1"}),
        ("gpc", "shop.test", "Object.defineProperty(Navigator.prototype,"
                             " 'globalPrivacyControl', {get: () => true})", {"Sec-GPC": "1"}),
        ("local", "localhost", "", {}),
        ("automation", "shop.test", "", {}),  # navigator.webdriver is true under Playwright
    ]
    seen: dict[str, Any] = {}
    for name, host, init_script, headers in cases:
        context = new_context(browser, extra_http_headers=headers)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        beacons = Beacons(page)
        page.goto(site.url(f"/s/optout/{name}", host=host))
        page.wait_for_function("typeof window.crumbless === 'function'")
        page.evaluate("crumbless('Custom', {props: {a: 1}})")
        page.wait_for_timeout(300)
        seen[name] = (page.evaluate("navigator.webdriver"), list(beacons.sent))
        context.close()
    return seen


# --- tests -------------------------------------------------------------------------------

def test_pageview_is_stored_for_the_right_page_with_its_referrer(outcome: Outcome) -> None:
    sent = outcome.note("pageview")["sent"]
    assert sent[0]["n"] == "pageview" and sent[0]["d"] == "shop.test"
    assert "c" not in sent[0]  # no consent signal on the page: no key
    [row] = outcome.under("/s/pageview/", "pageview")
    assert (row["name"], row["hostname"], row["pathname"]) == (
        "pageview", "shop.test", "/s/pageview/landing")
    assert row["referrer"].startswith("http://news.test")
    assert row["utm_source"] == "news"
    assert row["visitor_id"] != 0 and row["consent"] == "unset"  # the site counts in full


def test_no_cookie_and_no_storage_entry_afterwards(outcome: Outcome) -> None:
    note = outcome.note("pageview")
    assert note["storage"] == ["", 0, 0]
    assert note["cookies"] == []


def test_spa_navigation_counts_push_and_popstate_not_a_same_page_replace(
        outcome: Outcome) -> None:
    pages = [r["pathname"] for r in outcome.under("/s/spa/", "pageview")]
    assert sorted(pages) == ["/s/spa/", "/s/spa/", "/s/spa/pricing"]


def test_custom_events_with_props_revenue_and_the_preload_queue(outcome: Outcome) -> None:
    rows = {r["name"]: r for r in outcome.under("/s/custom")}
    assert rows["Early"]["props"] == {"when": "before-load"}
    signup = rows["Signup"]
    assert signup["props"] == {"plan": "pro", "seats": "3", "trial": "true"}
    assert float(signup["revenue_amount"]) == 10.5 and signup["revenue_currency"] == "EUR"


def test_outbound_link_and_file_download_clicks_opt_in(outcome: Outcome) -> None:
    note = outcome.note("links")
    # Without the data attributes a click on the same kind of link sends no event.
    assert {b["n"] for b in note["off"]} <= {"pageview", "engagement"}
    rows = {r["name"]: r for r in outcome.under("/s/links")}
    port = note["sent"][0]["u"].split(":")[2].split("/")[0]
    assert rows["Outbound Link: Click"]["props"] == {"url": f"http://news.test:{port}/away"}
    assert rows["File Download"]["props"] == {"url": f"http://shop.test:{port}/files/report.pdf"}


def test_engagement_reports_scroll_depth_on_spa_navigation_and_page_hide(
        outcome: Outcome) -> None:
    sent = [b for b in outcome.note("engagement") if b["n"] == "engagement"]
    assert sent and all(b["i"] is False and b["e"] >= 0 for b in sent)
    rows = {r["pathname"]: r for r in outcome.under("/s/engage/", "engagement")}
    assert rows["/s/engage/"]["scroll_depth"] == 100
    assert 60 <= rows["/s/engage/next"]["scroll_depth"] <= 80
    assert all(int(r["engagement_ms"]) >= 0 for r in rows.values())
    assert all(not r["interactive"] for r in rows.values())


def test_hash_routing_makes_the_fragment_part_of_the_page(outcome: Outcome) -> None:
    sent = outcome.note("hash_routes")
    assert all(b["h"] == 1 for b in sent)
    pages = sorted(r["pathname"] for r in outcome.under("/s/hash", "pageview"))
    assert pages == ["/s/hash", "/s/hash#/about"]


def test_consent_api_tcf_and_consent_mode_state_is_stored(outcome: Outcome) -> None:
    sent = outcome.note("consent")
    by_name = {b["n"]: b for b in sent if b["n"] != "pageview"}
    assert by_name["Refused"]["c"] == {"analytics": False}
    assert by_name["Granted"]["c"] == {"analytics": True}
    rows = {r["name"]: r for r in outcome.under("/s/consent/api")}
    assert (rows["Refused"]["consent"], rows["Refused"]["visitor_id"]) == ("denied", 0)
    assert rows["Granted"]["consent"] == "granted" and rows["Granted"]["visitor_id"] != 0
    assert rows["pageview"]["consent"] == "unset"
    views = {r["pathname"]: r["consent"] for r in outcome.under("/s/consent/", "pageview")}
    assert views["/s/consent/tcf-granted"] == "granted"
    assert views["/s/consent/tcf-refused"] == "denied"
    assert views["/s/consent/gcm-granted"] == "granted"
    assert views["/s/consent/gcm-denied"] == "denied"


def test_dnt_gpc_localhost_and_automation_send_nothing(outcome: Outcome) -> None:
    seen = outcome.note("opted_out")
    for name, (_webdriver, sent) in seen.items():
        assert sent == [], f"{name}: the tracker sent {sent}"
    assert seen["automation"][0] is True  # off because of navigator.webdriver
    assert outcome.under("/s/optout/") == []
