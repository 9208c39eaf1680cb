"""The marketers' UI on a real embedded runtime (chdb): access, numbers, privacy, CSV.

Traffic goes in through /api/event like a browser's; pages are fetched over the app's
test client on https:// (the cookies are Secure). Numbers are checked by hand: 6
visitors from Google, 5 direct, and 1 visitor on a page whose path is an HTML payload.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest

from contract.goals import define_goal
from crumbless.admin import DirectAdmin
from crumbless.app import create_app
from dashboards.ui.auth import hash_password
from sinks.users import UserStore
from tests.integration.helpers import FIREFOX, send

PASSWORD = "correct horse battery"
EVIL = "/<script>alert('pwn')</script><img src=x onerror=alert(1)>"
BASE = "https://dash.test"


@pytest.fixture
def ui(make_runtime: Any) -> Any:
    runtime = make_runtime()
    runtime.sites.add("shop.example")
    runtime.sites.add("other.example")
    app = create_app(runtime)
    beacons = app.test_client()
    for i in range(6):
        send(beacons, ip=f"198.51.100.{i + 1}", domain="shop.example",
             url="https://shop.example/pricing", referrer="https://www.google.com/")
    for i in range(5):
        send(beacons, ip=f"203.0.113.{i + 1}", domain="shop.example",
             url="https://shop.example/")
    send(beacons, ip="192.0.2.99", domain="shop.example", ua=FIREFOX,
         url="https://shop.example" + EVIL)
    for i in range(4):  # with the EVIL page, 5 visitors on withheld pages: enough that
        # "total minus the rows shown" isolates no fewer than k, so "/" need not go too
        send(beacons, ip=f"192.0.2.{i + 1}", domain="shop.example",
             url=f"https://shop.example/rare-{i}")
    for i in range(5):  # 5 of the 6 Google visitors buy: 5 times 10.00 EUR
        send(beacons, ip=f"198.51.100.{i + 1}", domain="shop.example", name="Purchase",
             url="https://shop.example/pricing", referrer="https://www.google.com/",
             revenue={"amount": "10.00", "currency": "EUR"})
    assert runtime.processor.drain(30)
    users = UserStore(runtime.client)
    users.add_user("owner@shop.example", hash_password(PASSWORD))
    users.grant("owner@shop.example", "shop.example", "owner")
    users.add_user("viewer@other.example", hash_password(PASSWORD))
    users.grant("viewer@other.example", "other.example", "viewer")
    users.add_user("admin@example.com", hash_password(PASSWORD), is_admin=True)
    return app, runtime, users


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "no CSRF field on the form"
    return found.group(1)


def login(app: Any, email: str, password: str = PASSWORD) -> Any:
    client = app.test_client()
    page = client.get("/login", base_url=BASE).get_data(as_text=True)
    response = client.post("/login", base_url=BASE, data={
        "email": email, "password": password, "csrf": csrf_of(page), "next": "/sites"})
    return client, response


def test_sign_in_sets_a_secure_httponly_samesite_cookie_and_pages_carry_a_strict_csp(
        ui: Any) -> None:
    app, _, _ = ui
    client, response = login(app, "owner@shop.example")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sites")
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("crumbless_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=43200" in cookie
    page = client.get("/sites/shop.example", base_url=BASE)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)  # type: ignore[union-attr]
    html = page.get_data(as_text=True)
    assert re.findall(r"<style[^>]*>", html) == [f'<style type="text/css" nonce="{nonce}">']
    assert "<script>" not in html and " style=" not in html and "onclick" not in html


def test_wrong_password_fails_and_repeated_failures_are_slowed(ui: Any) -> None:
    app, _, _ = ui
    for _ in range(3):
        _, response = login(app, "owner@shop.example", "not the password")
        assert response.status_code == 401
    _, response = login(app, "owner@shop.example")  # right password, but must wait now
    assert response.status_code == 429
    assert "Too many failed sign-ins. Try again in 1 second." in response.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(ui: Any) -> None:
    app, _, _ = ui
    client = app.test_client()
    client.get("/login", base_url=BASE)
    response = client.post("/login", base_url=BASE, data={
        "email": "owner@shop.example", "password": PASSWORD, "csrf": "0" * 64})
    assert response.status_code == 400
    signed_in, _ = login(app, "owner@shop.example")
    assert signed_in.post("/sites/shop.example/share", base_url=BASE,
                          data={"action": "create"}).status_code == 400


def test_a_user_sees_only_sites_of_their_roles(ui: Any) -> None:
    app, _, _ = ui
    client, _ = login(app, "viewer@other.example")
    assert "shop.example" not in client.get("/sites", base_url=BASE).get_data(as_text=True)
    for path in ("/sites/shop.example", "/sites/shop.example/export.csv",
                 "/sites/shop.example/realtime.json", "/sites/shop.example/share",
                 "/sites/shop.example/privacy-notice", "/sites/unknown.example"):
        assert client.get(path, base_url=BASE).status_code == 403, path
    assert client.get("/admin/retention", base_url=BASE).status_code == 403
    anonymous = app.test_client()
    response = anonymous.get("/sites/shop.example", base_url=BASE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_dashboard_numbers_match_hand_counts_and_small_rows_stay_hidden(ui: Any) -> None:
    app, _, _ = ui
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/shop.example?period=day", base_url=BASE).get_data(as_text=True)
    visitors = re.search(r'data-metric="visitors">\s*<dt>[^<]+</dt>\s*<dd class="value">'
                         r'([^<]+)</dd>', html)
    assert visitors and visitors.group(1) == "16"  # 6 + 5 + 1 + 4, totals are not suppressed
    pages = html.split('id="panel-pages"')[1].split("</section>")[0]
    assert "/pricing" in pages and ">/<" in pages
    assert "script" not in pages and "onerror" not in pages  # the 1-visitor page: hidden
    assert "/rare-" not in pages
    assert "Rows under 5 visitors are never shown (privacy)" in pages  # never a count
    sources = html.split('id="panel-sources"')[1].split("</section>")[0]
    assert "Google" in sources and "Direct" in sources


def test_clicking_a_source_filters_every_panel_and_shows_a_removable_chip(ui: Any) -> None:
    app, _, _ = ui
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/shop.example?period=day", base_url=BASE).get_data(as_text=True)
    link = re.search(r'href="(/sites/shop.example\?[^"]*f=visit%3Asource%7Cis%7CGoogle[^"]*)"',
                     html)
    assert link, "the Google row is not a filter link"
    filtered = client.get(link.group(1).replace("&amp;", "&"), base_url=BASE)
    page = filtered.get_data(as_text=True)
    assert 'class="chip"' in page and "Remove filter visit:source Google" in page
    visitors = re.search(r'data-metric="visitors">\s*<dt>[^<]+</dt>\s*<dd class="value">'
                         r'([^<]+)</dd>', page)
    assert visitors and visitors.group(1) == "6"
    pages = page.split('id="panel-pages"')[1].split("</section>")[0]
    assert "/pricing" in pages and ">/<" not in pages


def test_a_filter_on_a_one_visitor_value_hides_the_totals(ui: Any) -> None:
    app, _, _ = ui
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/shop.example", base_url=BASE, query_string={
        "period": "day", "f": "event:page|is|" + EVIL}).get_data(as_text=True)
    assert "hidden for privacy: fewer than 5 visitors" in html
    assert 'data-metric="visitors">' in html
    top = html.split('aria-label="Top stats"')[1].split("</section>")[0]
    assert re.search(r'<dd class="value">1</dd>', top) is None
    assert "<script>alert" not in html  # the chip shows the value escaped
    assert "&lt;script&gt;alert" in html
    # the chart is withheld like the totals: said so, no flat 0 line drawn
    assert 'id="chart-hidden"' in html and "fewer than 5 visitors match these filters" in html
    assert "<svg" not in html


def test_papercuts_top_pages_csv_cells_share_text_custom_range_and_favicon(ui: Any) -> None:
    """Top pages list pageviews only; CSV has "" for no value, never None; the shared-links
    page names k; a reversed or invalid custom range says so; pages declare an icon."""
    app, runtime, _ = ui
    beacons = app.test_client()
    for i in range(6):  # a page reached by custom events only, no pageview
        send(beacons, ip=f"198.51.100.{i + 1}", domain="shop.example", name="Download",
             url="https://shop.example/files")
    assert runtime.processor.drain(30)
    DirectAdmin(runtime.client, runtime.settings).goals.add(
        "shop.example", define_goal(page="/pricing"))  # a goal without revenue
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/shop.example?period=day", base_url=BASE).get_data(as_text=True)
    pages = html.split('id="panel-pages"')[1].split("</section>")[0]
    assert "/pricing" in pages and "/files" not in pages
    assert "Download" in html.split('id="panel-events"')[1].split("</section>")[0]
    assert '<link rel="icon" href="data:,">' in html
    exported = client.get("/sites/shop.example/export.csv?period=day&panel=all",
                          base_url=BASE).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported)))
    assert ["revenue", "event:goal", "Visit /pricing", "total_revenue", ""] in rows, rows
    assert all(cell != "None" for row in rows for cell in row)
    share = client.get("/sites/shop.example/share", base_url=BASE).get_data(as_text=True)
    assert "No row describing fewer than 5 visitors is ever shown" in share
    today = runtime.clock().date()
    earlier = today - dt.timedelta(days=3)
    reversed_range = client.get("/sites/shop.example", base_url=BASE, query_string={
        "period": "custom", "from": today.isoformat(), "to": earlier.isoformat()}
    ).get_data(as_text=True)
    assert (f"Custom range: from ({today}) is after to ({earlier}); showing {earlier} to "
            f"{today}.") in reversed_range
    assert f'id="from" name="from" value="{earlier}"' in reversed_range
    invalid = client.get("/sites/shop.example", base_url=BASE, query_string={
        "period": "custom", "from": "2024-13-01", "to": ""}).get_data(as_text=True)
    assert "must be dates (YYYY-MM-DD); showing the last 30 days instead." in invalid


def test_csv_export_has_the_panels_rows_and_a_hidden_line_never_the_small_row(ui: Any) -> None:
    app, _, _ = ui
    client, _ = login(app, "owner@shop.example")
    response = client.get("/sites/shop.example/export.csv?period=day&panel=all",
                          base_url=BASE)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["panel", "dimension", "value", "metric", "number"]
    assert ["pages", "event:page", "/pricing", "visitors", "6"] in rows
    assert ["sources", "visit:source", "Google", "visitors", "6"] in rows
    assert any(r[0] == "pages" and r[2].startswith("rows under 5 visitors are never shown")
               for r in rows)
    assert "script" not in response.get_data(as_text=True)


def test_shared_link_opens_one_site_read_only_behind_its_password_and_can_be_revoked(
        ui: Any) -> None:
    app, _, _ = ui
    owner, _ = login(app, "owner@shop.example")
    manage = owner.get("/sites/shop.example/share", base_url=BASE).get_data(as_text=True)
    created = owner.post("/sites/shop.example/share", base_url=BASE, data={
        "csrf": csrf_of(manage), "action": "create", "label": "board",
        "password": "link password 123"}).get_data(as_text=True)
    url = re.search(r'value="https://dash.test(/share/[A-Za-z0-9_-]{40,})"', created)
    assert url, "the new link is not shown"
    guest = app.test_client()
    locked = guest.get(url.group(1), base_url=BASE).get_data(as_text=True)
    assert "This dashboard is protected" in locked and "Unique visitors" not in locked
    assert guest.get(url.group(1) + "/export.csv", base_url=BASE).status_code == 403
    wrong = guest.post(url.group(1), base_url=BASE,
                       data={"csrf": csrf_of(locked), "password": "nope nope nope"})
    assert wrong.status_code == 401
    opened = guest.post(url.group(1), base_url=BASE,
                        data={"csrf": csrf_of(locked), "password": "link password 123"})
    assert opened.status_code == 302
    page = guest.get(url.group(1) + "?period=day", base_url=BASE).get_data(as_text=True)
    assert "shared, read-only" in page and "Shared links</a>" not in page
    assert "are never shown (privacy)" in page and "onerror" not in page
    assert guest.get(url.group(1) + "/export.csv?period=day", base_url=BASE).status_code == 200
    assert guest.get("/sites/shop.example", base_url=BASE).status_code == 302  # no session
    token_hash = re.search(r'name="link" value="([0-9a-f]{64})"',
                           owner.get("/sites/shop.example/share", base_url=BASE)
                           .get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    manage = owner.get("/sites/shop.example/share", base_url=BASE).get_data(as_text=True)
    owner.post("/sites/shop.example/share", base_url=BASE,
               data={"csrf": csrf_of(manage), "action": "revoke", "link": token_hash})
    assert guest.get(url.group(1), base_url=BASE).status_code == 404


def test_an_owner_of_one_site_cannot_revoke_another_sites_shared_link(ui: Any) -> None:
    """The link id in the form must belong to the site in the URL: else 403, link kept."""
    app, _, users = ui
    token = users.create_link("other.example", password_hash="", label="theirs",
                              created_by="admin@example.com")
    theirs = users.link(token)
    assert theirs is not None
    owner, _ = login(app, "owner@shop.example")  # owner of shop.example only
    manage = owner.get("/sites/shop.example/share", base_url=BASE).get_data(as_text=True)
    refused = owner.post("/sites/shop.example/share", base_url=BASE, data={
        "csrf": csrf_of(manage), "action": "revoke", "link": theirs.token_hash})
    assert refused.status_code == 403
    assert users.link(token) is not None
    assert app.test_client().get(f"/share/{token}", base_url=BASE).status_code == 200
    with pytest.raises(LookupError):  # the store itself refuses a mismatched site
        users.revoke_link(theirs.token_hash, site="shop.example")
    assert users.link(token) is not None


def test_empty_site_explains_the_script_tag(ui: Any) -> None:
    app, _, users = ui
    users.grant("owner@shop.example", "other.example", "owner")
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/other.example", base_url=BASE).get_data(as_text=True)
    assert "No data yet" in html
    assert ('&lt;script defer data-domain="other.example" '
            'src="https://dash.test/js/script.js"&gt;&lt;/script&gt;') in html


def test_logout_revokes_the_session(ui: Any) -> None:
    app, _, _ = ui
    client, _ = login(app, "owner@shop.example")
    page = client.get("/sites", base_url=BASE).get_data(as_text=True)
    assert client.post("/logout", base_url=BASE, data={"csrf": csrf_of(page)}).status_code == 302
    assert client.get("/sites", base_url=BASE).status_code == 302


def test_sites_add_keeps_an_existing_sites_policy(ui: Any) -> None:
    _, runtime, _ = ui
    runtime.sites.add("legacy.example", no_consent="anonymous")
    assert runtime.sites.add("legacy.example", city_geo=True).no_consent == "anonymous"
    assert runtime.sites.add("new.example").no_consent == "full"


def test_retention_page_previews_then_applies_only_after_confirmation_and_audits(
        ui: Any) -> None:
    app, runtime, _ = ui
    client, _ = login(app, "admin@example.com")
    page = client.get("/admin/retention?site=shop.example", base_url=BASE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "rollup_daily" in html and "Privacy notice of shop.example" in html
    form = {"csrf": csrf_of(html), "site": "shop.example", "tier": "raw", "days": "0"}
    refused = client.post("/admin/retention/plan", base_url=BASE, data=form)
    assert refused.status_code == 400  # the same guard as `crumbless retention plan`
    form["days"] = "20"
    preview = client.post("/admin/retention/plan", base_url=BASE, data=form)
    assert "Preview: raw for shop.example: 30 → 20 days" in preview.get_data(as_text=True)
    unconfirmed = client.post("/admin/retention/apply", base_url=BASE, data=form)
    assert unconfirmed.status_code == 400
    assert runtime.retention.policy().for_site("shop.example").raw == 30
    started = client.post("/admin/retention/apply", base_url=BASE, data={**form,
                                                                          "confirm": "yes"})
    assert started.status_code == 302
    job_url = started.headers["Location"] + ".json"
    import time
    deadline = time.monotonic() + 60
    while (state := client.get(job_url, base_url=BASE).get_json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["state"] == "done", state
    runtime.retention.invalidate()
    assert runtime.retention.policy().for_site("shop.example").raw == 20
    audit = runtime.retention.audit()
    assert audit[0]["actor"] == "admin@example.com (web)" and audit[0]["new"] == 20


def test_privacy_notice_page_is_rendered_from_the_live_policy(ui: Any) -> None:
    app, runtime, _ = ui
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/shop.example/privacy-notice", base_url=BASE).get_data(
        as_text=True)
    assert "legitimate interest" in html and "Art. 6(1)(f)" in html
    runtime.sites.add("shop.example", no_consent="drop")
    html = client.get("/sites/shop.example/privacy-notice", base_url=BASE).get_data(
        as_text=True)
    assert "only with your consent" in html and "legitimate interest" not in html


def test_goals_panel_shows_conversions_rate_and_revenue_from_the_query_layer(ui: Any) -> None:
    """5 of 16 visitors did Purchase: 31.3 % conversion (5/16), 50.00 EUR revenue."""
    app, runtime, _ = ui
    # Purchase made a revenue goal in EUR (the goals table, as `crumbless goals add` writes).
    runtime.client.insert("goals", [["shop.example", "Purchase", "Purchase", "", "EUR", 0, 1]],
                          column_names=["site", "display_name", "event_name", "page_path",
                                        "currency", "deleted", "version"])
    client, _ = login(app, "owner@shop.example")
    html = client.get("/sites/shop.example?period=day", base_url=BASE).get_data(as_text=True)
    goals = html.split('id="panel-goals"')[1].split("</section>")[0]
    cells = re.findall(r'<td class="num">([^<]+)</td>', goals)
    assert "Purchase" in goals and cells[:3] == ["5", "5", "31.3%"], cells
    revenue = html.split('id="panel-revenue"')[1].split("</section>")[0]
    assert "Purchase" in revenue and "50.00" in revenue
    events = html.split('id="panel-events"')[1].split("</section>")[0]
    assert "Purchase" in events and "pageview" not in events


def test_realtime_counts_this_hour_and_never_shows_a_withheld_number_as_zero(ui: Any) -> None:
    """The query layer snaps ranges to whole hours, so realtime is "this hour"; a count
    under k is null (shown as "fewer than k"), never 0 or the small number."""
    app, _, _ = ui
    client, _ = login(app, "owner@shop.example")
    data = client.get("/sites/shop.example/realtime.json", base_url=BASE).get_json()
    assert data["k"] == 5
    assert data["visitors"] is None or data["visitors"] >= 5
    assert data["visitors"] != 0 and data["pageviews"] != 0
    assert all(row["visitors"] >= 5 for row in data["pages"])
    page = client.get("/sites/shop.example?period=day", base_url=BASE).get_data(as_text=True)
    assert "pageviews this hour" in page and "current visitors" not in page
