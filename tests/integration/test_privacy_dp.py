"""The differentially private mode on real chdb: noise of the documented scale, the ε budget
per key and day enforced (429), repeated queries answered identically and for free."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flask import Flask

from dashboards.api import stats_blueprint
from dashboards.noise import CONTRIBUTION, DpPolicy, PrivacyAccountant
from dashboards.query import parse_query
from dashboards.stats import StatsService
from tests.integration.test_privacy_attacks import rare  # noqa: F401 (fixture)
from tests.integration.test_stats_api import (  # noqa: F401 (fixtures)
    NOW,
    SITE,
    TODAY,
    stats_client,
    stats_db,
)


def discrete_laplace_std(scale: float) -> float:
    """Standard deviation of P(x) ∝ exp(-|x|/scale) on the integers."""
    q = math.exp(-1 / scale)
    return math.sqrt(2 * q) / (1 - q)


def test_noise_has_the_documented_scale() -> None:
    """3000 independent answers of a true count of 1000: mean 1000, std of discrete Laplace
    with scale 2/ε (ε = 0.5: scale 4, std ≈ 5.64)."""
    policy = DpPolicy(query_epsilon=0.5, budget=10_000)
    accountant = PrivacyAccountant(policy)
    assert policy.scale == 4 and accountant.query_cost == pytest.approx(0.5)
    draws = []
    for i in range(3000):
        query = parse_query({"site_id": f"s{i}.example", "metrics": ["visitors"],
                             "date_range": "day"}, today=TODAY)
        results, _ = accountant.answer("k", query, TODAY, [([], 1000)])
        draws.append(results[0]["metrics"][0] - 1000)
    expected = discrete_laplace_std(policy.scale)
    assert abs(statistics.fmean(draws)) < 0.5
    assert statistics.pstdev(draws) == pytest.approx(expected, rel=0.08)
    assert len(set(draws)) > 15  # really random, not a constant offset


@pytest.fixture
def dp_http(rare: Client) -> Any:  # noqa: F811 (the imported fixture)
    service = StatsService(rare, k=5, clock=lambda: NOW, dp_sites=frozenset({SITE}),
                           dp_policy=DpPolicy(query_epsilon=0.5, budget=1.0))
    app = Flask(__name__)
    app.register_blueprint(stats_blueprint(service, authorize=lambda key, site: True))
    client = app.test_client()

    def post(body: dict[str, Any], key: str = "key-a") -> Any:
        return client.post("/api/v2/query", headers={"Authorization": f"Bearer {key}"},
                           json={"site_id": SITE, "metrics": ["visitors"], **body})
    return post


def test_budget_is_reported_and_enforced_per_key_and_repeats_are_free(dp_http: Any) -> None:
    first = dp_http({"date_range": ["2024-03-09", "2024-03-09"]})
    assert first.status_code == 200
    privacy = first.get_json()["meta"]["privacy"]
    assert privacy["mode"] == "differentially_private"
    assert (privacy["epsilon_charged"], privacy["epsilon_budget"],
            privacy["epsilon_remaining"]) == (0.5, 1.0, 0.5)
    assert privacy["period"] == "2024-03-10" and privacy["noise_scale"] == 2 / 0.5 * 1
    second = dp_http({"date_range": ["2024-03-08", "2024-03-09"]})
    assert second.get_json()["meta"]["privacy"]["epsilon_remaining"] == 0
    spent = dp_http({"date_range": ["2024-03-07", "2024-03-09"]})
    assert spent.status_code == 429
    assert spent.get_json()["error"].startswith("privacy budget: this key's ε = 1 for 2024-03-10")
    again = dp_http({"date_range": ["2024-03-09", "2024-03-09"]})
    assert again.status_code == 200 and again.get_json()["results"] == first.get_json()["results"]
    assert again.get_json()["meta"]["privacy"]["epsilon_charged"] == 0
    assert dp_http({"date_range": "7d"}, key="key-b").status_code == 200  # its own budget


def test_repeated_queries_do_not_average_the_noise_away(dp_http: Any) -> None:
    """Twenty asks, by two keys, get one and the same noisy answer."""
    body = {"date_range": ["2024-03-09", "2024-03-09"], "dimensions": ["time:day"]}
    answers = {str(dp_http(body, key=f"key-{i % 2}").get_json()["results"]) for i in range(20)}
    assert len(answers) == 1


def test_every_bucket_is_answered_and_noised(dp_http: Any) -> None:
    """Which rows exist says nothing: all seven days come back, data or not."""
    answer = dp_http({"date_range": "7d", "dimensions": ["time:day"]}).get_json()
    assert [row["dimensions"][0] for row in answer["results"]] == [
        (dt.date(2024, 3, 4) + dt.timedelta(days=i)).isoformat() for i in range(7)]
    assert all(row["metrics"][0] >= 0 for row in answer["results"])


@pytest.mark.parametrize(("body", "field"), [
    ({"metrics": ["visitors", "pageviews"]}, "metrics[1]"),
    ({"dimensions": ["event:page"]}, "dimensions[0]"),
    ({"dimensions": ["time:hour"]}, "dimensions[0]"),
])
def test_what_the_mode_cannot_bound_is_a_400(dp_http: Any, body: dict[str, Any],
                                             field: str) -> None:
    response = dp_http({"date_range": "7d", **body})
    assert response.status_code == 400 and response.get_json()["error"].startswith(field)


def test_site_owners_stay_exact(rare: Client) -> None:  # noqa: F811 (the imported fixture)
    service = StatsService(rare, k=5, clock=lambda: NOW, dp_sites=frozenset({SITE}))
    answer = service.run(parse_query({"site_id": SITE, "metrics": ["visitors"],
                                      "date_range": ["2024-03-09", "2024-03-09"]}, today=TODAY))
    assert answer["results"] == [{"metrics": [21], "dimensions": []}]
    assert answer["meta"]["privacy"] == {"mode": "k_anonymous", "k": 5}
    assert CONTRIBUTION == 2
