"""schemathesis against the collector, the Stats API and the admin API (docs/openapi.yaml):
a bounded number of generated requests per operation; no 5xx, every answer as described."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crumbless.app import create_admin_app, create_app

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
CASES_PER_OPERATION = 40  # 18 operations x 2 modes: about 1,000 requests, ~20 s
TOTALS: dict[str, int] = {"cases": 0}
# The documented answers; not "positive data accepted": the schema leaves the beacon's and
# the query's own rules (a URL with a host, a known metric) to the 4xx it documents.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def operations(tag: str) -> list[Any]:
    raw = yaml.safe_load(SPEC.read_text())
    # The web UI's HTML pages (tag ui) are driven in Chromium by tests/e2e/ui instead.
    raw["paths"] = {path: {m: op for m, op in ops.items()
                           if tag in op.get("tags", ()) and "ui" not in op.get("tags", ())}
                    for path, ops in raw["paths"].items()}
    raw["paths"] = {path: ops for path, ops in raw["paths"].items() if ops}
    schema = schemathesis.openapi.from_dict(raw)
    return [result.ok() for result in schema.get_all_operations()]


def exercise(app: Any, tag: str, token: str) -> None:
    for operation in operations(tag):
        operation.schema.app = app
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @hypothesis.settings(max_examples=CASES_PER_OPERATION, deadline=None,
                                 database=None, derandomize=True,
                                 suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case: Any) -> None:
                TOTALS["cases"] += 1
                response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
                assert response.status_code < 500, (case.method, case.path,
                                                     response.status_code, response.text)
                case.validate_response(response, checks=CHECKS)
                if response.status_code >= 400:  # one line of JSON naming what was wrong
                    assert response.text.count("\n") <= 1 and response.json()["error"]

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # No invalid request exists for an operation without inputs (GET /api/health).
                assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.fixture
def runtime(make_runtime: Any) -> Any:
    runtime = make_runtime(rate_limit_client=0, rate_limit_site=0, k_anonymity=1)
    runtime.sites.add("example.com", no_consent="full")
    return runtime


def test_collector_and_stats_api_answer_every_generated_request_as_described(
        runtime: Any) -> None:
    exercise(create_app(runtime), "public", runtime.keys.create("example.com"))


def test_admin_api_answers_every_generated_request_as_described(runtime: Any) -> None:
    exercise(create_admin_app(runtime), "admin", runtime.admin_token)
    assert TOTALS["cases"] > 0
    print(f"\nschemathesis cases: {TOTALS['cases']}")
