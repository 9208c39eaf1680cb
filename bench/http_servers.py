"""http-servers: which HTTP server fronts crumbless — throughput and slow clients.

The same small Flask app (GET /ok, POST /echo reading its body) runs under each candidate
in its own process, one process with threads as embedded mode needs (chdb holds its data
directory in one process). Measured per server: requests/s from keep-alive clients, then
the p99 latency and failures of ordinary requests while hundreds of slow connections hold
a partial request (half stop inside the headers, half inside the body).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from bench.timing import median

NAME = "http-servers"
TITLE = "HTTP servers: throughput and slow clients"
DESCRIPTION = """
Candidates for the server in front of the WSGI app, each in one process with 8 request
threads, serving the same Flask app (`GET /ok`, `POST /echo` of a 200-byte body): gunicorn
gthread (the server before issue 12), hypercorn (asyncio; its WSGI wrapper reads the whole
body before a thread sees the request) and waitress (asyncore; buffers the whole request
too). *req/s* is 8 keep-alive client threads for a few seconds (the client shares the two
cores, so ratios matter, not the absolute numbers). *slow* opens that many connections that
send part of a request and then nothing (half stop in the headers, half in the body) and,
while they are held, sends 100 ordinary requests one at a time with a 5 s timeout: *p99 ms*
of those and how many *failed* (after 3 failures the rest count as failed).
"""
SERVERS = ("gunicorn", "hypercorn", "waitress")
THREADS = 8
BODY = b'{"name":"pageview","url":"https://example.com/a","domain":"example.com"}' * 3

app = Flask("bench")


@app.get("/ok")
def ok() -> Response:
    """A trivial JSON answer."""
    return Response(b'{"status":"ok"}', mimetype="application/json")


@app.post("/echo")
def echo() -> Response:
    """Read the body, answer its length."""
    return Response(str(len(request.get_data())), status=202)


def serve(kind: str, port: int) -> None:
    """Run `kind` on 127.0.0.1:port until killed."""
    if kind == "gunicorn":
        from gunicorn.app.base import BaseApplication

        class App(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in {"bind": [f"127.0.0.1:{port}"], "workers": 1,
                                   "worker_class": "gthread", "threads": THREADS,
                                   "accesslog": None, "control_socket_disable": True}.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return app

        App().run()
    elif kind == "hypercorn":
        from concurrent.futures import ThreadPoolExecutor

        from hypercorn.asyncio import serve as hserve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.read_timeout = 10
        config.backlog = 1024
        config.accesslog = None

        async def main() -> None:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(THREADS))
            await hserve(app, config, mode="wsgi")

        asyncio.run(main())
    elif kind == "waitress":
        import waitress

        waitress.serve(app, host="127.0.0.1", port=port, threads=THREADS,
                       connection_limit=2000, channel_timeout=10, backlog=1024,
                       asyncore_use_poll=True, _quiet=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.http_servers", "serve", kind,
                             str(port)], cwd=Path(__file__).resolve().parent.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ok")
            conn.getresponse().read()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def _throughput(port: int, seconds: float) -> float:
    """Requests/s from THREADS keep-alive clients alternating GET /ok and POST /echo."""
    counts = [0] * THREADS
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop:
            if n % 2:
                conn.request("POST", "/echo", body=BODY,
                             headers={"Content-Type": "text/plain"})
            else:
                conn.request("GET", "/ok")
            conn.getresponse().read()
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - began)


def _slow_clients(port: int, count: int) -> dict[str, float]:
    """Hold `count` partial requests open; time 100 ordinary requests meanwhile."""
    held = []
    for i in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if i % 2:
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")  # stuck in the headers
            else:
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            held.append(s)
        except OSError:
            break
    time.sleep(0.5)
    latencies, failed = [], 0
    for _ in range(100):
        if failed >= 3:  # the server is down for everyone: the rest would fail the same way
            latencies.append(5000.0)
            failed += 1
            continue
        began = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/ok")
            if conn.getresponse().status != 200:
                failed += 1
            conn.close()
        except OSError:
            failed += 1
        latencies.append((time.perf_counter() - began) * 1000)
    for s in held:
        s.close()
    latencies.sort()
    return {"held": len(held), "p99_ms": latencies[98], "median_ms": median(latencies),
            "failed": failed}


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Each server in turn: throughput, then slow clients."""
    seconds, slow = (2.0, 200) if quick else (5.0, 500)
    results: dict[str, Any] = {}
    for kind in SERVERS:
        proc, port = _start(kind)
        try:
            _throughput(port, 0.5)  # warm-up
            results[kind] = {"req_per_s": _throughput(port, seconds),
                             "slow": _slow_clients(port, slow), "slow_count": slow}
        finally:
            proc.kill()
            proc.wait()
    return {"servers": results, "seconds": seconds}


def render(result: dict[str, Any]) -> list[str]:
    """The Markdown table of one result."""
    lines = ["| server | req/s | slow connections held | p99 ms while held | failed of 100 |",
             "|---|---:|---:|---:|---:|"]
    for kind, r in result["servers"].items():
        s = r["slow"]
        lines.append(f"| {kind} | {r['req_per_s']:,.0f} | {s['held']} | {s['p99_ms']:,.0f} | "
                     f"{s['failed']} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(prog="python -m bench.http_servers")
        parser.add_argument("--quick", action="store_true")
        args = parser.parse_args()
        print("\n".join(render(run_benchmark(args.quick))))
        os._exit(0)
