"""The queue of due series and the arithmetic of slots and first runs: pure, table tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.scheduling.planner import PollPlan, make_plan
from exporter.scheduling.queue import DueQueue, catch_up_delay, first_runs, next_due, next_slot
from tests.configs import settings_from, small_config

NOW = 1_764_000_000.0


def test_the_queue_gives_due_keys_earliest_first_and_a_key_once() -> None:
    queue = DueQueue()
    queue.set("b", 20.0)
    queue.set("a", 10.0)
    queue.set("c", 30.0)
    queue.set("c", 5.0)  # set again: replaces
    queue.remove("b")
    assert (len(queue), "b" in queue, queue.due_of("c")) == (2, False, 5.0)
    assert queue.next_due() == 5.0
    assert queue.pop_due(10.0) == [("c", 5.0), ("a", 10.0)]
    assert queue.pop_due(100.0) == []
    assert queue.next_due() is None


@pytest.mark.parametrize(
    ("slot", "served", "now", "expected"),
    [
        pytest.param(1000, 1000, 1003, 1340, id="a regular poll moves the slot on by one interval"),
        pytest.param(1000, 1000, 1500, 1500, id="a poll that overran its next slot runs once now"),
        pytest.param(1000, 700, 705, 1000, id="a retry before the slot leaves it where it was"),
        pytest.param(1000, 1020, 1025, 1340, id="a late regular poll keeps the stagger"),
    ],
)
def test_next_slot(slot: float, served: float, now: float, expected: float) -> None:
    assert next_slot(slot, served, 340, now) == expected


@pytest.mark.parametrize(
    ("retry_at", "now", "expected"),
    [
        pytest.param(None, 100, 1340, id="nothing to retry waits for the slot"),
        pytest.param(160, 100, 160, id="a retry asked for before the slot comes first"),
        pytest.param(2000, 100, 1340, id="a retry after the slot is the slot's poll"),
        pytest.param(50, 100, 101, id="a retry in the past waits a second"),
    ],
)
def test_next_due(retry_at: float | None, now: float, expected: float) -> None:
    assert next_due(1340, retry_at, now, earliest_s=1.0) == expected


def test_catch_up_spends_the_first_minutes_allowance_at_once_then_paces() -> None:
    assert [catch_up_delay(order, 10) for order in (0, 9, 10, 11)] == [0.0, 1.8, 60.0, 66.0]


@pytest.fixture
def plan(tmp_path: Path) -> PollPlan:
    return make_plan(settings_from(small_config("http://127.0.0.1:9", tmp_path)))


def _runs(plan: PollPlan, due: dict[str, float | None]) -> dict[str, float]:
    return first_runs(
        plan.series, plan, now=NOW, is_stale=lambda one: False, due=lambda one: due[one.key]
    )


def test_first_runs_of_series_never_polled_go_at_once_in_plan_order(plan: PollPlan) -> None:
    runs = _runs(plan, dict.fromkeys((one.key for one in plan.series), None))
    assert [runs[one.key] - NOW for one in plan.series] == pytest.approx(
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    )


def test_first_runs_follow_the_cursor_and_overdue_series_catch_up(plan: PollPlan) -> None:
    first, second, *rest = plan.series
    due: dict[str, float | None] = {one.key: NOW + 100 + i for i, one in enumerate(rest)}
    due[first.key], due[second.key] = NOW - 5, NOW
    runs = _runs(plan, due)
    assert runs[first.key] == NOW
    assert runs[second.key] == NOW + 0.2
    assert [runs[one.key] for one in rest] == [due[one.key] for one in rest]


def test_without_cursors_fresh_series_spread_over_their_own_interval(plan: PollPlan) -> None:
    runs = first_runs(plan.series, plan, now=NOW, is_stale=lambda one: False)
    by_interval: dict[int, list[float]] = {}
    for one in plan.series:
        by_interval.setdefault(plan.timing_of(one).interval_s, []).append(runs[one.key] - NOW)
    for interval, offsets in by_interval.items():
        step = interval / len(offsets)
        assert offsets == pytest.approx([i * step for i in range(len(offsets))])
