"""Run a dashboard's queries through the Stats API's query layer and shape them for pages.

The thin shell over dashboards.ui.panels (pure) and dashboards.stats.StatsService: every
body is parsed by parse_query and answered by StatsService.run, so suppression (rows under
k visitors, filtered totals under k) is the query layer's, identical in the API, the UI,
CSV and shared links. A suppressed row is never read here: only `meta.suppressed_rows`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dashboards.query import parse_query
from dashboards.stats import StatsService
from dashboards.ui.panels import (
    PANELS,
    TOP_METRICS,
    DashboardState,
    Panel,
    available,
    change_percent,
    comparison_labels,
    query_body,
    series_dimension,
    series_labels,
)

REALTIME_MINUTES = 5


@dataclass(frozen=True, slots=True)
class PanelRows:
    """A breakdown's visible rows, how many more there are, and how many were hidden."""

    panel: Panel
    rows: list[tuple[str, list[Any]]]
    total_rows: int
    hidden: int  # rows under k visitors: counted, never shown


@dataclass(frozen=True, slots=True)
class TopStat:
    metric: str
    value: Any
    previous: Any
    change: int | None


@dataclass
class Dashboard:
    """Everything one dashboard page shows."""

    top: list[TopStat]
    top_hidden: bool  # a filtered total under k: hidden like any small row
    labels: list[str]
    series: list[int]
    comparison: list[int] | None
    comparison_labels: list[str]
    panels: list[PanelRows] = field(default_factory=list)
    has_data: bool = True


def ask(stats: StatsService, body: dict[str, Any]) -> dict[str, Any]:
    """One body through the query layer (parse, plan, suppress)."""
    return stats.run(parse_query(body, today=stats.today()))


def _top(stats: StatsService, site: str, state: DashboardState,
         days: tuple[dt.date, dt.date] | None) -> tuple[list[Any] | None, int]:
    answer = ask(stats, query_body(site, state, metrics=TOP_METRICS, days=days))
    results = answer["results"]
    return (results[0]["metrics"] if results else None), answer["meta"]["suppressed_rows"]


def _series(stats: StatsService, site: str, state: DashboardState, labels: list[str],
            days: tuple[dt.date, dt.date] | None) -> list[int]:
    answer = ask(stats, query_body(site, state, metrics=["visitors"], days=days, limit=10_000,
                                   dimensions=[series_dimension(state)]))
    by_bucket = {r["dimensions"][0]: r["metrics"][0] for r in answer["results"]}
    return [int(by_bucket.get(label, 0)) for label in labels]


def panel_rows(stats: StatsService, site: str, state: DashboardState, panel: Panel, *,
               limit: int = 10) -> PanelRows:
    """One breakdown panel's rows (suppressed rows only counted)."""
    answer = ask(stats, query_body(site, state, metrics=panel.metrics,
                                   dimensions=[panel.dimension],
                                   extra_filters=panel.filters, limit=limit))
    rows = [(str(r["dimensions"][0]), r["metrics"]) for r in answer["results"]]
    meta = answer["meta"]
    return PanelRows(panel, rows, int(meta.get("total_rows", len(rows))),
                     int(meta["suppressed_rows"]))


def visible_panels(stats: StatsService, site: str, state: DashboardState, *,
                   city_geo: bool) -> list[Panel]:
    """The panels the query layer can answer for this site."""
    today = stats.today()
    return [p for p in PANELS if (city_geo or not p.needs_city) and available(
        query_body(site, state, metrics=p.metrics, dimensions=[p.dimension]), today)]


def load_dashboard(stats: StatsService, site: str, state: DashboardState, *,
                   city_geo: bool) -> Dashboard:
    """Top stats with their change, the time series (and comparison), every panel."""
    span = state.comparison_range()
    current, hidden = _top(stats, site, state, None)
    previous = _top(stats, site, state, span)[0] if span else None
    top = []
    for i, metric in enumerate(TOP_METRICS):
        now = current[i] if current else None
        before = previous[i] if previous else None
        top.append(TopStat(metric, now, before, change_percent(now, before)))
    labels = series_labels(state)
    series = _series(stats, site, state, labels, None)
    compared = _series(stats, site, state, comparison_labels(state), span) if span else None
    panels = [panel_rows(stats, site, state, p)
              for p in visible_panels(stats, site, state, city_geo=city_geo)]
    has_data = bool(current and current[TOP_METRICS.index("pageviews")]) or bool(hidden) \
        or bool(state.filters) or _ever_had_data(stats, site)
    return Dashboard(top, bool(hidden) and current is None, labels, series, compared,
                     comparison_labels(state), panels, has_data)


def _ever_had_data(stats: StatsService, site: str) -> bool:
    answer = stats.run(parse_query({"site_id": site, "metrics": ["pageviews"],
                                    "date_range": "all"}, today=stats.today()))
    return bool(answer["results"] and answer["results"][0]["metrics"][0])


def realtime(stats: StatsService, site: str, now: dt.datetime) -> dict[str, Any]:
    """Visitors in the last 5 minutes, pageviews in the last 30, top pages right now."""
    def window(minutes: int) -> list[str]:
        start = (now - dt.timedelta(minutes=minutes)).replace(microsecond=0)
        return [start.isoformat(), now.replace(microsecond=0).isoformat()]

    visitors = ask(stats, {"site_id": site, "metrics": ["visitors"],
                           "date_range": window(REALTIME_MINUTES)})
    views = ask(stats, {"site_id": site, "metrics": ["pageviews"], "date_range": window(30)})
    pages = ask(stats, {"site_id": site, "metrics": ["visitors"], "date_range": window(30),
                        "dimensions": ["event:page"], "pagination": {"limit": 5}})
    return {
        "visitors": visitors["results"][0]["metrics"][0] if visitors["results"] else 0,
        "pageviews_30m": views["results"][0]["metrics"][0] if views["results"] else 0,
        "pages": [{"page": r["dimensions"][0], "visitors": r["metrics"][0]}
                  for r in pages["results"]],
        "hidden": pages["meta"]["suppressed_rows"],
        "at": now.replace(microsecond=0).isoformat(),
    }
