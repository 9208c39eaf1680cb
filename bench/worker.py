"""Run one measurement in a fresh process and print its result as JSON on the last line.

chdb opens one data path per process, so every configuration that needs ClickHouse runs
here: `python -m bench.worker collector-http fsync --events 3000`.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"collector-http": "bench.collector_http", "collector-wrk": "bench.collector_wrk",
           "stats-query": "bench.stats_query", "processor": "bench.processor",
           "dashboard": "bench.dashboard", "kafka-insert": "bench.kafka_processor"}


def spawn(name: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run `bench.worker name args...` and return the JSON it prints; raise on failure."""
    done = subprocess.run([sys.executable, "-m", "bench.worker", name, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"bench.worker {name} {' '.join(args)} exited {done.returncode}:\n"
                           f"{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str]) -> int:
    """Dispatch to the named benchmark's `worker(argv)` and print its result."""
    if not argv or argv[0] not in MODULES:
        print(f"usage: python -m bench.worker {{{','.join(MODULES)}}} [args]", file=sys.stderr)
        return 2
    module = importlib.import_module(MODULES[argv[0]])
    print(json.dumps(module.worker(argv[1:])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
