"""The benchmark's reading of py-spy stacks and /proc counters (bench/server_profile.py)."""

from bench.collector_wrk import lua_script
from bench.server_profile import EVENT_LOOP, cpu_by_role, summarise_profile, thread_names

RAW = "\n".join([
    "thread (11): MainThread;serve (crumbless/server.py:1);poll2 (waitress/wasyncore.py:2) 6",
    "thread (12): waitress-0;handler_thread (waitress/task.py:3);wait (threading.py:4) 5",
    "thread (12): waitress-0;handler_thread (waitress/task.py:3);execute (waitress/task.py:5);"
    "append (contract/transports/eventlog.py:6);_sync_until "
    "(contract/transports/eventlog.py:7) 3",
    "thread (12): waitress-0;handler_thread (waitress/task.py:3);execute (waitress/task.py:5);"
    "wsgi_app (flask/app.py:8) 2",
    "thread (13): crumbless-processor;_run (processors/runner.py:9) 4",
])


def test_gil_samples_are_split_by_thread_role_and_request_work() -> None:
    summary = summarise_profile(RAW)
    assert summary["samples"] == 20
    assert summary["buckets"][EVENT_LOOP] == 6 / 20
    assert summary["buckets"]["request: event-log append + fsync"] == 3 / 20
    assert summary["buckets"]["request: Flask / Werkzeug"] == 2 / 20
    assert dict(summary["self"])["poll2 (waitress/wasyncore.py)"] == 6 / 20


def test_request_thread_time_is_idle_fsync_or_work() -> None:
    summary = summarise_profile(RAW, idle=True)
    assert summary["samples"] == 10  # request threads only
    assert summary["buckets"] == {"request thread idle (no request queued)": 0.5,
                                  "request thread waiting on the event log's fsync": 0.3,
                                  "request thread working (or waiting for the GIL)": 0.2}


def test_cpu_per_request_by_role_from_two_readings() -> None:
    names = thread_names(RAW)
    assert names == {11: "MainThread", 12: "waitress-0", 13: "crumbless-processor"}
    before = {11: ("python", 1.0), 12: ("python", 2.0), 14: ("QueryPipeline", 0.0)}
    after = {11: ("python", 1.5), 12: ("python", 3.0), 13: ("python", 0.25),
             14: ("QueryPipeline", 0.25)}
    roles = cpu_by_role(before, after, names, requests=1000)
    assert roles == {"request threads (Flask, anonymiser, event-log append)": 1000.0,
                     EVENT_LOOP: 500.0,
                     "processor thread (Python: decode, sessionise, build rows)": 250.0,
                     "native threads (chdb: inserts, merges, views)": 250.0}


def test_the_wrk_script_carries_every_beacon_with_its_sender() -> None:
    script = lua_script(50)
    assert script.count("[==[{") == 50  # bodies are JSON objects in long strings
    assert "X-Forwarded-For" in script and "RESULT" in script
