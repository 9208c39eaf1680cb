"""Hardening of the embedded app (issue 12): rate limits, storage faults, input errors, and
processed events leaving the event log — on real chdb, through the Flask apps."""

from __future__ import annotations

import json
import time
from typing import Any

from contract.errors import StorageError
from crumbless.app import create_admin_app, create_app
from tests.integration.helpers import query, send


def test_processed_events_leave_the_event_log_within_roll_seconds(make_runtime: Any) -> None:
    runtime = make_runtime(k_anonymity=1, eventlog_roll_seconds=0.5)
    runtime.sites.add("example.com", no_consent="full")
    client = create_app(runtime).test_client()
    for i in range(20):
        assert send(client, ip=f"198.51.100.{i}",
                    url=f"https://example.com/secret-page-{i}").status_code == 202
    assert runtime.processor.drain(30)
    committed_at = time.monotonic()
    directory = runtime.event_log.directory
    while b"secret-page" in b"".join(p.read_bytes() for p in directory.glob("*.log")):
        assert time.monotonic() - committed_at < 3.0, "processed events stayed on disk"
        time.sleep(0.05)
    lingered = time.monotonic() - committed_at
    assert lingered < 3.0  # roll_seconds (0.5) + the processor's idle tick (0.2) + slack
    assert {p.stat().st_mode & 0o777 for p in directory.glob("*.log")} == {0o600}


def test_one_flooding_client_gets_429_while_another_is_served(make_runtime: Any) -> None:
    runtime = make_runtime(rate_limit_client=5, rate_limit_client_burst=10)
    runtime.sites.add("example.com", no_consent="full")
    client = create_app(runtime).test_client()
    flood = [send(client, ip="203.0.113.66") for _ in range(200)]
    refused = [r for r in flood if r.status_code == 429]
    assert len(refused) >= 180
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].get_json() == {
        "error": "rate limit: too many requests from this client; retry later"}
    assert [send(client, ip="198.51.100.7").status_code for _ in range(10)] == [202] * 10


def test_a_site_over_its_event_rate_gets_429_with_retry_after(make_runtime: Any) -> None:
    runtime = make_runtime(rate_limit_site=1, rate_limit_site_burst=3)
    runtime.sites.add("example.com", no_consent="full")
    runtime.sites.add("other.example", no_consent="full")
    client = create_app(runtime).test_client()
    statuses = [send(client, ip=f"198.51.100.{i}").status_code for i in range(6)]
    assert statuses[:3] == [202] * 3 and set(statuses[3:]) == {429}
    assert send(client, ip="198.51.100.99", url="https://other.example/",
                domain="other.example").status_code == 202


def test_storage_failure_in_the_site_lookup_is_a_503_with_retry_after(
        make_runtime: Any) -> None:
    runtime = make_runtime()

    def broken(_domain: str) -> Any:
        raise StorageError("ClickHouse is down")

    runtime.sites.get = broken
    response = send(create_app(runtime).test_client(), ip="198.51.100.1")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json() == {"error": "storage unavailable; retry later"}


def test_bad_stats_api_inputs_are_400s_naming_the_field(make_runtime: Any) -> None:
    runtime = make_runtime(k_anonymity=1)
    runtime.sites.add("example.com", no_consent="full")
    key = runtime.keys.create("example.com")
    client = create_app(runtime).test_client()
    base = {"site_id": "example.com", "metrics": ["visitors"]}
    cases = {
        "date_range[1]": {**base, "date_range": ["2026-01-01", "9999-12-31"]},
        "date_range[0]": {**base, "date_range": ["0001-01-01T00:00:00+05:00",
                                                 "2026-01-01T00:00:00"]},
        "filters[0][2][0]": {**base, "date_range": "day",
                             "filters": [["is", "event:page", ["\ud800"]]]},
    }
    for field, body in cases.items():
        response = client.post("/api/v2/query", data=json.dumps(body).encode(),
                               headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 400, (field, response.get_json())
        assert response.get_json()["error"].startswith(field), response.get_json()
    deep = b"[" * 1000 + b"]" * 1000
    response = client.post("/api/v2/query", data=b'{"site_id": "example.com", "x": ' + deep
                           + b"}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400 and "nested deeper" in response.get_json()["error"]
    assert query(client, key, **base, date_range="day").status_code == 200


def test_bad_admin_inputs_are_400s_naming_the_parameter(make_runtime: Any) -> None:
    runtime = make_runtime()
    admin = create_admin_app(runtime).test_client()
    auth = {"Authorization": f"Bearer {runtime.admin_token}"}
    response = admin.post("/api/admin/drain?timeout=abc", headers=auth)
    assert response.status_code == 400 and response.get_json()["error"].startswith("timeout:")
    response = admin.post("/api/admin/sites", headers=auth,
                          json={"domain": "example.com", "store_truncated_ip": "no"})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("store_truncated_ip:")
    assert runtime.sites.get("example.com") is None
    response = admin.post("/api/admin/retention/plan", headers=auth,
                          json={"tier": "raw", "days": 5, "site": 7})
    assert response.status_code == 400 and response.get_json()["error"].startswith("site:")


def test_the_public_app_has_no_admin_api(make_runtime: Any) -> None:
    runtime = make_runtime()
    response = create_app(runtime).test_client().get(
        "/api/admin/sites", headers={"Authorization": f"Bearer {runtime.admin_token}"})
    assert response.status_code == 404
