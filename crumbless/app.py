"""Flask app factories: the embedded app, and the pieces the distributed roles share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from collector.app import CollectorConfig, collector_blueprint
from collector.tracker import tracker_blueprint
from contract.metrics import Metrics
from contract.settings import Settings
from crumbless.admin import admin_blueprint
from crumbless.runtime import Runtime
from dashboards.api import stats_blueprint
from dashboards.noise import DpPolicy
from dashboards.stats import StatsService

log = logging.getLogger(__name__)


def base_app(metrics: Metrics, health: Callable[[], dict[str, Any]]) -> Flask:
    """An app with /api/health, /metrics and JSON errors (never a stack trace)."""
    app = Flask("crumbless")

    @app.get("/api/health")
    def health_view() -> Response:
        return jsonify(status="ok", **health())

    @app.get("/metrics")
    def metrics_view() -> Response:
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = jsonify(error=exc.description or exc.name)
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # Log the type only: messages of unexpected errors may quote request data.
        log.error("unexpected %s in a request", type(exc).__name__)
        response = jsonify(error="internal error")
        response.status_code = 500
        return response

    return app


def collector_config(settings: Settings) -> CollectorConfig:
    """The collector view's slice of the settings."""
    return CollectorConfig(settings.max_body_bytes, settings.trusted_proxies,
                           settings.proxy_header)


def create_app(runtime: Runtime) -> Flask:
    """The embedded app over an opened Runtime; tests drive it with app.test_client()."""
    settings = runtime.settings
    app = base_app(runtime.metrics, lambda: {"event_log_end": runtime.event_log.end_offset,
                                             "committed": runtime.processor.committed})
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, 64 * 1024)
    app.register_blueprint(collector_blueprint(
        config=collector_config(settings), anonymiser=runtime.edge.anonymiser,
        site_for=runtime.sites.get, transport=runtime.transport, metrics=runtime.metrics,
        umami_site=runtime.sites.by_umami_id, matomo_site=runtime.sites.by_matomo_id))
    app.register_blueprint(tracker_blueprint())
    stats = StatsService(runtime.client, k=settings.k_anonymity, clock=runtime.clock,
                         dp_sites=frozenset(settings.dp_sites), dp_policy=DpPolicy(
                             settings.dp_query_epsilon, settings.dp_budget))
    app.register_blueprint(stats_blueprint(stats, authorize=runtime.keys.authorize))
    app.register_blueprint(admin_blueprint(runtime))
    from crumbless.webui import register_ui

    register_ui(app, client=runtime.client, settings=settings, stats=stats, sites=runtime.sites,
                retention=runtime.retention, clock=runtime.clock)
    return app
