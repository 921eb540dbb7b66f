"""The scheduler on the fake clock: one queue per budget, stepped with ``run_due``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exporter.quota.series_poller import PollStatus
from exporter.realtime.poller import PollResult
from exporter.realtime.series import Series
from exporter.scheduling.jobs import PollScheduler
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.store import Store
from exporter.timing.windows import QueryRange, newest_complete_end
from tests.configs import settings_from, small_config
from tests.fakes import FakeClock

T0 = 1_764_000_000.0


@dataclass
class RecordingPoller:
    """Polls by moving the series' cursor, as a real poll would; remembers when."""

    clock: FakeClock
    store: Store
    polls: dict[str, list[float]] = field(default_factory=dict)
    takes_s: float = 0.0
    answers: list[PollResult] = field(default_factory=list)
    """Canned results, used up first (then: fetched)."""

    def poll(self, series: Series) -> PollResult:
        self.polls.setdefault(series.key, []).append(self.clock())
        self.clock.advance(self.takes_s)
        if self.answers:
            return self.answers.pop(0)
        end = newest_complete_end(self.clock(), 20)
        start = self.store.cursor(series.key) or end - 3600
        self.store.commit_poll(series.key, [], cursor=end)
        busy = end - 20  # users in every group: nothing pauses here (see test_traffic)
        return PollResult(PollStatus.FETCHED, frame=QueryRange(start, end, 0), busy_ts=busy)

    def skip_quiet(self, series: Series, until: int) -> None:
        del series, until


@dataclass
class Rig:
    clock: FakeClock
    poller: RecordingPoller
    scheduler: PollScheduler
    plan: PollPlan

    def run_for(self, seconds: float, step: float = 5.0) -> None:
        end = self.clock() + seconds
        while self.clock() < end:
            self.scheduler.run_due()
            self.clock.advance(step)


def _plan(tmp_path: Path, **realtime: Any) -> PollPlan:
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    config["apps"][0]["realtime"].update(realtime)
    return make_plan(settings_from(config))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(T0)
    plan = _plan(tmp_path)
    with Store(tmp_path / "state", clock=clock) as store:
        poller = RecordingPoller(clock, store)
        scheduler = PollScheduler(
            poller=poller,  # type: ignore[arg-type]
            store=store,
            plan=plan,
            clock=clock,
        )
        yield Rig(clock, poller, scheduler, plan)


def _next_runs(scheduler: PollScheduler) -> dict[str, Any]:
    return {job["id"]: job["next_run"] for job in scheduler.jobs()}


def test_every_series_polls_at_once_then_at_its_spread_slot_then_on_its_own_interval(
    rig: Rig,
) -> None:
    rig.run_for(3 * 3600)
    for one in rig.plan.series:
        times = rig.poller.polls[one.key]
        interval = rig.plan.timing_of(one).interval_s
        assert times[0] - T0 <= 5, "a first poll at once (the next step)"
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert len(gaps) >= 2, one.describe()
        assert gaps[0] < interval + 5, ("the catch-up, then the spread slot", one.describe(), gaps)
        assert all(interval <= gap < interval + 5 for gap in gaps[1:]), (one.describe(), gaps)


def test_series_of_one_interval_caught_up_at_start_spread_their_slots_over_it(
    rig: Rig,
) -> None:
    rig.run_for(3 * 3600)
    groups: dict[int, list[float]] = {}
    for one in rig.plan.series:
        groups.setdefault(rig.plan.timing_of(one).interval_s, []).append(
            rig.poller.polls[one.key][1] - T0
        )
    for interval, seconds in groups.items():
        phases = sorted(second % interval for second in seconds)
        step = interval / len(phases)
        assert all(abs(b - a - step) < 25 for a, b in itertools.pairwise(phases)), phases


def test_a_poll_that_overruns_its_interval_is_followed_by_one_poll_not_a_pile(
    rig: Rig,
) -> None:
    fastest = min(rig.plan.series, key=lambda one: rig.plan.timing_of(one).interval_s)
    interval = rig.plan.timing_of(fastest).interval_s
    rig.run_for(30)
    rig.poller.takes_s = 3 * interval  # the API hangs for three intervals
    rig.run_for(5)
    rig.poller.takes_s = 0
    before = len(rig.poller.polls[fastest.key])
    rig.run_for(interval - 10)
    assert len(rig.poller.polls[fastest.key]) == before + 1, "one catch-up poll, then its slot"


def test_a_put_off_poll_is_retried_when_it_named(rig: Rig) -> None:
    first = rig.plan.series[0]
    rig.poller.answers.append(PollResult(PollStatus.DEFERRED, retry_at=T0 + 42))
    rig.run_for(100)
    assert rig.poller.polls[first.key][:2] == [T0, T0 + 45]  # the first step at or after it


def test_a_reload_keeps_every_next_run_unless_the_series_interval_changed(
    rig: Rig, tmp_path: Path
) -> None:
    rig.run_for(600)
    before = _next_runs(rig.scheduler)
    rig.scheduler.replan(copy.deepcopy(rig.plan))
    assert _next_runs(rig.scheduler) == before
    heavier = _plan(tmp_path, weights={"channelCount": 100})
    rig.scheduler.replan(heavier)
    after = _next_runs(rig.scheduler)
    changed = {
        one.key
        for one in heavier.series
        if heavier.timing_of(one).interval_s != rig.plan.timing_of(one).interval_s
    }
    assert changed
    assert {key for key in before if after[key] != before[key]} == changed


def test_a_series_dropped_by_a_reload_is_polled_no_more(rig: Rig, tmp_path: Path) -> None:
    rig.run_for(60)
    fewer = _plan(tmp_path, usage=["userCount"])
    rig.scheduler.replan(fewer)
    dropped = {one.key for one in rig.plan.series} - {one.key for one in fewer.series}
    assert dropped
    polled = {key: len(times) for key, times in rig.poller.polls.items()}
    rig.run_for(2 * 3600)
    assert all(len(rig.poller.polls[key]) == polled[key] for key in dropped)
