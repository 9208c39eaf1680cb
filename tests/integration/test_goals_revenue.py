"""Goals as an operator configures them, and revenue as the README's tracker example sends
it, on a real embedded runtime (chdb): the revenue shows in the Stats API and on the
dashboard with no goals row; `goals add|list|remove` change what is reported."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from contract.errors import BadRequest
from crumbless.admin import DirectAdmin
from crumbless.app import create_app
from dashboards.ui.auth import hash_password
from sinks.users import UserStore
from tests.integration.helpers import query, send
from tests.integration.test_dashboard_ui import BASE, PASSWORD, login

README = Path(__file__).resolve().parents[2] / "README.md"
SITE = "shop.example"


def readme_revenue_call() -> tuple[str, float, str]:
    """(event name, amount, currency) of the README's tracker revenue example."""
    found = re.search(r'crumbless\("(\w+)", \{.*revenue: \{amount: ([\d.]+), '
                      r'currency: "([A-Z]{3})"\}\}\);', README.read_text())
    assert found, "README.md lost its tracker revenue example"
    return found.group(1), float(found.group(2)), found.group(3)


@pytest.fixture
def shop(make_runtime: Any) -> Any:
    """5 visitors each send the README's revenue event (as /js/script.js sends it: `$`)."""
    runtime = make_runtime()
    runtime.sites.add(SITE)
    app = create_app(runtime)
    beacons = app.test_client()
    name, amount, currency = readme_revenue_call()
    for i in range(5):
        ip = f"198.51.100.{i + 1}"
        send(beacons, ip=ip, domain=SITE, url=f"https://{SITE}/")
        send(beacons, ip=ip, domain=SITE, name=name, url=f"https://{SITE}/",
             p={"plan": "pro"}, **{"$": {"amount": amount, "currency": currency}})
    assert runtime.processor.drain(30)
    admin = DirectAdmin(runtime.client, runtime.settings)
    admin.sites, admin.keys = runtime.sites, runtime.keys
    return app, runtime, admin, runtime.keys.create(SITE)


def revenue_by_goal(app: Any, key: str) -> dict[str, Any]:
    answer = query(app.test_client(), key, site_id=SITE, date_range="day",
                   metrics=["visitors", "total_revenue"], dimensions=["event:goal"])
    assert answer.status_code == 200, answer.get_json()
    return {r["dimensions"][0]: r["metrics"][1] for r in answer.get_json()["results"]}


def test_the_readme_revenue_example_shows_revenue_without_a_goals_row(shop: Any) -> None:
    app, runtime, _, key = shop
    name, amount, currency = readme_revenue_call()
    total = round(5 * amount, 2)
    revenue = revenue_by_goal(app, key)[name]
    assert revenue["value"] == total and revenue["currency"] == currency, revenue
    filtered = query(app.test_client(), key, site_id=SITE, date_range="day",
                     metrics=["total_revenue"], filters=[["is", "event:goal", [name]]])
    answer = filtered.get_json()
    assert answer["results"][0]["metrics"][0]["value"] == total, answer
    assert "metric_warnings" not in answer.get("meta", {}), answer
    # and on the dashboard's revenue panel
    users = UserStore(runtime.client)
    users.add_user("owner@shop.example", hash_password(PASSWORD))
    users.grant("owner@shop.example", SITE, "owner")
    client, _ = login(app, "owner@shop.example")
    html = client.get(f"/sites/{SITE}?period=day", base_url=BASE).get_data(as_text=True)
    panel = html.split('id="panel-revenue"')[1].split("</section>")[0]
    assert name in panel and f"{total:.2f}" in panel, panel


def test_goals_add_list_remove_change_what_revenue_reports(shop: Any) -> None:
    app, _, admin, key = shop
    name, amount, currency = readme_revenue_call()
    other = "USD" if currency != "USD" else "EUR"
    # a configured currency wins over the events' own: no conversion, so no revenue
    added = admin.add_goal(SITE, event=name, currency=other.lower(), display_name="Sign-ups")
    assert added == {"name": "Sign-ups", "kind": "event", "event": name, "page": "",
                     "currency": other}
    admin.add_goal(SITE, page="/")
    assert [g["name"] for g in admin.list_goals(SITE)] == ["Sign-ups", "Visit /"]
    revenue = revenue_by_goal(app, key)
    assert name not in revenue and revenue["Visit /"] is None
    assert revenue["Sign-ups"] is None or revenue["Sign-ups"]["value"] == 0, revenue
    with pytest.raises(BadRequest, match="already the goal 'Sign-ups'"):
        admin.add_goal(SITE, event=name, display_name="Again")
    admin.remove_goal(SITE, "Sign-ups")
    assert [g["name"] for g in admin.list_goals(SITE)] == ["Visit /"]
    assert revenue_by_goal(app, key)[name]["value"] == round(5 * amount, 2)
    with pytest.raises(BadRequest, match="has no goal 'Sign-ups'"):
        admin.remove_goal(SITE, "Sign-ups")
    with pytest.raises(BadRequest, match="not registered"):
        admin.add_goal("nowhere.example", event="X")


def test_revenue_in_several_currencies_infers_nothing(shop: Any) -> None:
    app, runtime, _, key = shop
    name, _, currency = readme_revenue_call()
    other = "USD" if currency != "USD" else "EUR"
    send(app.test_client(), ip="198.51.100.9", domain=SITE, name=name,
         url=f"https://{SITE}/", **{"$": {"amount": 1, "currency": other}})
    assert runtime.processor.drain(30)
    assert revenue_by_goal(app, key)[name] is None
