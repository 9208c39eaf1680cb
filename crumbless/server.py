"""The HTTP server of `crumbless serve`, `crumbless collector` and `crumbless dashboard`.

waitress (chosen by measurement: bench/http_servers.py, docs/architecture.md) reads a whole
request — headers and body — on its event loop before a worker thread sees it, so a slow
client costs a socket, not one of the `threads`. One process: chdb lets one process hold a
data directory. What crumbless adds on top of waitress, through its documented extension
points (the channel class, its error task, and the server's maintenance sweep):

- every error the server itself answers (400 malformed, 413, 431, ...) is the project's
  one line of JSON `{"error": "..."}`, never a text page;
- a request must arrive whole within `request_timeout` seconds (waitress alone only closes
  connections idle for `client_timeout`: a client dripping a byte a second would stay);
- a channel's repr carries no client address, so no waitress log line can show one, and
  no access log is written;
- the admin API listens on its own Unix socket in the data directory (0600), never on the
  public address; `server.json` tells the CLI where it is.

On SIGTERM/SIGINT the listeners stop accepting, requests in flight finish (bounded), and
the app's close() runs (the runtime drains the event log / forwards the spool).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from contract.errors import ConfigError
from contract.settings import Settings

log = logging.getLogger(__name__)
WSGIApp = Callable[..., Iterable[bytes]]
ADMIN_SOCKET = "admin.sock"
MAX_UNIX_PATH = 107  # sun_path is 108 bytes on Linux, one for the terminating NUL
ADMIN_THREADS = 2
STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class Served:
    """What an app factory hands the server: the public app, the admin app, and close()."""

    public: WSGIApp
    close: Callable[[], None]
    admin: WSGIApp | None = None
    on_listening: Callable[[Path | None], None] = lambda _socket: None


AppFactory = Callable[[Settings], Served]


def error_body(status: int, reason: str) -> bytes:
    """The one-line JSON error body every crumbless endpoint answers with."""
    return orjson.dumps({"error": reason}) + b"\n" if status >= 400 else b""


class JsonErrorTask(ErrorTask):
    """waitress's error response (malformed request, 413, 431) as one line of JSON."""

    def execute(self) -> None:
        """Write `{"error": "<reason>: <detail>"}`; the detail is waitress's own words."""
        error = self.request.error
        detail = str(error.body).splitlines()[0][:200] if error.body else ""
        body = error_body(error.code, f"{error.reason}: {detail}" if detail else error.reason)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class CrumblessChannel(HTTPChannel):
    """A waitress connection with a whole-request deadline and no address in its repr."""

    error_task_class = JsonErrorTask
    request_timeout = 30.0
    request_started = 0.0

    def received(self, data: bytes) -> bool:
        """Note when a new request's first bytes arrived."""
        if self.request is None and data:
            self.request_started = time.monotonic()
        result: bool = super().received(data)
        return result

    def overdue(self, now: float) -> bool:
        """Whether a request has been arriving for longer than the deadline."""
        return (self.request is not None and not bool(getattr(self, "will_close", False))
                and now - self.request_started > self.request_timeout)

    def __repr__(self) -> str:
        # waitress logs channels by repr (e.g. "uncaptured python exception, closing
        # channel <...>"); the default repr ends in the client's ip:port.
        return f"<crumbless channel at {id(self):#x}>"

    __str__ = __repr__


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def admin_socket_path(data_dir: Path) -> Path:
    """Where the admin API listens; ConfigError when the path is too long for a socket."""
    path = data_dir.resolve() / ADMIN_SOCKET
    if len(str(path).encode()) > MAX_UNIX_PATH:
        raise ConfigError(f"data_dir: {data_dir} is too deep for the admin socket "
                          f"({len(str(path))} > {MAX_UNIX_PATH} bytes); use a shorter path")
    return path


