"""A dropped event still answers 202, but says so to the person integrating (issue 14)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from crumbless.app import create_app
from tests.integration.helpers import CHROME, send


@pytest.fixture
def client(make_runtime: Any) -> Any:
    runtime = make_runtime()
    runtime.sites.add("example.com", no_consent="full")
    runtime.sites.add("strict.example", no_consent="drop")
    return create_app(runtime).test_client()


def test_a_kept_event_gets_a_bare_202_without_content_type(client: Any) -> None:
    answer = send(client, ip="198.51.100.1")
    assert answer.status_code == 202
    assert answer.data == b""
    assert "Content-Type" not in answer.headers
    assert "X-Crumbless-Dropped" not in answer.headers


def test_a_beacon_without_a_browser_user_agent_says_it_was_dropped_as_a_bot(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="collector.ingest")
    answer = send(client, ip="198.51.100.77", ua="curl/8.5.0")
    assert answer.status_code == 202  # a tracker must not learn the filter from the status
    assert answer.headers["X-Crumbless-Dropped"] == "bot"
    assert "X-Crumbless-Dropped" in answer.headers["Access-Control-Expose-Headers"]
    assert "Content-Type" not in answer.headers
    lines = [r.getMessage() for r in caplog.records if r.name == "collector.ingest"]
    assert any("dropped" in line and "bot" in line for line in lines), lines
    assert not any("198.51.100.77" in line or "curl" in line for line in lines), lines


def test_an_event_dropped_by_the_consent_policy_says_consent(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="collector.ingest")
    answer = send(client, ip="198.51.100.78", domain="strict.example",
                  url="https://strict.example/")
    assert answer.status_code == 202
    assert answer.headers["X-Crumbless-Dropped"] == "consent"
    lines = [r.getMessage() for r in caplog.records if r.name == "collector.ingest"]
    assert any("strict.example" in line and "dropped" in line for line in lines), lines
    assert not any("198.51.100.78" in line or CHROME in line for line in lines), lines
