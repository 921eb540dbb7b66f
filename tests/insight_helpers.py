"""Helpers for the insight tests: a config, the insight stages on a FakeClock, ground truth."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from exporter.agora import AgoraClient
from exporter.agora.limits import DAY, Budget
from exporter.catalog.realtime import QUALITY_METRICS
from exporter.insight.passes import InsightPasses
from exporter.insight.poller import InsightPoller
from exporter.quota.context import PollContext
from exporter.quota.request_stats import RuntimeStats
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.serving.collector import AgoraCollector, CollectorInput
from exporter.simulator import Simulator
from exporter.simulator.insight import point_times
from exporter.store import Store, StoreSnapshot
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET
from tests.daemon_helpers import Samples, parse, settings_from
from tests.fakes import FakeClock


def insight_config(
    base_url: str,
    state_dir: Path,
    *,
    hourly: bool = False,
    product_types: Sequence[str] = ("Native", "WebRTC"),
    quality: Sequence[str] = QUALITY_METRICS,
    **agora: Any,
) -> dict[str, Any]:
    """One Enterprise app with insight on; real-time reduced to one series."""
    return {
        "agora": {
            "base_url": base_url,
            "customer_id": CUSTOMER_ID,
            "customer_secret": CUSTOMER_SECRET,
            "plan": "enterprise",
            **agora,
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "product_types": list(product_types),
                "realtime": {"usage": ["userCount"], "quality": list(quality)},
                "insight": {"enabled": True, "hourly_quality": hourly},
            }
        ],
    }


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

    def sleep(seconds: float) -> bool:
        clock.advance(seconds)
        return True

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
