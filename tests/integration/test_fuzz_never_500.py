"""Bad input gets a 4xx with a reason, never a 500: seeded fuzzing of both public endpoints."""

from __future__ import annotations

import random
from typing import Any

import orjson

from crumbless.app import create_app

SEED_BEACON = {"n": "pageview", "u": "https://example.com/a?utm_source=x", "d": "example.com",
               "r": "https://ref.example/p", "p": {"a": "1"},
               "$": {"amount": "1.5", "currency": "EUR"}, "consent": {"analytics": True}}
SEED_QUERY = {"site_id": "example.com", "metrics": ["visitors", "bounce_rate"],
              "date_range": "7d", "dimensions": ["visit:country"],
              "filters": [["is", "visit:device", ["Desktop"]]],
              "order_by": [["visitors", "desc"]], "pagination": {"limit": 5, "offset": 0}}
ODD_VALUES: list[Any] = [None, True, 0, -1, 1e308, "", "x" * 5000, "\u0000", "é🙂", [], {},
                         [[[]]], {"a": {"b": {}}}, "https://", "javascript:x", "day", ["a"]]


def mutate(doc: Any, rng: random.Random) -> Any:
    """One random structural change somewhere in a JSON document."""
    if isinstance(doc, dict) and doc and rng.random() < 0.7:
        key = rng.choice(list(doc))
        out = dict(doc)
        roll = rng.random()
        if roll < 0.25:
            del out[key]
        elif roll < 0.5:
            out[key] = rng.choice(ODD_VALUES)
        elif roll < 0.6:
            out[rng.choice(["zz", "v", "n", "metrics"])] = rng.choice(ODD_VALUES)
        else:
            out[key] = mutate(out[key], rng)
        return out
    if isinstance(doc, list) and doc and rng.random() < 0.7:
        out_list = list(doc)
        i = rng.randrange(len(out_list))
        out_list[i] = mutate(out_list[i], rng) if rng.random() < 0.5 else rng.choice(ODD_VALUES)
        return out_list
    return rng.choice(ODD_VALUES)


def bodies(seed: dict[str, Any], rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        doc: Any = seed
        for _ in range(rng.randint(1, 3)):
            doc = mutate(doc, rng)
        raw = orjson.dumps(doc)
        if rng.random() < 0.1:  # byte-level damage too
            pos = rng.randrange(len(raw))
            raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1:]
        out.append(raw)
    return out


def test_no_beacon_or_query_gets_a_500(make_runtime: Any) -> None:
    runtime = make_runtime(k_anonymity=1, rate_limit_client=0)  # parsers, not limits
    runtime.sites.add("example.com", no_consent="full")
    key = runtime.keys.create("example.com")
    client = create_app(runtime).test_client()
    rng = random.Random(20261121)
    statuses: dict[int, int] = {}
    for body in bodies(SEED_BEACON, rng, 400):
        response = client.post("/api/event", data=body, headers={"Content-Type": "text/plain"},
                               environ_base={"REMOTE_ADDR": "198.51.100.1"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (202, 400, 413, 415), body
        if response.status_code != 202:
            assert response.get_json()["error"], body
    for body in bodies(SEED_QUERY, rng, 400):
        response = client.post("/api/v2/query", data=body,
                               headers={"Authorization": f"Bearer {key}",
                                        "Content-Type": "application/json"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400, 403, 413), body
        if response.status_code != 200:
            assert "Traceback" not in response.get_data(as_text=True)
    assert statuses.get(202, 0) > 0 and statuses.get(400, 0) > 0 and statuses.get(200, 0) > 0
    assert runtime.processor.drain(30)  # whatever was accepted was storable


def test_a_filter_whose_dimension_is_not_a_string_is_a_400(make_runtime: Any) -> None:
    """Found by the fuzzer: a list as filter dimension once crashed the parser (500)."""
    runtime = make_runtime(rate_limit_client=0)  # parsers, not limits
    runtime.sites.add("example.com")
    key = runtime.keys.create("example.com")
    client = create_app(runtime).test_client()
    for dimension in ([], {}, 5, None):
        response = client.post("/api/v2/query", json={
            "site_id": "example.com", "metrics": ["visitors"], "date_range": "7d",
            "filters": [["is", dimension, ["Desktop"]]]},
            headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 400
        assert response.get_json()["error"].startswith("filters[0][1]: unknown dimension")
