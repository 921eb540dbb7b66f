"""The seeds of a start over: as if the last 24 h had used every budget, and what the
ledger then lets through (pure arithmetic, with the ledger's own ``free_slot``)."""

from __future__ import annotations

import bisect

import pytest

from exporter.agora.limits import DAY, MINUTE, Budget, Limits, Plan, limits_for
from exporter.quota.ledger import free_slot
from exporter.store.startover import SEED_ENDPOINT, seed_rows, seed_times

T = 1_764_000_000.0


def _limits(plan: Plan, budget: Budget) -> Limits:
    found = limits_for(plan, budget)
    assert found is not None
    return found


def _in(times: list[float], start: float, end: float) -> int:
    """How many of ``times`` (ascending) lie in (start, end]."""
    return bisect.bisect_right(times, end) - bisect.bisect_right(times, start)


EVERY_BUDGET = [
    pytest.param(_limits(plan, budget), id=f"{plan.value} {budget.value}")
    for budget in Budget
    for plan in Plan
    if limits_for(plan, budget) is not None
] + [
    pytest.param(
        Limits(per_day=5, per_minute=10, horizon_s=1, max_span_s=1, delay_s=0),
        id="a day below the minute",
    ),
]


@pytest.mark.parametrize("limits", EVERY_BUDGET)
def test_each_period_ending_now_holds_exactly_its_limit(limits: Limits) -> None:
    times = seed_times(limits, T)
    assert times == sorted(times)
    assert times[-1] == T
    assert times[0] > T - DAY
    assert len(times) == max(limits.per_day, limits.per_minute or 0, limits.per_second or 0)
    if limits.per_minute is not None:
        assert _in(times, T - MINUTE, T) == min(limits.per_minute, len(times))
    if limits.per_second is not None:
        assert _in(times, T - 1, T) == limits.per_second


@pytest.mark.parametrize(
    ("plan", "budget", "first_after_s"),
    [
        # the oldest seed leaves the day's window (+ the ledger's 1 s margin)
        (Plan.ENTERPRISE, Budget.REALTIME, (DAY - MINUTE) / 1430 + 1),
        (Plan.PREMIUM, Budget.REALTIME, (DAY - MINUTE) / 477 + 1),
        (Plan.ENTERPRISE, Budget.INSIGHT_USAGE, (DAY - MINUTE) / 50 + 1),
        (Plan.ENTERPRISE, Budget.CALL_DETAILS, (DAY - 1) / 9990 + 1),
        (Plan.STANDARD, Budget.CALL_LISTS, (DAY - 1) / 999 + 1),
    ],
)
def test_the_first_request_after_a_start_over_waits_one_daily_spacing(
    plan: Plan, budget: Budget, first_after_s: float
) -> None:
    limits = _limits(plan, budget)
    assert free_slot(seed_times(limits, T), T, limits) == pytest.approx(T + first_after_s)


@pytest.mark.parametrize(
    "limits",
    [
        _limits(Plan.ENTERPRISE, Budget.REALTIME),
        _limits(Plan.PREMIUM, Budget.REALTIME),
        _limits(Plan.ENTERPRISE, Budget.INSIGHT_QUALITY),
        _limits(Plan.STANDARD, Budget.CALL_DETAILS),
    ],
    ids=["enterprise realtime", "premium realtime", "enterprise insight", "standard calls"],
)
def test_an_eager_sender_after_a_start_over_ramps_at_the_daily_limit_spread_over_24_h(
    limits: Limits,
) -> None:
    seeds = seed_times(limits, T)
    sent: list[float] = []
    now = T
    while True:
        now = free_slot(seeds + sent, now, limits)
        if now > T + DAY:
            break
        sent.append(now)
    ledger = seeds + sent
    for at in sent:  # every window the ledger counts, seeds included, within the limit
        assert _in(ledger, at - DAY, at) <= limits.per_day
        if limits.per_minute is not None:
            assert _in(ledger, at - MINUTE, at) <= limits.per_minute
    for hours in (1, 6, 12, 24):  # never ahead of the daily limit spread evenly from the start
        assert _in(sent, T, T + hours * 3600) <= limits.per_day * hours / 24
    assert len(sent) >= limits.per_day - 2, "a ramp, not a stall: a day's worth in the day"


def test_seed_rows_cover_every_budget_given_marked_as_seeds() -> None:
    realtime = _limits(Plan.ENTERPRISE, Budget.REALTIME)
    calls = _limits(Plan.ENTERPRISE, Budget.CALL_LISTS)
    rows = seed_rows({"realtime": realtime, "call_lists": calls}, T)
    assert {budget for _, budget, _ in rows} == {"realtime", "call_lists"}
    assert {endpoint for _, _, endpoint in rows} == {SEED_ENDPOINT}
    assert sum(budget == "call_lists" for _, budget, _ in rows) == calls.per_day