class _InFlight:
    """Counts requests inside the app, so a stop can wait for them."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            self.count += 1
        try:
            return list(self.app(environ, start_response))
        finally:
            with self._lock:
                self.count -= 1


def _server(app: WSGIApp, socket_map: dict[int, Any], dispatcher: ThreadedTaskDispatcher,
            threads: int, settings: Settings, **where: Any) -> Any:
    server = create_server(
        app, map=socket_map, _dispatcher=dispatcher, threads=threads,
        connection_limit=settings.max_connections, channel_timeout=settings.client_timeout,
        cleanup_interval=1, max_request_body_size=max(settings.max_body_bytes, 64 * 1024),
        max_request_header_size=32 * 1024, backlog=1024, asyncore_use_poll=True,
        expose_tracebacks=False, ident="crumbless",
        # crumbless reads the one forwarding header its trusted proxies set (collector/
        # anonymise.py:client_ip); waitress's own clearing would drop it before the app.
        clear_untrusted_proxy_headers=False, **where)
    channel = type("Channel", (CrumblessChannel,),
                   {"request_timeout": float(settings.request_timeout)})
    server.channel_class = channel  # waitress builds each connection from this attribute
    idle_sweep = server.maintenance

    def maintenance(now: float) -> None:
        """waitress's sweep of idle channels (every `cleanup_interval`, 1 s), plus ours:
        close a connection whose request has not arrived whole within the deadline. (A
        check in each channel's readable() ran for every connection on every turn of the
        event loop: ~4% of the GIL under load, bench/collector_wrk.py.)"""
        idle_sweep(now)
        checked = time.monotonic()
        for open_channel in list(server.active_channels.values()):
            if isinstance(open_channel, CrumblessChannel) and open_channel.overdue(checked):
                open_channel.will_close = True  # waitress closes it on its next turn

    server.maintenance = maintenance  # waitress calls it from the listener's readable()
    return server


def serve(settings: Settings, factory: AppFactory | None = None) -> None:
    """Build the apps, listen, and run until SIGTERM/SIGINT; then stop gracefully."""
    if factory is None:
        admin_socket_path(settings.data_dir)  # a path too long fails before chdb opens
    served = (factory or embedded_app)(settings)
    # waitress warns "Task queue depth is N" for every request that arrives while the
    # request threads are busy: under load (threads waiting on the event log's fsync) a
    # log line per request, formatted and written on the event loop thread while it holds
    # the dispatcher's lock (~10% of the GIL at saturation, bench/collector_wrk.py).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    socket_map: dict[int, Any] = {}
    public_threads = ThreadedTaskDispatcher()
    public_threads.set_thread_count(settings.threads)
    public = _InFlight(served.public)
    servers = [_server(public, socket_map, public_threads, settings.threads, settings,
                       listen=_listen(settings.host, settings.port))]
    dispatchers = [public_threads]
    admin_path = None
    if served.admin is not None:
        admin_path = admin_socket_path(settings.data_dir)
        admin_path.unlink(missing_ok=True)  # a stale socket from a killed server
        admin_threads = ThreadedTaskDispatcher()
        admin_threads.set_thread_count(ADMIN_THREADS)
        dispatchers.append(admin_threads)
        servers.append(_server(served.admin, socket_map, admin_threads, ADMIN_THREADS, settings,
                               unix_socket=str(admin_path), unix_socket_perms="600"))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    served.on_listening(admin_path)
    log.info("crumbless listening on http://%s (admin: %s)", _listen(settings.host,
             settings.port), admin_path or "none")
    try:
        while not stopping.is_set():
            wasyncore.loop(timeout=0.5, map=socket_map, use_poll=True, count=1)
        for server in servers:
            server.accepting = False  # no new connections; finish those we have
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and (public.count or _pending(socket_map)):
            wasyncore.loop(timeout=0.1, map=socket_map, use_poll=True, count=1)
    finally:
        for dispatcher in dispatchers:
            dispatcher.shutdown(cancel_pending=True, timeout=5)
        wasyncore.close_all(socket_map)
        if admin_path is not None:
            admin_path.unlink(missing_ok=True)
        served.close()
        log.info("crumbless stopped cleanly")


def _pending(socket_map: dict[int, Any]) -> bool:
    """Whether any connection still has a request queued or bytes to send."""
    return any(isinstance(ch, HTTPChannel) and (ch.requests or ch.total_outbufs_len)
               for ch in list(socket_map.values()))


def embedded_app(settings: Settings) -> Served:
    """The embedded mode: everything in this process, admin API on its own socket."""
    from crumbless.admin import write_server_file
    from crumbless.app import create_admin_app, create_app
    from crumbless.runtime import Runtime

    runtime = Runtime(settings)
    server_file = settings.data_dir / "server.json"

    def listening(admin_path: Path | None) -> None:
        assert admin_path is not None
        write_server_file(settings.data_dir, admin_path, runtime.admin_token)

    def close() -> None:
        server_file.unlink(missing_ok=True)
        runtime.close()

    return Served(public=create_app(runtime), admin=create_admin_app(runtime), close=close,
                  on_listening=listening)
