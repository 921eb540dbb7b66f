"""Quota arithmetic: when the next request may leave, and the poll planner."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from exporter.agora.limits import DAY, Budget, Limits, Plan, limits_for
from exporter.quota.rules import (
    QuotaOverride,
    apply_override,
    budget_interval,
    is_gap_free,
    max_gap_free_series,
    next_free_slot,
    plan_budget,
    plan_that_fits,
)
from exporter.timing.windows import WINDOW_S, query_range


def _limits(plan: Plan, budget: Budget = Budget.REALTIME) -> Limits:
    found = limits_for(plan, budget)
    assert found is not None
    return found


ENTERPRISE = _limits(Plan.ENTERPRISE)
PREMIUM = _limits(Plan.PREMIUM)
CALLS = _limits(Plan.PREMIUM, Budget.CALL_LISTS)  # 3 per second, 2000 per day
NOW = 1_700_000_000.0


# ---------------------------------------------------------------------------
# next_free_slot


def test_an_empty_ledger_sends_now() -> None:
    assert next_free_slot([], NOW, ENTERPRISE) == NOW


def test_a_full_minute_frees_when_its_oldest_request_is_60_s_old() -> None:
    sent = [NOW - 50 + i for i in range(10)]
    assert next_free_slot(sent, NOW, ENTERPRISE) == NOW + 10


def test_a_request_exactly_one_minute_old_no_longer_counts() -> None:
    sent = [NOW - 60] + [NOW - 30 + i for i in range(9)]
    assert next_free_slot(sent, NOW, ENTERPRISE) == NOW


def test_a_minute_with_room_left_sends_now() -> None:
    sent = [NOW - 50 + i for i in range(9)]
    assert next_free_slot(sent, NOW, ENTERPRISE) == NOW


def test_a_full_day_frees_when_its_oldest_request_is_24_h_old() -> None:
    sent = [NOW - DAY + 100 + i * 59 for i in range(1440)]
    assert sent[-1] < NOW - 60  # the minute is free, only the day is full
    assert next_free_slot(sent, NOW, ENTERPRISE) == NOW + 100


def test_the_later_of_two_full_periods_wins() -> None:
    day_full = replace(ENTERPRISE, per_day=12)
    sent = [NOW - 3000, NOW - 2000] + [NOW - 30 + i for i in range(10)]
    assert next_free_slot(sent, NOW, day_full) == NOW - 3000 + DAY


def test_a_per_second_limit_frees_one_second_after_the_oldest_request() -> None:
    sent = [NOW - 0.5, NOW - 0.4, NOW - 0.3]
    assert next_free_slot(sent, NOW, CALLS) == pytest.approx(NOW + 0.5)


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param(replace(ENTERPRISE, per_day=0), id="a daily cap of zero never frees"),
        pytest.param(replace(ENTERPRISE, per_minute=0), id="a minute cap of zero never frees"),
        pytest.param(replace(CALLS, per_second=0), id="a second cap of zero never frees"),
    ],
)
def test_a_cap_of_zero_means_never(limits: Limits) -> None:
    assert next_free_slot([], NOW, limits) == math.inf


# ---------------------------------------------------------------------------
# budget_interval


@pytest.mark.parametrize(
    ("series", "limits", "headroom", "expected"),
    [
        pytest.param(6, ENTERPRISE, 0.1, 400, id="the worked example polls every 400 s"),
        pytest.param(1, ENTERPRISE, 0.1, 80, id="66.7 s rounds up to the next whole window"),
        pytest.param(53, ENTERPRISE, 0.1, 3540, id="53 enterprise series poll hourly"),
        pytest.param(1, PREMIUM, 0.1, 200, id="one premium series uses 432 requests a day"),
        pytest.param(11, PREMIUM, 0.1, 2200, id="eleven premium series fill its day"),
        pytest.param(6, ENTERPRISE, 0.0, 360, id="no headroom spends the whole day"),
        pytest.param(
            30,
            replace(ENTERPRISE, per_day=1_000_000),
            0.1,
            180,
            id="with a huge daily quota the per-minute limit sets the floor",
        ),
        pytest.param(
            1,
            replace(ENTERPRISE, per_day=1_000_000, per_minute=1000),
            0.1,
            WINDOW_S,
            id="never more often than one window",
        ),
        pytest.param(
            10,
            replace(CALLS, per_day=1_000_000),
            0.1,
            WINDOW_S,
            id="a per-second limit counts as sixty per minute",
        ),
        pytest.param(0, ENTERPRISE, 0.1, 0, id="no series need no interval"),
    ],
)
def test_budget_interval(series: int, limits: Limits, headroom: float, expected: int) -> None:
    assert budget_interval(series, limits, headroom) == expected


# ---------------------------------------------------------------------------
# max_gap_free_series, plan_budget, plan_that_fits


@pytest.mark.parametrize(
    ("limits", "headroom", "expected"),
    [
        pytest.param(ENTERPRISE, 0.1, 53, id="enterprise covers 53 series with 10% headroom"),
        pytest.param(ENTERPRISE, 0.0, 59, id="enterprise covers 59 series with no headroom"),
        pytest.param(PREMIUM, 0.1, 11, id="premium covers 11 series with 10% headroom"),
        pytest.param(PREMIUM, 0.0, 12, id="premium covers 12 series with no headroom"),
        pytest.param(PREMIUM, 0.9, 1, id="premium covers 1 series with 90% headroom"),
    ],
)
def test_max_gap_free_series(limits: Limits, headroom: float, expected: int) -> None:
    most = max_gap_free_series(limits, headroom)
    assert most == expected
    assert is_gap_free(budget_interval(most, limits, headroom), limits)
    assert not is_gap_free(budget_interval(most + 1, limits, headroom), limits)


def test_plan_budget_for_the_worked_example() -> None:
    planned = plan_budget(Budget.REALTIME, 6, ENTERPRISE, 0.1)
    assert planned.feasible
    assert planned.problem is None
    assert planned.interval_s == 400
    assert planned.requests_per_day == 1296
    assert planned.freshness_s == 460
    assert planned.replay_lag_s == 460
    assert planned.max_series == 53


def test_requests_a_day_of_per_series_intervals_are_exact_at_the_daily_limit() -> None:
    # 86400 / 420 is not exact in binary: summed seven times it came to 1440.0000000000002
    planned = replace(plan_budget(Budget.REALTIME, 7, ENTERPRISE, 0.0), intervals=(420,) * 7)
    assert planned.requests_per_day == ENTERPRISE.per_day == 1440


def test_plan_budget_with_no_series_is_feasible_and_idle() -> None:
    planned = plan_budget(
        Budget.INSIGHT_USAGE, 0, _limits(Plan.ENTERPRISE, Budget.INSIGHT_USAGE), 0.1
    )
    assert planned.feasible
    assert planned.interval_s == 0
    assert planned.requests_per_day == 0


@pytest.mark.parametrize(
    ("series", "limits", "expected"),
    [
        pytest.param(
            60,
            ENTERPRISE,
            "budget realtime: 60 series need a poll every 4000 s, but data leaves the API "
            "after 3600 s (delay 20 s); drop 7 series (at most 53 fit)",
            id="sixty enterprise series must drop seven",
        ),
        pytest.param(
            12,
            PREMIUM,
            "budget realtime: 12 series need a poll every 2400 s, but data leaves the API "
            "after 2400 s (delay 40 s); drop 1 series (at most 11 fit)",
            id="twelve premium series must drop one",
        ),
        pytest.param(
            3,
            replace(ENTERPRISE, per_day=1),
            "budget realtime: 3 series need a poll every 288000 s, but data leaves the API "
            "after 3600 s (delay 20 s); drop 3 series (at most 0 fit)",
            id="a daily quota of one request covers nothing",
        ),
    ],
)
def test_plan_budget_explains_an_infeasible_budget(
    series: int, limits: Limits, expected: str
) -> None:
    planned = plan_budget(Budget.REALTIME, series, limits, 0.1)
    assert not planned.feasible
    assert planned.problem == expected


@pytest.mark.parametrize(
    ("budget", "series", "expected"),
    [
        pytest.param(Budget.REALTIME, 5, Plan.PREMIUM, id="a few series fit premium"),
        pytest.param(Budget.REALTIME, 11, Plan.PREMIUM, id="eleven series still fit premium"),
        pytest.param(Budget.REALTIME, 12, Plan.ENTERPRISE, id="twelve series need enterprise"),
        pytest.param(Budget.REALTIME, 53, Plan.ENTERPRISE, id="53 series fit enterprise"),
        pytest.param(Budget.REALTIME, 54, None, id="54 series fit no plan"),
        pytest.param(Budget.CALL_LISTS, 1, Plan.STANDARD, id="call lists start at standard"),
    ],
)
def test_plan_that_fits(budget: Budget, series: int, expected: Plan | None) -> None:
    assert plan_that_fits(budget, series, 0.1) == expected


# ---------------------------------------------------------------------------
# apply_override


def test_no_override_keeps_the_plan_limits() -> None:
    assert apply_override(ENTERPRISE, None) is ENTERPRISE


def test_an_override_replaces_only_the_limits_it_sets() -> None:
    changed = apply_override(ENTERPRISE, QuotaOverride(per_day=100))
    assert changed == replace(ENTERPRISE, per_day=100)
    assert changed.per_minute == 10
    assert changed.horizon_s == ENTERPRISE.horizon_s


def test_an_override_can_set_every_limit() -> None:
    changed = apply_override(CALLS, QuotaOverride(per_second=1, per_minute=5, per_day=7))
    assert (changed.per_second, changed.per_minute, changed.per_day) == (1, 5, 7)
    assert changed.minute_capacity == 5


def test_an_empty_override_changes_nothing() -> None:
    assert apply_override(PREMIUM, QuotaOverride()) == PREMIUM


# ---------------------------------------------------------------------------
# The planner against the query ranges it plans for


@pytest.mark.parametrize(
    ("limits", "headroom", "series"),
    [
        pytest.param(PREMIUM, 0.0, None, id="premium with no headroom at its largest config"),
        pytest.param(ENTERPRISE, 0.1, None, id="enterprise at its largest config"),
        pytest.param(
            replace(ENTERPRISE, per_day=28), 0.1, 1, id="enterprise with a small daily quota"
        ),
    ],
)
def test_a_plan_called_gap_free_misses_no_window(
    limits: Limits, headroom: float, series: int | None
) -> None:
    if series is None:
        series = max_gap_free_series(limits, headroom)
    planned = plan_budget(Budget.REALTIME, series, limits, headroom)
    assert planned.feasible
    cursor: int | None = None
    now = 1_700_000_000.0  # on a window boundary
    missed = 0
    for _ in range(5):
        found = query_range(
            cursor,
            now,
            delay_s=limits.delay_s,
            horizon_s=limits.horizon_s,
            max_span_s=limits.max_span_s,
        )
        assert found is not None
        missed += found.missed_windows
        cursor = found.end
        now += planned.interval_s
    assert missed == 0
