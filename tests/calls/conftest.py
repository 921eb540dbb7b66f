"""The Call Inspector's rig: the simulator over loopback HTTP, a real SQLite store, the
real client and fetcher, and a ``FakeClock`` shared by all of them; every wait for the
ledger advances it, so per-second limits are honoured without sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.agora import AgoraClient
from exporter.agora.limits import Endpoint
from exporter.calls.collector import call_families
from exporter.calls.fetch import CallFetcher
from exporter.calls.inspector import CallInspector
from exporter.calls.view import CallState
from exporter.quota.context import PollContext
from exporter.quota.request_stats import RuntimeStats
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.settings import load_settings
from exporter.simulator import Simulator
from exporter.store import Store
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET, MakeSimulator
from tests.fakes import FakeClock, FakeSleep

Exposed = dict[tuple[str, tuple[str, ...]], float]


@dataclass
class Rig:
    sim: Simulator
    clock: FakeClock
    plan: PollPlan
    store: Store
    inspector: CallInspector
    stats: RuntimeStats
    fetcher: CallFetcher

    def cycle(self) -> CallState:
        assert self.inspector.run_cycle()
        return self.inspector.state()

    def requests(self, endpoint: Endpoint) -> list[Any]:
        return [entry for entry in self.sim.requests() if entry.path == endpoint.value]


@pytest.fixture
def rigs(make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as stack:

        def make(
            calls: dict[str, Any],
            *,
            quota: dict[str, dict[str, int]] | None = None,
            page_size: int = 100,
            transport: httpx.BaseTransport | None = None,
            **sim_options: Any,
        ) -> Rig:
            sim = make_simulator(**sim_options)
            for budget, limits in (quota or {}).items():
                sim.set_quota(budget, **limits)
            config = {
                "agora": {
                    "base_url": sim.base_url,
                    "customer_id": CUSTOMER_ID,
                    "customer_secret": CUSTOMER_SECRET,
                    "plan": "enterprise",
                    "quota": quota or {},
                },
                "state_dir": str(tmp_path / f"state-{len(stack._exit_callbacks)}"),
                "apps": [{"appid": APPID, "insight": {"enabled": False}, "calls": calls}],
            }
            settings = load_settings(None, environ={}, overrides=config)
            plan = make_plan(settings)
            assert plan.feasible, plan.problems
            store = stack.enter_context(Store(settings.state_dir, clock=fake_clock))
            client = stack.enter_context(
                AgoraClient(
                    base_url=sim.base_url,
                    customer_id=settings.agora.customer_id,
                    customer_secret=settings.agora.customer_secret,
                    transport=transport,
                )
            )

            sleep = FakeSleep(fake_clock)

            limits = {budget: one.limits for budget, one in plan.budgets.items()}
            fetcher = CallFetcher(
                PollContext.build(
                    client=client, store=store, limits=limits, clock=fake_clock, sleep=sleep
                )
            )
            stats = RuntimeStats()
            inspector = CallInspector(
                fetcher=fetcher,
                store=store,
                stats=stats,
                plan=plan.calls,
                clock=fake_clock,
                page_size=page_size,
            )
            return Rig(sim, fake_clock, plan, store, inspector, stats, fetcher)

        yield make


def exposed(state: CallState) -> Exposed:
    found: Exposed = {}
    for family in call_families(state):
        for sample in family.samples:
            found[(sample.name, tuple(sample.labels.values()))] = sample.value
    return found
