"""The Umami and Matomo endpoints on the embedded stack (real chdb): what they answer, and
that their events land through the same privacy path and storage as /api/event."""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson
import pytest

from crumbless.app import create_app
from tests.integration.helpers import CHROME

WEBSITE = "50429a93-8479-4073-be80-d5d29c09c2ec"
GIF = b"GIF89a"


@pytest.fixture
def stack(make_runtime: Any) -> Any:
    runtime = make_runtime(k_anonymity=1)
    runtime.sites.add("example.com", no_consent="full", umami_website_id=WEBSITE,
                      matomo_site_id=7, matomo_currency="EUR")
    return runtime, create_app(runtime).test_client()


def stored(runtime: Any) -> list[tuple[Any, ...]]:
    assert runtime.processor.drain(30)
    return [tuple(r) for r in runtime.client.query(
        "SELECT name, pathname, referrer, props, revenue_amount, revenue_currency, visitor_id"
        " FROM events ORDER BY ts, name").result_rows]


def umami(client: Any, payload: dict[str, Any], kind: str = "event",
          ip: str = "198.51.100.1") -> Any:
    return client.post("/api/send", data=orjson.dumps({"type": kind, "payload": payload}),
                       headers={"User-Agent": CHROME, "Content-Type": "application/json"},
                       environ_base={"REMOTE_ADDR": ip})


def matomo(client: Any, method: str, ip: str = "198.51.100.2", **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    headers = {"User-Agent": CHROME}
    if method == "GET":
        return client.get(f"/matomo.php?{query}", headers=headers,
                          environ_base={"REMOTE_ADDR": ip})
    return client.post("/piwik.php", data=query, headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "Origin": "https://example.com"}, environ_base={"REMOTE_ADDR": ip})


def test_umami_events_are_stored_like_beacons_and_answered_with_json(stack: Any) -> None:
    runtime, client = stack
    page = umami(client, {"website": WEBSITE, "hostname": "example.com",
                          "url": "/pricing?utm_source=x", "referrer": "https://ref.example/a?b"})
    assert page.status_code == 200 and page.get_json() == {}
    assert page.headers["Access-Control-Allow-Origin"] == "*"
    event = umami(client, {"website": WEBSITE, "url": "/pricing", "name": "signup",
                           "data": {"plan": "pro"}})
    assert event.status_code == 200
    identify = umami(client, {"website": WEBSITE, "data": {"email": "a@b.example"}}, "identify")
    assert identify.status_code == 200 and identify.get_json() == {}
    rows = stored(runtime)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("pageview", "/pricing", "https://ref.example/a", {}),
        ("signup", "/pricing", "https://ref.example/a", {"plan": "pro"})]  # the visit's
    assert all(r[6] != 0 for r in rows)  # counted with crumbless's own daily visitor id
    assert runtime.client.query("SELECT count() FROM events WHERE has(mapValues(props), "
                                "'a@b.example')").result_rows[0][0] == 0


def test_umami_meaningless_requests_get_one_line_of_json_naming_the_field(stack: Any) -> None:
    _, client = stack
    unknown = umami(client, {"website": "00000000-0000-4000-8000-000000000000", "url": "/"})
    assert unknown.status_code == 400
    assert unknown.get_json()["error"].startswith("payload.website 00000000-")
    missing = umami(client, {"website": WEBSITE, "hostname": "example.com"})
    assert (missing.status_code, missing.get_json()) == (
        400, {"error": "payload.url is required for a pageview"})
    not_json = client.post("/api/send", data=b"{", headers={"User-Agent": CHROME})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.get_json()["error"]
    preflight = client.options("/api/send")
    assert "x-umami-cache" in preflight.headers["Access-Control-Allow-Headers"]


def test_matomo_get_post_and_bulk_hits_are_stored_and_answered_as_matomo_does(
        stack: Any) -> None:
    runtime, client = stack
    gif = matomo(client, "GET", idsite="7", rec="1", url="https://example.com/docs",
                 urlref="https://search.example/?q=1", action_name="Docs", _id="0123456789abcdef")
    assert gif.status_code == 200 and gif.mimetype == "image/gif" and gif.data.startswith(GIF)
    assert gif.headers["Cache-Control"] == "no-store"
    no_image = matomo(client, "POST", idsite="7", rec="1", url="https://example.com/docs",
                      e_c="Video", e_a="Play", e_n="Intro", e_v="3", send_image="0", ca="1")
    assert no_image.status_code == 204
    assert no_image.headers["Access-Control-Allow-Origin"] == "https://example.com"
    ping = matomo(client, "GET", idsite="7", rec="1", url="https://example.com/docs", ping="1")
    assert ping.status_code == 200
    bulk = client.post("/matomo.php", data=orjson.dumps({"requests": [
        "?idsite=7&rec=1&idgoal=2&revenue=9.5&url=https%3A%2F%2Fexample.com%2Fthanks",
        "?idsite=7&rec=1&url=https%3A%2F%2Fexample.com%2Fdl"
        "&download=https%3A%2F%2Fexample.com%2Fa.pdf",
        "?idsite=7&rec=1"]}), headers={"User-Agent": CHROME,
                                         "Content-Type": "application/json"},
        environ_base={"REMOTE_ADDR": "198.51.100.3"})
    assert bulk.status_code == 200
    assert bulk.get_json() == {"status": "success", "tracked": 2, "invalid": 1}
    rows = stored(runtime)
    assert sorted((r[0], r[1], r[3]) for r in rows) == [
        ("File Download", "/dl", {"url": "https://example.com/a.pdf"}),
        ("Goal 2", "/thanks", {"goal": "2"}),
        ("Video: Play", "/docs", {"category": "Video", "action": "Play", "name": "Intro",
                                  "value": "3"}),
        ("pageview", "/docs", {})]
    goal = next(r for r in rows if r[0] == "Goal 2")
    assert (str(goal[4]), goal[5]) == ("9.500", "EUR")


def test_matomo_meaningless_hits_are_4xx_naming_the_field(stack: Any) -> None:
    _, client = stack
    cases = [({"rec": "1", "url": "https://example.com/"}, "idsite is required"),
             ({"idsite": "99", "rec": "1", "url": "https://example.com/"},
              "idsite 99 is not mapped"),
             ({"idsite": "7", "rec": "1"}, "url is required"),
             ({"idsite": "7", "url": "https://example.com/"}, "rec must be 1")]
    for params, reason in cases:
        response = matomo(client, "GET", **params)
        assert response.status_code == 400, params
        assert response.get_json()["error"].startswith(reason)
    bulk = client.post("/matomo.php", data=b'{"requests": ["?idsite=7&rec=1"]}',
                       headers={"User-Agent": CHROME})
    assert (bulk.status_code, bulk.get_json()["error"]) == (
        400, "requests[0]: url is required: the full URL of the page")
