"""Goal definitions (`crumbless goals add`) and the currency a goal's revenue is shown in."""

from __future__ import annotations

import pytest

from contract.errors import BadRequest
from contract.goals import GoalDefinition, define_goal
from dashboards.goals import Goal, GoalSet, with_inferred_currencies


def test_an_event_goal_defaults_its_name_and_uppercases_the_currency() -> None:
    assert define_goal(event="Signup", currency="eur") == GoalDefinition("Signup", "Signup",
                                                                         "", "EUR")
    assert define_goal(page="/pricing") == GoalDefinition("Visit /pricing", "", "/pricing")
    assert define_goal(page="/blog/**", display_name="Blog").display_name == "Blog"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one of --event"),
    ({"event": "a", "page": "/a"}, "exactly one of --event"),
    ({"event": "pageview"}, "are not goals"),
    ({"event": ""}, "1..120 characters"),
    ({"event": "Buy", "currency": "euro"}, "not a 3-letter ISO 4217"),
    ({"page": "pricing"}, "starting with /"),
    ({"page": "/a b"}, "no spaces"),
    ({"page": "/a", "currency": "EUR"}, "--event goals only"),
])
def test_a_bad_goal_names_the_option(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        define_goal(**kwargs)


def test_an_event_with_revenue_in_one_currency_becomes_a_revenue_goal_in_it() -> None:
    goals = with_inferred_currencies(GoalSet(), {"Signup": {"EUR"}})
    assert goals.goals == (Goal("Signup", "Signup", "", "EUR"),)
    assert goals.sql_parameters()["revenue_goal_currencies"] == ["EUR"]


def test_a_configured_currency_wins_and_several_currencies_infer_nothing() -> None:
    configured = GoalSet((Goal("Purchases", "Purchase", "", "USD"),
                          Goal("Sign-ups", "Signup"), Goal("Visit /", "", "/")))
    goals = with_inferred_currencies(configured, {"Purchase": {"EUR"}, "Signup": {"CHF"},
                                                  "Mixed": {"EUR", "USD"},
                                                  "pageview": {"EUR"}})
    assert goals.goals == (Goal("Purchases", "Purchase", "", "USD"),
                           Goal("Sign-ups", "Signup", "", "CHF"), Goal("Visit /", "", "/"))
