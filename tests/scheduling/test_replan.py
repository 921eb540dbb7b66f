"""Replanning on reload with an insight pass running: the real APScheduler, fake work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exporter.agora.limits import Budget
from exporter.quota.series_poller import PollStatus as Status
from exporter.realtime.poller import PollResult
from exporter.scheduling.jobs import PollScheduler
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.settings import load_settings
from exporter.store import Store
from tests.configs import small_config
from tests.daemon_helpers import wait_until

JOB = f"insight:{Budget.INSIGHT_USAGE}"


class FakePoller:
    def poll(self, series: Any) -> PollResult:
        return PollResult(Status.FETCHED)


class HeldPasses:
    """The scheduler's view of the insight passes: one budget, a tick held until released."""

    budgets = (Budget.INSIGHT_USAGE,)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ticks = 0
        self._lock = threading.Lock()

    def set_plan(self, plan: PollPlan) -> None:
        del plan

    def running(self, budget: Budget) -> bool:
        return self._lock.locked()

    def tick(self, budget: Budget) -> None:
        with self._lock:
            self.ticks += 1
            self.release.wait(timeout=30)


@pytest.fixture
def plan(tmp_path: Path) -> PollPlan:
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    return make_plan(load_settings(None, environ={}, overrides=config))


@pytest.fixture
def passes() -> HeldPasses:
    return HeldPasses()


@pytest.fixture
def scheduler(tmp_path: Path, plan: PollPlan, passes: HeldPasses) -> Iterator[PollScheduler]:
    with Store(tmp_path / "state") as store:
        running = PollScheduler(
            poller=FakePoller(),  # type: ignore[arg-type]
            store=store,
            plan=plan,
            insight=passes,  # type: ignore[arg-type]
        )
        running.start()
        try:
            yield running
        finally:
            passes.release.set()
            running.stop()


def _next_tick(scheduler: PollScheduler) -> datetime:
    found = next(job["next_run"] for job in scheduler.jobs() if job["id"] == JOB)
    assert isinstance(found, datetime)
    return found


def test_a_reload_during_an_insight_pass_leaves_it_running_and_warns_nothing(
    scheduler: PollScheduler, plan: PollPlan, passes: HeldPasses, caplog: pytest.LogCaptureFixture
) -> None:
    wait_until(lambda: passes.running(Budget.INSIGHT_USAGE), timeout_s=30, what="the first pass")
    caplog.set_level(logging.WARNING, logger="apscheduler")
    reloaded = datetime.now(UTC)
    scheduler.replan(plan)
    # the scheduler has weighed every run due at the reload once the tick's next run is later
    later = reloaded + timedelta(seconds=1)
    wait_until(lambda: _next_tick(scheduler) > later, timeout_s=30, what="the scheduler")
    assert [record.getMessage() for record in caplog.records] == []
    assert passes.ticks == 1


def test_a_reload_between_passes_ticks_at_once_for_series_new_to_the_plan(
    scheduler: PollScheduler, plan: PollPlan, passes: HeldPasses
) -> None:
    wait_until(lambda: passes.ticks == 1, timeout_s=30, what="the first pass")
    passes.release.set()
    wait_until(lambda: not passes.running(Budget.INSIGHT_USAGE), timeout_s=30, what="its end")
    scheduler.replan(plan)
    wait_until(lambda: passes.ticks == 2, timeout_s=30, what="a tick after the reload")
