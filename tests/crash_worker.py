"""Forks exporters for ``test_crash.py`` to ``kill -9``: ``python -m tests.crash_worker SPEC``.

A zygote: it imports everything once, then on each ``fork`` line from stdin
forks a worker, prints ``pid N`` and, when the test has killed it, ``reaped N
CODE``. Forking from a process that has started no thread is safe, and it
makes a fresh exporter process cost milliseconds instead of a second of
imports, so a test can kill dozens of them.

A worker is the real composition root (``build_app``: state_dir lock, SQLite
store, client, poller) on an accelerated clock shared with the simulator in
the test: ``sim0 + (time.time() - real0) * speed``. It polls every series,
back to back, at each new window, printing ``ready`` once built and ``cycle``
as each round of polls begins, so the test can kill it in the middle of one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from exporter.app import build_app
from exporter.settings import load_settings
from exporter.timing.windows import WINDOW_S


def fast_clock(spec: dict[str, Any]) -> Any:
    sim0, real0, speed = float(spec["sim0"]), float(spec["real0"]), float(spec["speed"])

    def clock() -> float:
        return sim0 + (time.time() - real0) * speed

    return clock


def _say(text: str) -> None:
    os.write(1, f"{text}\n".encode())


def work(spec: dict[str, Any]) -> None:
    clock = fast_clock(spec)
    speed = float(spec["speed"])

    def sleep(seconds: float) -> bool:
        time.sleep(seconds / speed)
        return True

    settings = load_settings(None, environ={}, overrides=spec["config"])
    app = build_app(settings, clock=clock, host="127.0.0.1", port=0, sleep=sleep)
    _say("ready")
    while True:
        _say("cycle")
        for series in app.plan.series:
            app.poller.poll(series)
        _say("end")
        wait = (WINDOW_S - clock() % WINDOW_S) / speed
        time.sleep(wait)


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return 0
        if command != "fork":
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                work(spec)
            finally:
                os._exit(70)
        _say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"reaped {pid} {os.waitstatus_to_exitcode(status)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
