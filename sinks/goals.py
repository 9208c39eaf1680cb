"""Configured goals per site in the `goals` table (migration 5), shared by every instance.

Rows are versioned (ReplacingMergeTree(version), ORDER BY (site, display_name)) and read
with argMax, like `sites`; removing a goal writes a deleted version.
"""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

from contract.errors import BadRequest
from contract.goals import GoalDefinition
from contract.sites import normalise_domain
from sinks.client import run

GOAL_COLUMNS = ["site", "display_name", "event_name", "page_path", "currency", "deleted",
                "version"]


class GoalStore:
    """Add, list and remove one site's configured goals."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def goals_of(self, site: str) -> list[GoalDefinition]:
        """The site's live goals, by display name."""
        rows = run(self.client, """SELECT display_name, argMax(event_name, version),
            argMax(page_path, version), argMax(currency, version) FROM goals
            WHERE site = {site:String} GROUP BY display_name
            HAVING argMax(deleted, version) = 0 ORDER BY display_name""",
                   {"site": normalise_domain(site)})
        return [GoalDefinition(*row) for row in rows]

    def add(self, site: str, goal: GoalDefinition) -> GoalDefinition:
        """Add a goal, or replace the one of the same display name.

        One event is the goal of one name only: an event goal whose event another name
        already covers is refused (BadRequest), as is a second goal of the same path.
        """
        domain = normalise_domain(site)
        for other in self.goals_of(domain):
            if other.display_name == goal.display_name:
                continue
            if goal.event_name and other.event_name == goal.event_name:
                raise BadRequest(f"event {goal.event_name} is already the goal "
                                 f"{other.display_name!r}; remove that first")
            if goal.page_path and other.page_path == goal.page_path:
                raise BadRequest(f"page {goal.page_path} is already the goal "
                                 f"{other.display_name!r}; remove that first")
        self._write(domain, goal, deleted=0)
        return goal

    def remove(self, site: str, display_name: str) -> None:
        """Remove a goal by its display name (BadRequest if the site has no such goal)."""
        domain = normalise_domain(site)
        found = next((g for g in self.goals_of(domain) if g.display_name == display_name), None)
        if found is None:
            raise BadRequest(f"site {domain} has no goal {display_name!r} "
                             "(see: crumbless goals list SITE)")
        self._write(domain, found, deleted=1)

    def _write(self, site: str, goal: GoalDefinition, *, deleted: int) -> None:
        self.client.insert("goals", [[site, goal.display_name, goal.event_name,
                                      goal.page_path, goal.currency, deleted,
                                      time.time_ns()]], column_names=GOAL_COLUMNS)
