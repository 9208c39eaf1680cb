"""Gunicorn servers for `crumbless serve`, `crumbless collector` and `crumbless dashboard`.

One worker process with threads: chdb lets one process hold a data directory, and a
collector's disk spool belongs to one process (scale out with more instances). The app
is built inside the worker; on SIGTERM gunicorn stops taking requests, finishes those in
flight, and `worker_exit` closes the runtime (drains the event log / forwards the
spool). Gunicorn's access log stays off: it would write client IPs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError

from contract.errors import CrumblessError
from contract.settings import Settings

log = logging.getLogger(__name__)
AppFactory = Callable[[Settings], tuple[Flask, Callable[[], None]]]


class AppServer(BaseApplication):
    """Gunicorn application that builds a crumbless app in its worker."""

    def __init__(self, settings: Settings, factory: AppFactory) -> None:
        self.settings = settings
        self.factory = factory
        self._close: Callable[[], None] | None = None
        super().__init__()

    def load_config(self) -> None:
        """Bind, one gthread worker, no access log, graceful stop."""
        s = self.settings
        self.cfg.set("bind", [f"{s.host}:{s.port}"])
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", s.threads)
        self.cfg.set("timeout", 120)
        self.cfg.set("graceful_timeout", 60)
        self.cfg.set("accesslog", None)
        self.cfg.set("errorlog", "-")
        self.cfg.set("loglevel", "info")
        self.cfg.set("proc_name", "crumbless")
        self.cfg.set("worker_exit", self._worker_exit)
        # gunicorn's control socket sits at one path per user: two servers would collide,
        # and nothing here needs runtime worker management (one worker, by design).
        self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        """Build the app in the worker; a failure is one line, not a worker traceback."""
        try:
            app, self._close = self.factory(self.settings)
        except (CrumblessError, OSError, ValueError) as exc:
            # gunicorn prints an AppImportError's text alone and stops with exit status 4.
            raise AppImportError(f"crumbless: {exc}") from exc
        log.info("crumbless listening on http://%s:%d", self.settings.host, self.settings.port)
        return app

    def _worker_exit(self, _server: Any, _worker: Any) -> None:
        if self._close is not None:
            self._close()
            log.info("crumbless stopped cleanly")


def embedded_app(settings: Settings) -> tuple[Flask, Callable[[], None]]:
    """The embedded mode: everything in this process, admin API announced in server.json."""
    from crumbless.admin import write_server_file
    from crumbless.app import create_app
    from crumbless.runtime import Runtime

    runtime = Runtime(settings)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    server_file = write_server_file(settings.data_dir, f"http://{host}:{settings.port}",
                                    runtime.admin_token)

    def close() -> None:
        server_file.unlink(missing_ok=True)
        runtime.close()

    return create_app(runtime), close


def serve(settings: Settings, factory: AppFactory = embedded_app) -> None:
    """Run until SIGTERM/SIGINT."""
    AppServer(settings, factory).run()
