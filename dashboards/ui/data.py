"""Run a dashboard's queries through the Stats API's query layer and shape them for pages.

The thin shell over dashboards.ui.panels (pure) and dashboards.stats.StatsService: every
body is parsed by parse_query and answered by StatsService.run, so suppression (rows under
k visitors, filtered totals under k) is the query layer's, identical in the API, the UI,
CSV and shared links. A withheld row never reaches this module, and nothing says how
many were withheld (docs/privacy.md, "No oracles"). A filter value under k is refused by
the query layer (TooNarrow): the dashboard then shows its totals as hidden.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dashboards.guard import TooNarrow
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


@dataclass(frozen=True, slots=True)
class PanelRows:
    """A breakdown's visible rows and how many more there are (rows under k: never counted)."""

    panel: Panel
    rows: list[tuple[str, list[Any]]]
    total_rows: int


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
    series_hidden: bool = False  # the chart's numbers are withheld: say so, draw no line


def ask(stats: StatsService, body: dict[str, Any]) -> dict[str, Any]:
    """One body through the query layer (parse, plan, suppress)."""
    return stats.run(parse_query(body, today=stats.today()))


def _top(stats: StatsService, site: str, state: DashboardState,
         days: tuple[dt.date, dt.date] | None) -> list[Any] | None:
    """The top stats, or None when withheld (under k visitors) or the filter is too narrow."""
    try:
        answer = ask(stats, query_body(site, state, metrics=TOP_METRICS, days=days))
    except TooNarrow:
        return None
    results = answer["results"]
    return results[0]["metrics"] if results else None


def _series(stats: StatsService, site: str, state: DashboardState, labels: list[str],
            days: tuple[dt.date, dt.date] | None) -> list[int] | None:
    """Visitors per bucket (0 where none is shown), or None when all are withheld."""
    try:
        answer = ask(stats, query_body(site, state, metrics=["visitors"], days=days,
                                       limit=10_000, dimensions=[series_dimension(state)]))
    except TooNarrow:  # a filter value under k in this range: every bucket hidden
        return None
    by_bucket = {r["dimensions"][0]: r["metrics"][0] for r in answer["results"]}
    return [int(by_bucket.get(label, 0)) for label in labels]


def panel_rows(stats: StatsService, site: str, state: DashboardState, panel: Panel, *,
               limit: int = 10) -> PanelRows:
    """One breakdown panel's rows (suppressed rows only counted)."""
    try:
        answer = ask(stats, query_body(site, state, metrics=panel.metrics,
                                       dimensions=[panel.dimension],
                                       extra_filters=panel.filters, limit=limit))
    except TooNarrow:  # a filter value (the panel's own, e.g. a goal) under k: no rows
        return PanelRows(panel, [], 0)
    rows = [(str(r["dimensions"][0]), r["metrics"]) for r in answer["results"]]
    if panel.nonzero:
        at = panel.metrics.index(panel.nonzero)
        rows = [row for row in rows if row[1][at]]
    return PanelRows(panel, rows, int(answer["meta"].get("total_rows", len(rows))))


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
    current = _top(stats, site, state, None)
    if current is None and state.filters:  # withheld or refused: show nothing of it
        return Dashboard([TopStat(m, None, None, None) for m in TOP_METRICS], True, [], [],
                         None, [], [], True, series_hidden=True)
    previous = _top(stats, site, state, span) if span else None
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
    has_data = bool(current and current[TOP_METRICS.index("pageviews")]) \
        or bool(state.filters) or _ever_had_data(stats, site)
    top_hidden = current is None and has_data
    # Totals withheld: every bucket is under k too, and a flat 0 line would claim none.
    series_hidden = series is None or top_hidden
    return Dashboard(top, top_hidden, labels, [] if series_hidden else series or [],
                     None if series_hidden else compared, comparison_labels(state), panels,
                     has_data, series_hidden)


def _ever_had_data(stats: StatsService, site: str) -> bool:
    try:
        answer = stats.run(parse_query({"site_id": site, "metrics": ["pageviews"],
                                        "date_range": "all"}, today=stats.today()))
    except TooNarrow:  # "all" differs from today's range by under k visitors: nothing to show
        return False
    return bool(answer["results"] and answer["results"][0]["metrics"][0])


def realtime(stats: StatsService, site: str, now: dt.datetime) -> dict[str, Any]:
    """Visitors and pageviews this hour (from its start to now), and its top pages.

    Ranges snap to whole hours in the query layer (no thin time slices), so "this hour"
    is what can honestly be shown; a number under k is None (withheld), never 0.
    """
    start = now.replace(minute=0, second=0, microsecond=0)
    hour = [start.isoformat(), now.replace(microsecond=0).isoformat()]
    totals = ask(stats, {"site_id": site, "metrics": ["visitors", "pageviews"],
                         "date_range": hour})
    pages = ask(stats, {"site_id": site, "metrics": ["visitors"], "date_range": hour,
                        "dimensions": ["event:page"], "pagination": {"limit": 5}})
    counts = totals["results"][0]["metrics"] if totals["results"] else [None, None]
    return {
        "visitors": counts[0],
        "pageviews": counts[1],
        "k": stats.k,
        "pages": [{"page": r["dimensions"][0], "visitors": r["metrics"][0]}
                  for r in pages["results"]],
        "at": now.replace(microsecond=0).isoformat(),
    }
