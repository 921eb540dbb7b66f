"""Helpers for the insight tests: a config, the insight stages on a FakeClock, ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from exporter.agora import AgoraClient
from exporter.agora.limits import DAY, Budget
from exporter.insight.passes import InsightPasses
from exporter.insight.poller import InsightPoller
from exporter.quota.context import PollContext
from exporter.quota.request_stats import RuntimeStats
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.serving.collector import AgoraCollector, CollectorInput
from exporter.simulator import Simulator
from exporter.simulator.insight import point_times
from exporter.store import Store, StoreSnapshot
from tests.configs import settings_from
from tests.conftest import APPID
from tests.daemon_helpers import Samples, parse
from tests.fakes import FakeClock, FakeSleep


@dataclass
class Rig:
    """The insight stages as build_app wires them; sleeping advances the fake clock."""

    plan: PollPlan
    store: Store
    client: AgoraClient
    stats: RuntimeStats
    poller: InsightPoller
    passes: InsightPasses
    clock: FakeClock

    def tick(self) -> None:
        for budget in self.passes.budgets:
            self.passes.tick(budget)

    def exposed(self) -> Samples:
        data = CollectorInput(
            now=self.clock(),
            series=[],
            budgets={},
            windows=StoreSnapshot(),
            windows_missed_total=0,
            stats=self.stats.snapshot(),
            insight=self.passes.state(),
        )
        registry = CollectorRegistry(auto_describe=False)
        registry.register(AgoraCollector(lambda: data))
        return parse(generate_latest(registry).decode())

    def sent(self, budget: Budget) -> list[float]:
        """Ledger entries of the last 24 h."""
        return self.store.ledger.times(budget.value, self.clock() - DAY)


@contextmanager
def insight_rig(config: dict[str, Any], clock: FakeClock) -> Iterator[Rig]:
    settings = settings_from(config)
    plan = make_plan(settings)
    assert plan.feasible, plan.problems

    sleep = FakeSleep(clock)

    store = Store(settings.state_dir, clock=clock)
    client = AgoraClient(
        base_url=settings.agora.base_url,
        customer_id=settings.agora.customer_id,
        customer_secret=settings.agora.customer_secret,
    )
    stats = RuntimeStats()
    limits = {budget: budget_plan.limits for budget, budget_plan in plan.budgets.items()}
    poller = InsightPoller(
        PollContext.build(
            client=client, store=store, limits=limits, stats=stats, clock=clock, sleep=sleep
        )
    )
    passes = InsightPasses(poller=poller, store=store, plan=plan, clock=clock)
    try:
        yield Rig(plan, store, client, stats, poller, passes, clock)
    finally:
        client.close()
        store.close()


def latest_published(
    sim: Simulator, metric: str, product_type: str | None, now: float, granularity: str = "1d"
) -> int | None:
    """The newest point the simulator serves at ``now`` (its own ground truth)."""
    points = point_times(int(now) - 7 * DAY, int(now), granularity)
    published = [
        ts
        for ts in points
        if sim.traffic.insight_at(APPID, metric, ts, granularity, product_type, now) is not None
    ]
    return max(published, default=None)


def metric_params(sim: Simulator, path: str) -> list[str]:
    """The ``metric`` of every request the simulator saw on ``path``, in order."""
    return [entry.params.get("metric", "") for entry in sim.requests() if entry.path == path]
