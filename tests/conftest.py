"""Shared fixtures: a fake clock, and a running simulator of the Agora Analytics API.

``simulator`` is an Enterprise-plan simulator on loopback, customer
``test-customer`` / ``test-secret-XYZ``, seed 7, driven by ``fake_clock``.
``make_simulator(**options)`` starts more (same defaults, any option of
``Simulator`` overridden); every simulator started through it is stopped at
the end of the test. ``api`` is an httpx client for ``simulator`` with the
right credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from exporter.simulator import Simulator
from tests.fakes import FakeClock

CUSTOMER_ID = "test-customer"
CUSTOMER_SECRET = "test-secret-XYZ"
SEED = 7
APPID = "0123456789abcdef0123456789abcdef"
START = 1_700_000_000  # FakeClock's default start: 2023-11-14 22:13:20 UTC

MakeSimulator = Callable[..., Simulator]


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test says so."""
    return FakeClock(START)


@pytest.fixture
def make_simulator(fake_clock: FakeClock) -> Iterator[MakeSimulator]:
    """Start simulators with the shared defaults; all are stopped after the test."""
    started: list[Simulator] = []

    def make(**options: Any) -> Simulator:
        settings: dict[str, Any] = {
            "plan": "enterprise",
            "customer_id": CUSTOMER_ID,
            "customer_secret": CUSTOMER_SECRET,
            "seed": SEED,
            "clock": fake_clock,
        }
        simulator = Simulator(**(settings | options))
        simulator.start(host="127.0.0.1", port=0)
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(make_simulator: MakeSimulator) -> Simulator:
    """An Enterprise-plan simulator on loopback, driven by ``fake_clock``."""
    return make_simulator()


@pytest.fixture
def api(simulator: Simulator) -> Iterator[httpx.Client]:
    """An httpx client for ``simulator`` with the right credentials."""
    with client_for(simulator) as client:
        yield client


def client_for(simulator: Simulator, **options: Any) -> httpx.Client:
    """An httpx client for any simulator (credentials of the shared defaults)."""
    # Plain HTTP on loopback: skipping certificate loading saves 25 ms per client.
    settings: dict[str, Any] = {
        "auth": (CUSTOMER_ID, CUSTOMER_SECRET),
        "timeout": 10.0,
        "verify": False,
    }
    return httpx.Client(base_url=simulator.base_url, **(settings | options))
