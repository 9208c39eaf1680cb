"""Seeded fuzzing of the Umami and Matomo endpoints: a 4xx with a reason, never a 500."""

from __future__ import annotations

import random
import urllib.parse
from typing import Any

import orjson

from crumbless.app import create_app
from tests.integration.helpers import CHROME
from tests.integration.test_fuzz_never_500 import bodies, mutate

WEBSITE = "50429a93-8479-4073-be80-d5d29c09c2ec"
SEED_UMAMI = {"type": "event", "payload": {
    "website": WEBSITE, "hostname": "example.com", "url": "/a?utm_source=x",
    "referrer": "https://ref.example/p", "name": "signup", "title": "t", "screen": "1x1",
    "data": {"plan": "pro", "revenue": 3, "currency": "EUR"}}}
SEED_MATOMO = {"idsite": "7", "rec": "1", "url": "https://example.com/a?mtm_campaign=c",
               "urlref": "https://ref.example/", "e_c": "c", "e_a": "a", "e_v": "1",
               "idgoal": "1", "revenue": "2.5", "link": "https://o.example/", "ping": "0",
               "_id": "0123456789abcdef", "send_image": "0"}


def as_query(doc: Any) -> str:
    """A mutated document as Matomo parameters (non-objects become a raw query string)."""
    if isinstance(doc, dict):
        return urllib.parse.urlencode({str(k): orjson.dumps(v).decode().strip('"')
                                       for k, v in doc.items()})
    return orjson.dumps(doc).decode()


def test_no_umami_or_matomo_request_gets_a_500(make_runtime: Any) -> None:
    runtime = make_runtime(k_anonymity=1, rate_limit_client=0)  # parsers, not limits
    runtime.sites.add("example.com", no_consent="full", umami_website_id=WEBSITE,
                      matomo_site_id=7)
    client = create_app(runtime).test_client()
    rng = random.Random(20261207)
    env = {"REMOTE_ADDR": "198.51.100.1"}
    statuses: dict[int, int] = {}

    def check(response: Any, ok: tuple[int, ...], what: Any) -> None:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (*ok, 400, 413), what
        if response.status_code >= 400:
            assert response.get_json()["error"], what

    for body in bodies(SEED_UMAMI, rng, 300):
        check(client.post("/api/send", data=body, headers={"User-Agent": CHROME},
                          environ_base=env), (200,), body)
    for _ in range(300):
        doc: Any = SEED_MATOMO
        for _ in range(rng.randint(1, 3)):
            doc = mutate(doc, rng)
        query = as_query(doc)
        check(client.get(f"/matomo.php?{query}", headers={"User-Agent": CHROME},
                         environ_base=env), (200, 204), query)
        check(client.post("/piwik.php", data=query.encode(), headers={"User-Agent": CHROME},
                          environ_base=env), (200, 204), query)
        bulk = orjson.dumps(mutate({"requests": ["?" + query, "?" + as_query(SEED_MATOMO)]},
                                   rng))
        check(client.post("/matomo.php", data=bulk, headers={"User-Agent": CHROME},
                          environ_base=env), (200, 204), bulk)
    assert statuses.get(400, 0) > 0 and statuses.get(200, 0) > 0 and statuses.get(204, 0) > 0
    assert runtime.processor.drain(30)  # whatever was accepted was storable
