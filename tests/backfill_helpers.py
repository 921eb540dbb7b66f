"""A store filled by real polls against the simulator, days in the past, for backfill tests."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from exporter.agora import AgoraClient
from exporter.agora.limits import DAY, HOUR, Budget
from exporter.backfill.render import Labels, insight_labels, series_labels
from exporter.catalog.insight import INSIGHT_METRICS
from exporter.insight.plan import expand_insight_series
from exporter.quota.context import PollContext
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.series_poller import PollStatus as Status
from exporter.realtime.poller import Poller
from exporter.scheduling.planner import expand_series, make_plan
from exporter.simulator import Simulator
from exporter.store import Store
from exporter.timing.windows import floor_window
from tests.configs import settings_from, small_config, small_insight_config, write_config
from tests.daemon_helpers import CUSTOMER_ID, SECRET, live_simulator
from tests.fakes import FakeClock, FakeSleep

DAY_POINT_S = 16 * HOUR
"""The simulator's day points start at 16:00 UTC, as the reference's examples."""
DAYS_AGO = 3
ROUNDS = 3
ROUND_S = 400  # the small config's planned interval

Expected = dict[tuple[str, Labels], dict[int, float]]
"""``{(family, labels): {window start: value}}``: what Prometheus must give back."""


@dataclass(frozen=True)
class FilledStore:
    config: dict[str, Any]
    config_file: Path
    state_dir: Path
    expected: Expected
    started_at: int
    """The fake clock's start: the first poll's ``now``."""
    ended_at: int
    """The fake clock after the last round."""

    @property
    def samples(self) -> int:
        return sum(len(points) for points in self.expected.values())

    @property
    def first_ts(self) -> int:
        return min(min(points) for points in self.expected.values())

    @property
    def last_ts(self) -> int:
        return max(max(points) for points in self.expected.values())


def fill_store(base: Path, *, days_ago: int = DAYS_AGO, rounds: int = ROUNDS) -> FilledStore:
    """Poll the small config's six series ``rounds`` times, 400 s apart, ``days_ago`` days ago.

    The expected windows are read back from the daemon's own ``Store.snapshot()``.
    """
    started_at = floor_window(time.time()) - days_ago * 86400
    clock = FakeClock(started_at)

    sleep = FakeSleep(clock)

    with live_simulator(clock=clock) as sim:
        config = small_config(sim.base_url, base / "state")
        settings = settings_from(config)
        plan = make_plan(settings)
        limits = {budget: one.limits for budget, one in plan.budgets.items()}
        series = expand_series(settings)
        with (
            Store(settings.state_dir, clock=clock) as store,
            AgoraClient(
                base_url=sim.base_url,
                customer_id=SecretStr(CUSTOMER_ID),
                customer_secret=SecretStr(SECRET),
                timeout_s=5,
            ) as client,
        ):
            poller = Poller(
                PollContext.build(
                    client=client,
                    store=store,
                    limits=limits,
                    stats=RuntimeStats(),
                    clock=clock,
                    sleep=sleep,
                )
            )
            for _ in range(rounds):
                for one in series:
                    assert poller.poll(one).status is Status.FETCHED, one.describe()
                clock.advance(ROUND_S)
            snapshot = store.snapshot()
    expected: Expected = {}
    for one in series:
        data = snapshot.get(one.key)
        for uid in one.uids or (None,):
            points = {} if data is None else dict(data.values.get(uid, {}))
            if points:
                expected[(one.family, series_labels(one, uid))] = points
    assert len(expected) == 7, "the small config: 5 series plus 2 uids"
    config["agora"]["base_url"] = "http://127.0.0.1:9"  # the export never calls the API
    config_file = write_config(base / "agora.yml", config)
    return FilledStore(config, config_file, settings.state_dir, expected, started_at, int(clock()))


ROOMY_QUOTA = {"per_minute": 100, "per_day": 1000}
"""Insight quotas big enough for the whole history in one run, without waits."""


def roomy_config(sim: Simulator, state_dir: Path) -> dict[str, Any]:
    """``small_insight_config`` with ``ROOMY_QUOTA`` on both insight budgets, and in ``sim``."""
    for budget in (Budget.INSIGHT_USAGE, Budget.INSIGHT_QUALITY):
        sim.set_quota(budget, **ROOMY_QUOTA)
    quota = {"insight_usage": ROOMY_QUOTA, "insight_quality": ROOMY_QUOTA}
    return small_insight_config(sim.base_url, state_dir, quota=quota)


def simulator_history(sim: Simulator, config: dict[str, Any], now: int) -> Expected:
    """Every day point published by ``now`` within the plan's 30 days, from the ground truth."""
    expected: Expected = {}
    earliest = now - (30 * DAY - HOUR)
    for one in expand_insight_series(settings_from(config)):
        points = {}
        for ts in range(math.ceil((earliest - DAY_POINT_S) / DAY) * DAY + DAY_POINT_S, now, DAY):
            value = sim.traffic.insight_at(one.appid, one.metric, ts, "1d", one.product_type, now)
            if value is not None:
                points[ts] = float(value) * INSIGHT_METRICS[one.metric].scale
        expected[(one.family, insight_labels(one))] = points
    return expected
