"""Flask app factories: the embedded app, and the pieces the distributed roles share."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from collector.anonymise import request_client_ip
from collector.app import CollectorConfig, collector_blueprint
from collector.ratelimit import ClientKeys, Limit, RateLimiter, retry_after
from collector.tracker import tracker_blueprint
from contract.metrics import Metrics
from contract.settings import Settings
from crumbless.admin import admin_blueprint
from crumbless.runtime import Runtime
from dashboards.api import stats_blueprint
from dashboards.noise import DpPolicy
from dashboards.stats import StatsService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeLimits:
    """The public listener's rate limits: per client (hashed IP) and per site."""

    clients: RateLimiter
    sites: RateLimiter
    client_key: ClientKeys
    config: CollectorConfig

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        """Limits as configured (rate 0 turns one off)."""
        return cls(
            clients=RateLimiter(Limit(settings.rate_limit_client,
                                      settings.rate_limit_client_burst),
                                max_keys=settings.rate_limit_max_keys),
            sites=RateLimiter(Limit(settings.rate_limit_site, settings.rate_limit_site_burst),
                              max_keys=settings.rate_limit_max_keys),
            client_key=ClientKeys(), config=collector_config(settings))


def too_many(wait: float, what: str) -> Response:
    """429 with Retry-After and a one-line JSON reason."""
    response = jsonify(error=f"rate limit: too many requests from this {what}; retry later")
    response.status_code = 429
    response.headers["Retry-After"] = retry_after(wait)
    return response


def base_app(metrics: Metrics, health: Callable[[], dict[str, Any]],
             limits: EdgeLimits | None = None) -> Flask:
    """An app with /api/health, /metrics, JSON errors (never a stack trace) and rate limits."""
    app = Flask("crumbless")

    if limits is not None:
        @app.before_request
        def limit_client() -> Response | None:
            config = limits.config
            ip = request_client_ip(request.environ, config.trusted_proxies,
                                   config.proxy_header)
            wait = limits.clients.take(limits.client_key(ip), time.monotonic())
            if wait > 0:
                metrics.inc("rate_limited", scope="client")
                return too_many(wait, "client")
            return None

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


def site_gate(limits: EdgeLimits) -> Callable[[str], float]:
    """The collector's per-site check: seconds to wait, 0.0 to go ahead."""
    return lambda domain: limits.sites.take(domain.encode(), time.monotonic())


def create_app(runtime: Runtime) -> Flask:
    """The embedded public app over an opened Runtime (no admin API: see create_admin_app)."""
    settings = runtime.settings
    limits = EdgeLimits.from_settings(settings)
    log = runtime.event_log
    app = base_app(runtime.metrics, lambda: {"event_log_end": log.end_offset,
                                             "committed": runtime.processor.committed,
                                             "fsyncs": log.syncs,
                                             "fsync_seconds": round(log.sync_seconds, 3)},
                   limits)
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, 64 * 1024)
    app.register_blueprint(collector_blueprint(
        config=collector_config(settings), anonymiser=runtime.edge.anonymiser,
        site_for=runtime.sites.get, transport=runtime.transport, metrics=runtime.metrics,
        site_limit=site_gate(limits),
        umami_site=runtime.sites.by_umami_id, matomo_site=runtime.sites.by_matomo_id))
    app.register_blueprint(tracker_blueprint())
    stats = StatsService(runtime.client, k=settings.k_anonymity, clock=runtime.clock,
                         dp_sites=frozenset(settings.dp_sites), dp_policy=DpPolicy(
                             settings.dp_query_epsilon, settings.dp_budget))
    app.register_blueprint(stats_blueprint(stats, authorize=runtime.keys.authorize))
    from crumbless.webui import register_ui

    register_ui(app, client=runtime.client, settings=settings, stats=stats, sites=runtime.sites,
                retention=runtime.retention, clock=runtime.clock)
    return app


def create_admin_app(runtime: Runtime) -> Flask:
    """The admin API (and a health check) for the admin listener, never the public one."""
    app = base_app(runtime.metrics, lambda: {"role": "admin"})
    app.register_blueprint(admin_blueprint(runtime))
    return app
