"""A site's configured goal, as an operator defines it (`crumbless goals add`).

Pure. The model is Plausible's (https://plausible.io/docs/goal-conversions), kept
minimal: a custom-event goal names an event (optionally with the ISO 4217 currency of its
revenue), a pageview goal names a path ("/blog/*": `*` within a segment, `**` across).
Every custom event name is a goal without any configuration; a row only renames one,
gives it a currency, or adds a pageview goal. Reading goals for queries lives in
dashboards/goals.py, storing them in sinks/goals.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import BadRequest
from contract.sites import check_currency

NOT_GOALS = ("pageview", "engagement")  # event names that are never goals
MAX_EVENT_NAME = 120  # as the Events API accepts (collector/beacon.py MAX_NAME)
MAX_PATH = 2000


@dataclass(frozen=True, slots=True)
class GoalDefinition:
    """One row of the `goals` table (migration 5): exactly one of event_name, page_path."""

    display_name: str
    event_name: str = ""
    page_path: str = ""
    currency: str = ""  # "" = no configured currency

    def as_dict(self) -> dict[str, str]:
        """JSON-ready, with the kind spelled out."""
        return {"name": self.display_name, "kind": "page" if self.page_path else "event",
                "event": self.event_name, "page": self.page_path, "currency": self.currency}


def define_goal(*, event: str | None = None, page: str | None = None,
                currency: str | None = None, display_name: str | None = None
                ) -> GoalDefinition:
    """A checked goal; BadRequest naming the option that is wrong and what is accepted.

    Defaults: the display name is the event's name, or "Visit <path>" (as Plausible names
    pageview goals). A currency only makes sense for an event goal.
    """
    if (event is None) == (page is None):
        raise BadRequest("give exactly one of --event NAME (a custom event goal) or "
                         "--page /PATH (a pageview goal)")
    if page is not None:
        path = page.strip()
        if not path.startswith("/") or len(path) > MAX_PATH or any(c.isspace() for c in path):
            raise BadRequest(f"--page {page[:60]!r}: a path starting with / (no spaces, at "
                             f"most {MAX_PATH} characters), e.g. /pricing or /blog/**")
        if currency:
            raise BadRequest("--currency applies to --event goals only (revenue comes with "
                             "custom events)")
        name = (display_name or f"Visit {path}").strip()
        return GoalDefinition(_display(name), page_path=path)
    event_name = str(event).strip()
    if not event_name or len(event_name) > MAX_EVENT_NAME:
        raise BadRequest(f"--event: a custom event name of 1..{MAX_EVENT_NAME} characters")
    if event_name in NOT_GOALS:
        raise BadRequest(f"--event {event_name}: {' and '.join(NOT_GOALS)} are not goals; "
                         "use --page /PATH for a pageview goal")
    return GoalDefinition(_display((display_name or event_name).strip()),
                          event_name=event_name,
                          currency=check_currency(currency) if currency else "")


def _display(name: str) -> str:
    if not name or len(name) > MAX_EVENT_NAME + 10:
        raise BadRequest(f"--display-name: 1..{MAX_EVENT_NAME + 10} characters")
    return name
