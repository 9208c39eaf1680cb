"""`python -m bench`: run the benchmarks, print Markdown tables, update docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys
import time
from types import ModuleType
from typing import Any

from bench import (
    collector_http,
    collector_wrk,
    dashboard,
    freshness,
    http_servers,
    kafka_envelope,
    kafka_processor,
    privacy,
    processor,
    processor_scaling,
    report,
    stats_query,
)

BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module for module in (privacy, collector_http, collector_wrk,
                                       kafka_envelope, stats_query, processor, http_servers,
                                       dashboard, freshness, kafka_processor,
                                       processor_scaling)
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; a failing one is reported and the others still run."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and fewer repeats (under a minute)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the tables, leave bench/results.json and the doc alone")
    parser.add_argument("--render", action="store_true",
                        help="run nothing: rewrite docs/benchmarks.md from bench/results.json")
    args = parser.parse_args(argv)
    if args.render:
        _write_doc(report.load())
        return 0
    store = report.load()
    failed = []
    began = time.perf_counter()
    for name, module in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name}{' (quick)' if args.quick else ''}...", file=sys.stderr,
              flush=True)
        started = time.perf_counter()
        try:
            result = module.run_benchmark(args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            print(f"{name} failed: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"\n## {name} ({time.perf_counter() - started:.0f} s)\n", flush=True)
        print("\n".join(module.render(result)) + "\n", flush=True)
        store["benchmarks"][name] = {"result": result, "quick": args.quick,
                                     "date": time.strftime("%Y-%m-%d", time.gmtime())}
    print(f"total {time.perf_counter() - began:.0f} s", file=sys.stderr)
    if not args.no_write:
        store["facts"] = report.machine_facts()
        report.save(store)
        _write_doc(store)
    return 1 if failed else 0


def _write_doc(store: dict[str, Any]) -> None:
    sections = [(m.NAME, m.TITLE, m.DESCRIPTION) for m in BENCHMARKS.values()]
    report.DOC.write_text(report.document(
        store, sections, {m.NAME: m.render for m in BENCHMARKS.values()}))
    print(f"wrote {report.DOC.relative_to(report.ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
