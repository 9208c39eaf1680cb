"""`crumbless serve`: the embedded mode under gunicorn.

One worker process with threads (chdb lets one process hold a data directory). The
runtime opens inside the worker; on SIGTERM gunicorn stops taking requests, finishes
those in flight, and `worker_exit` drains the processor so every 202 reaches ClickHouse.
Gunicorn's access log stays off: it would write client IPs.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from contract.settings import Settings

log = logging.getLogger(__name__)


class EmbeddedServer(BaseApplication):
    """Gunicorn application that builds the crumbless runtime in its worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Any = None
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
        """Open the runtime in the worker and return the WSGI app."""
        from crumbless.admin import write_server_file
        from crumbless.app import create_app
        from crumbless.runtime import Runtime

        self.runtime = Runtime(self.settings)
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::") else self.settings.host  # noqa: S104
        write_server_file(self.settings.data_dir, f"http://{host}:{self.settings.port}",
                          self.runtime.admin_token)
        log.info("crumbless serving on http://%s:%d (data in %s)", self.settings.host,
                 self.settings.port, self.settings.data_dir)
        return create_app(self.runtime)

    def _worker_exit(self, _server: Any, _worker: Any) -> None:
        if self.runtime is not None:
            (self.settings.data_dir / "server.json").unlink(missing_ok=True)
            self.runtime.close()
            log.info("crumbless stopped; event log drained")


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT."""
    EmbeddedServer(settings).run()
