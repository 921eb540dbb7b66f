"""Helpers for end-to-end tests: configs, scraping, waiting on a live daemon."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import App, build_app
from exporter.simulator import Simulator
from tests.configs import CUSTOMER_ID, SECRET, settings_from

APPID = "0123456789abcdef0123456789abcdef"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def steady_uids(sim: Simulator, *, now: float, cname: str = "lobby", count: int = 2) -> list[int]:
    """Uids the simulator reports audioFreezeRate for in every window of the
    last 90 minutes, so a live test never lands in one of a user's absences."""
    first = int(now) // 20 * 20 - 5400
    windows = range(first, first + 5400 + 1200, 20)
    found: list[int] = []
    for uid in range(1001, 1400):
        values = (
            sim.traffic.realtime(APPID, "Native", "audioFreezeRate", ts, cname, uid)
            for ts in windows
        )
        if all(value is not None for value in values):
            found.append(uid)
        if len(found) == count:
            return found
    raise AssertionError(f"the simulator has no {count} steady uids in {cname}")


@contextmanager
def running_app(config: dict[str, Any]) -> Iterator[App]:
    app = build_app(settings_from(config), host="127.0.0.1", port=0)
    app.start()
    try:
        yield app
    finally:
        app.stop()


def live_simulator(**kwargs: Any) -> Simulator:
    options: dict[str, Any] = {
        "plan": "enterprise",
        "customer_id": CUSTOMER_ID,
        "customer_secret": SECRET,
        "seed": 11,
    }
    options.update(kwargs)
    return Simulator(**options)


def scrape(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return parse(text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def named(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (metric, labels), value in samples.items() if metric == name}


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll a live system until ``predicate`` holds (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up after {timeout_s:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
