"""The dashboard as a marketer uses it, in a real headless Chromium against `crumbless serve`.

Traffic (all today, through /api/event): 6 visitors from Google on /pricing, 5 direct
visitors on a page whose path is an HTML payload, 1 visitor on /only-one and 4 on /few.
With k = 5, the payload page is shown (as text, never run) and /only-one and /few are
never shown anywhere (together they hold 5 visitors, so "total minus the rows shown"
isolates no fewer than k and the payload row need not be withheld with them).
Screenshots: tests/e2e/ui/artifacts/ (gitignored).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from tests.e2e.ui.conftest import Serve

PASSWORD = "correct horse battery"
PAYLOAD = "/<img src=x onerror=alert(1)><script>alert(2)</script>"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.{}"


def _beacon(serve: Serve, page: str, n: int, referrer: str = "") -> None:
    import json
    import urllib.request

    body = {"name": "pageview", "url": "https://shop.example" + page, "domain": "shop.example",
            "referrer": referrer}
    request = urllib.request.Request(
        f"http://127.0.0.1:{serve.port}/api/event", data=json.dumps(body).encode(),
        headers={"Content-Type": "text/plain", "User-Agent": UA.format(n)}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def _seed(serve: Serve) -> None:
    serve.cli("sites", "add", "shop.example")
    serve.cli("sites", "add", "other.example")
    serve.cli("users", "add", "owner@shop.example", "--site", "shop.example",
              "--password-stdin", stdin=PASSWORD + "\n")
    serve.cli("users", "add", "outsider@other.example", "--site", "other.example", "--role",
              "viewer", "--password-stdin", stdin=PASSWORD + "\n")
    for i in range(6):
        _beacon(serve, "/pricing", i, "https://www.google.com/")
    for i in range(6, 11):
        _beacon(serve, PAYLOAD, i)
    _beacon(serve, "/only-one", 11)
    for i in range(12, 16):
        _beacon(serve, "/few", i)
    serve.cli("wait", "--timeout", "60")


def _login(page: Any, serve: Serve, email: str) -> None:
    page.goto(serve.url + "/")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _stat(page: Any, metric: str) -> str:
    return str(page.locator(f'[data-metric="{metric}"] .value').inner_text()).strip()


def test_marketer_journey_in_chromium(browser: Any, serve: Serve, artifacts: Path) -> None:
    _seed(serve)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    _login(page, serve, "owner@shop.example")
    assert page.url.endswith("/sites")
    assert page.get_by_role("link", name="other.example").count() == 0
    page.get_by_role("link", name="shop.example").click()
    page.wait_for_load_state()
    assert _stat(page, "visitors") == "16" and _stat(page, "pageviews") == "16"
    assert page.locator("#chart svg").count() == 1
    pages_panel = page.locator("#panel-pages")
    assert PAYLOAD in pages_panel.inner_text()  # shown as text …
    assert page.locator("#panel-pages img").count() == 0  # … never as markup
    assert "/only-one" not in page.content()
    assert "Rows under 5 visitors are never shown" in pages_panel.inner_text()
    page.screenshot(path=str(artifacts / "01-dashboard.png"), full_page=True)

    page.select_option("#period", "7d")  # submits itself: the range lives in the URL
    page.wait_for_url(re.compile(r"period=7d"))
    assert page.locator("#period").input_value() == "7d"
    assert _stat(page, "visitors") == "16"
    assert "Last 7 days" in page.locator("#period option:checked").inner_text()

    page.locator("#panel-sources").get_by_role("link", name="Google").click()
    page.wait_for_url(re.compile(r"f=visit%3Asource%7Cis%7CGoogle"))
    assert "period=7d" in page.url
    assert page.locator(".chip").count() == 1 and "Google" in page.locator(".chip").inner_text()
    assert _stat(page, "visitors") == "6"
    assert PAYLOAD not in page.locator("#panel-pages").inner_text()
    assert "/pricing" in page.locator("#panel-pages").inner_text()
    page.screenshot(path=str(artifacts / "02-filtered-by-google.png"), full_page=True)

    page.get_by_role("link", name=re.compile("Remove filter")).click()
    page.wait_for_load_state()
    assert page.locator(".chip").count() == 0 and _stat(page, "visitors") == "16"

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV (all panels)").click()
    exported = download_info.value.path()
    rows = list(csv.reader(Path(exported).open(encoding="utf-8")))
    assert ["pages", "event:page", "/pricing", "visitors", "6"] in rows
    assert ["pages", "event:page", PAYLOAD, "visitors", "5"] in rows
    assert any(r[0] == "pages" and r[2].startswith("rows under 5 visitors are never shown")
               for r in rows)
    assert "/only-one" not in Path(exported).read_text(encoding="utf-8")

    page.get_by_role("link", name="Shared links").click()
    page.get_by_label("Label").fill("weekly review")
    page.get_by_label("Password (optional, 10+ characters)").fill("link password 123")
    page.get_by_role("button", name="Create link").click()
    link = page.locator("#new-link").input_value()
    assert re.search(r"/share/[A-Za-z0-9_-]{40,}$", link)

    guest = browser.new_context(viewport={"width": 390, "height": 844})  # phone width
    shared = guest.new_page()
    shared.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    shared.goto(link)
    assert "This dashboard is protected" in shared.content()
    shared.get_by_label("Password").fill("link password 123")
    shared.get_by_role("button", name="Open").click()
    shared.wait_for_load_state()
    assert "shared, read-only" in shared.inner_text("body")
    assert _stat(shared, "visitors") == "16"
    assert shared.get_by_role("link", name="Shared links").count() == 0
    assert "/only-one" not in shared.content()
    shared.screenshot(path=str(artifacts / "03-shared-link-phone.png"), full_page=True)
    assert shared.goto(serve.url + "/sites/shop.example").url.endswith(
        "/login?next=/sites/shop.example")  # the link opens one dashboard, nothing else

    outsider = browser.new_context().new_page()
    _login(outsider, serve, "outsider@other.example")
    response = outsider.goto(serve.url + "/sites/shop.example")
    assert response is not None and response.status == 403
    assert "You have no access to this site." in outsider.inner_text("body")
    outsider.screenshot(path=str(artifacts / "04-refused.png"))
    assert dialogs == [], f"a beacon's HTML ran as script: {dialogs}"
    guest.close()
    context.close()
