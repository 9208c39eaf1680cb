"""Small helpers for driving the embedded app in integration tests."""

from __future__ import annotations

from typing import Any

import orjson

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def send(client: Any, *, ip: str, url: str = "https://example.com/", domain: str = "example.com",
         name: str = "pageview", ua: str = CHROME, headers: dict[str, str] | None = None,
         **fields: Any) -> Any:
    """POST one beacon from `ip` and return the response."""
    body = {"n": name, "u": url, "d": domain, **fields}
    return client.post("/api/event", data=orjson.dumps(body),
                       headers={"User-Agent": ua, "Content-Type": "text/plain",
                                **(headers or {})},
                       environ_base={"REMOTE_ADDR": ip})


def query(client: Any, key: str, **body: Any) -> Any:
    """POST a Stats API v2 query with a bearer key and return the response."""
    return client.post("/api/v2/query", json=body, headers={"Authorization": f"Bearer {key}"})


def rows(response: Any) -> list[tuple[list[Any], list[Any]]]:
    """(dimensions, metrics) pairs of a Stats API answer, asserting it succeeded."""
    assert response.status_code == 200, response.get_json()
    return [(r["dimensions"], r["metrics"]) for r in response.get_json()["results"]]
