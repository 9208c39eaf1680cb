"""Conformance: Plausible's own published Stats API v2 queries, answered by crumbless.

Fixtures (tests/conformance/plausible_docs_examples.json, source commits noted inside): the
`*-query.json` example bodies of plausible/docs, and every example filter and dimension of
its docs page's tables. Each runs through the HTTP blueprint against the seeded shop data
set (tests/integration/test_stats_api.py, with goals) and is checked for Plausible's shape:
results rows with one value per metric and dimension, `meta`, and the normalised `query`.
Documented exceptions (docs/stats-api.md) must answer a 4xx naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flask import Flask

from dashboards.api import stats_blueprint
from dashboards.stats import StatsService
from tests.integration.test_stats_api import NOW, SITE, stats_client, stats_db  # noqa: F401
from tests.integration.test_stats_goals import store  # noqa: F401

FIXTURES = json.loads((Path(__file__).parent / "plausible_docs_examples.json").read_text())
# Exceptions, each with its reason in docs/stats-api.md ("Conformance").
EXCEPTIONS = {"filtering-by-segment": "filters[0][1]"}  # saved segments are not built


@pytest.fixture
def http(store: Client) -> Any:  # noqa: F811
    app = Flask(__name__)
    service = StatsService(store, k=1, clock=lambda: NOW)
    app.register_blueprint(stats_blueprint(service, authorize=lambda key, site: True))
    return app.test_client()


def bodies() -> list[tuple[str, dict[str, Any]]]:
    out = [(name, {**q, "site_id": SITE}) for name, q in FIXTURES["queries"].items()]
    out += [(f"filter:{name}", {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d",
                                "filters": [f]}) for name, f in FIXTURES["filters"].items()]
    out += [(f"dimension:{d}", {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d",
                                "dimensions": [d]}) for d in FIXTURES["dimensions"]]
    return out


def answered_as_plausible(name: str, body: dict[str, Any], response: Any) -> bool:
    if name in EXCEPTIONS:
        return (response.status_code == 400
                and response.get_json()["error"].startswith(EXCEPTIONS[name]))
    if response.status_code != 200:
        return False
    answer = response.get_json()
    dims = len(body.get("dimensions", []))
    return (set(answer) == {"results", "meta", "query"}
            and all(len(r["metrics"]) == len(body["metrics"]) and len(r["dimensions"]) == dims
                    for r in answer["results"])
            and answer["query"]["metrics"] == body["metrics"]
            and len(answer["query"]["date_range"]) == 2)


@pytest.mark.parametrize(("name", "body"), bodies(), ids=[n for n, _ in bodies()])
def test_published_query_is_answered_as_plausible(http: Any, name: str,
                                                  body: dict[str, Any]) -> None:
    response = http.post("/api/v2/query", json=body, headers={"Authorization": "Bearer k"})
    assert answered_as_plausible(name, body, response), (response.status_code,
                                                         response.get_json())


def test_documented_values_where_the_docs_show_them(http: Any) -> None:
    """Values the docs responses show that do not depend on their data set."""
    imports = http.post("/api/v2/query", json={**FIXTURES["queries"]["imports"],
                                               "site_id": SITE},
                        headers={"Authorization": "Bearer k"}).get_json()
    assert imports["meta"]["imports_included"] is False
    sources = {r["dimensions"][0] for r in imports["results"]}
    assert sources <= {"Google", "Direct / None", "Direct", "Twitter"}
    labels = http.post("/api/v2/query", json={**FIXTURES["queries"]["time-labels"],
                                              "site_id": SITE},
                       headers={"Authorization": "Bearer k"}).get_json()
    assert labels["meta"]["time_labels"][0] <= labels["results"][0]["dimensions"][0]
