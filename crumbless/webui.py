"""Wire the marketers' UI (dashboards.ui) into an app: one call from each app factory.

The UI is served by the same app as the Stats API: at `/` of `crumbless serve`, and by
`crumbless dashboard` in the distributed mode.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from flask import Flask

from contract.settings import Settings
from crumbless.admin import DirectAdmin
from dashboards.stats import StatsService
from dashboards.ui.admin_views import admin_ui_blueprint
from dashboards.ui.views import UiContext, ui_blueprint
from sinks.registry import SiteRegistry
from sinks.retention import RetentionStore
from sinks.users import UserStore


def register_ui(app: Flask, *, client: Client, settings: Settings, stats: StatsService,
                sites: SiteRegistry, retention: RetentionStore, clock: object) -> None:
    """Register the dashboard, shared-link and retention pages on `app`."""
    users = UserStore(client)
    admin = DirectAdmin(client, settings)
    admin.sites, admin.retention = sites, retention  # share caches with the collector

    def notice_html(domain: str) -> str:
        return admin.privacy_notice(domain, "html")

    app.register_blueprint(ui_blueprint(UiContext(stats, users, sites, clock)))  # type: ignore[arg-type]
    app.register_blueprint(admin_ui_blueprint(users, retention, notice_html, sites.domains))
