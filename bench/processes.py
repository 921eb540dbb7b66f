"""The processes a benchmark runs and watches: the exporter, simulators, ``--demo``.

Each runs as its own process, as it would in production; :class:`Memory`
samples a process's resident memory from /proc.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.loadgen import Nginx, free_port
from exporter.agora.limits import Budget
from exporter.cli.demo import demo_overrides
from exporter.scheduling.planner import make_plan
from exporter.settings import load_settings
from exporter.simulator import Simulator

Quota = tuple[int, int]


class Memory:
    """Samples a process's VmRSS every half second; ``mark()`` starts a new maximum."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self.most = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def status(self, key: str) -> float:
        for line in Path(f"/proc/{self._pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.most = max(self.most, self.status("VmRSS"))
            except OSError:
                return

    def mark(self) -> None:
        self.most = self.status("VmRSS")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, headers=headers or {}, timeout=30)


def demo_seconds() -> float:
    """Seconds from starting ``--demo`` to a /metrics with every real-time family of its plan."""
    families = {one.family for one in make_plan(_demo_settings()).series}
    port = free_port()
    started = time.monotonic()
    args = [sys.executable, "-m", "exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 60:
            try:
                text = get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.HTTPError:
                text = ""
            shown = {line.split("{", 1)[0] for line in text.splitlines() if "{" in line}
            if families <= shown:
                return time.monotonic() - started
            time.sleep(0.05)
        raise SystemExit("--demo did not populate /metrics within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _demo_settings() -> Any:
    return load_settings(None, environ={}, overrides=demo_overrides("http://127.0.0.1:1", Path()))


@contextmanager
def exporter(config: dict[str, Any], directory: Path) -> Iterator[tuple[str, int]]:
    """The exporter as its own process; yields its /metrics URL and pid."""
    config_file = directory / "agora.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [sys.executable, "-m", "exporter", f"--config.file={config_file}"]
    args.append(f"--web.listen-address=127.0.0.1:{port}")
    with (directory / "exporter.log").open("w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + 60
            while True:
                try:
                    get(url)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit(f"the exporter did not start; see {directory}") from None
                    time.sleep(0.1)
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def _simulate(urls: Queue[str], stop: Event, customer: tuple[str, str], quota: Quota) -> None:
    """A child process: one simulator (seeded alike, so every one gives the same answers)."""
    with Simulator(
        plan="enterprise", customer_id=customer[0], customer_secret=customer[1], seed=42
    ) as sim:
        sim.set_quota(Budget.REALTIME, per_minute=quota[0], per_day=quota[1])
        urls.put(sim.base_url)
        stop.wait()


@contextmanager
def simulators(count: int, customer: tuple[str, str], quota: Quota) -> Iterator[str]:
    """``count`` simulator processes behind nginx; yields the base URL to give the exporter.

    One simulator (one Python process) answers ~20 requests a second for an hour
    of 10 uids; ``quota`` is its real-time (per minute, per day) limits.
    """
    urls: Queue[str] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    children = [
        multiprocessing.Process(target=_simulate, args=(urls, stop, customer, quota))
        for _ in range(count)
    ]
    for child in children:
        child.start()
    try:
        upstreams = [urls.get(timeout=30).removeprefix("http://") for _ in children]
        with Nginx.balancer(upstreams) as balancer:
            yield balancer.base_url
    finally:
        stop.set()
        for child in children:
            child.join(timeout=10)
