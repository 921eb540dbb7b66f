"""Splitting a budget by weight: table tests of the pure allocation."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from exporter.agora.limits import DAY, MINUTE, Budget, Limits, Plan, limits_for
from exporter.quota.allocation import allocate, ceiling_interval, floor_interval, plan_weighted
from exporter.quota.rules import QuotaOverride, apply_override, budget_interval, plan_budget
from exporter.timing.windows import WINDOW_S


def _limits(plan: Plan, **override: int) -> Limits:
    found = limits_for(plan, Budget.REALTIME)
    assert found is not None
    return apply_override(found, QuotaOverride(**override))


ENTERPRISE = _limits(Plan.ENTERPRISE)
PREMIUM = _limits(Plan.PREMIUM)
ABUNDANT = _limits(Plan.ENTERPRISE, per_day=1_000_000, per_minute=1000)
# The default weights of one app and product type, in expand_series order: userCount,
# channelCount, joinSuccessRate, joinSuccessIn5sRate, audioFreezeRate, videoFreezeRate,
# networkDelay.
ONE_PRODUCT_TYPE = [0.0, 0.0, 0.0, 1.0, 100.0, 100.0, 1.0]


def test_the_bounds_of_enterprise_and_premium() -> None:
    assert (floor_interval(ENTERPRISE), ceiling_interval(ENTERPRISE)) == (20, 3540)
    assert (floor_interval(PREMIUM), ceiling_interval(PREMIUM)) == (20, 2320)
    assert floor_interval(_limits(Plan.ENTERPRISE, per_minute=2)) == 40


@pytest.mark.parametrize("weight", [1.0, 0.0, 7.5], ids=["ones", "zeros", "sevens and a half"])
@pytest.mark.parametrize(
    ("limits", "headroom"),
    [
        pytest.param(ENTERPRISE, 0.1, id="enterprise"),
        pytest.param(PREMIUM, 0.1, id="premium"),
        pytest.param(ENTERPRISE, 0.0, id="enterprise without headroom"),
        pytest.param(_limits(Plan.ENTERPRISE, per_minute=2, per_day=10**6), 0.1, id="per minute"),
        pytest.param(ABUNDANT, 0.1, id="abundant"),
    ],
)
def test_equal_weights_reproduce_todays_intervals(
    weight: float, limits: Limits, headroom: float
) -> None:
    for count in range(1, 80):
        today = budget_interval(count, limits, headroom)
        found = allocate([weight] * count, limits, headroom)
        if found is None:
            assert today > ceiling_interval(limits), f"{count} series fit today"
        else:
            assert found == (today,) * count, f"{count} series"


@pytest.mark.parametrize(
    ("weights", "pinned", "limits", "expected"),
    [
        pytest.param(
            ONE_PRODUCT_TYPE * 2,
            (),
            ENTERPRISE,
            (3500, 3500, 3500, 3320, 340, 340, 3320) * 2,
            id="the default weights of two product types poll freeze every 340 s",
        ),
        pytest.param(
            [*ONE_PRODUCT_TYPE, 0.0],
            (7,),
            ENTERPRISE,
            (3500, 3500, 3500, 1600, 160, 160, 1600, 3500),
            id="one product type and the other's pinned user count poll freeze every 160 s",
        ),
        pytest.param(
            [1.0, 4.0],
            (),
            ENTERPRISE,
            (200, 100),
            id="four times the weight polls twice as often",
        ),
        pytest.param(
            [1.0, 1e-6, 1.0],
            (),
            ENTERPRISE,
            (140, 3500, 140),
            id="a tiny weight clamps at the ceiling and hands its share to the others",
        ),
        pytest.param(
            [100.0, 100.0, 0.0, 0.0],
            (),
            ABUNDANT,
            (20, 20, 20, 20),
            id="quota to spare clamps every series at the floor",
        ),
        pytest.param(
            [100.0, 0.0, 0.0],
            (),
            _limits(Plan.ENTERPRISE, per_day=10000),
            (20, 40, 40),
            id="weighted series at the floor leave the rest to the weight 0 ones equally",
        ),
        pytest.param(
            [100.0, 100.0],
            (1,),
            ENTERPRISE,
            (80, 3500),
            id="a pinned series stays at the ceiling whatever its weight",
        ),
    ],
)
def test_weighted_intervals(
    weights: list[float], pinned: Sequence[int], limits: Limits, expected: tuple[int, ...]
) -> None:
    assert allocate(weights, limits, 0.1, pinned=pinned) == expected


def test_series_at_the_ceiling_settle_two_windows_inside_it_only_when_the_quota_left_pays() -> None:
    # 3,540 s is the gap-free ceiling; the rounding of the default plan leaves enough
    assert set(allocate([0.0, 1.0], ENTERPRISE, 0.1) or ()) == {3500, 80}
    # 52 series at the ceiling leave the 53rd a sliver: no room to settle
    crowded = allocate([1.0] + [0.0] * 52, ENTERPRISE, 0.1)
    assert crowded == (3220,) + (3540,) * 52


@pytest.mark.parametrize(
    ("count", "limits"),
    [
        pytest.param(54, ENTERPRISE, id="fifty four enterprise series are refused"),
        pytest.param(12, PREMIUM, id="twelve premium series are refused"),
    ],
)
def test_infeasible_input_is_refused_whatever_the_weights(count: int, limits: Limits) -> None:
    equal = plan_budget(Budget.REALTIME, count, limits, 0.1)
    for weights in ([1.0] * count, [0.0] * count, [100.0] + [0.0] * (count - 1)):
        assert allocate(weights, limits, 0.1) is None
        weighted = plan_weighted(Budget.REALTIME, weights, limits, 0.1)
        assert not weighted.feasible
        assert weighted == equal, "the same refusal, with the same message"
    assert equal.problem is not None
    assert equal.problem.startswith(f"budget realtime: {count} series need a poll every")


@pytest.mark.parametrize(
    "limits",
    [ENTERPRISE, PREMIUM, ABUNDANT, _limits(Plan.PREMIUM, per_minute=1, per_day=100_000)],
    ids=["enterprise", "premium", "abundant", "a per minute limit that binds"],
)
def test_random_weights_never_overspend_and_stay_within_the_bounds(limits: Limits) -> None:
    draw = random.Random(15)
    low, high = floor_interval(limits), ceiling_interval(limits)
    for _ in range(200):
        count = draw.randint(1, 12)
        weights = [draw.choice([0.0, 0.5, 1.0, 3.0, 100.0, draw.random()]) for _ in range(count)]
        found = allocate(weights, limits, 0.1)
        if found is None:
            continue
        assert all(low <= one <= high and one % WINDOW_S == 0 for one in found)
        assert sum(DAY / one for one in found) <= 0.9 * limits.per_day * (1 + 1e-9)
        assert sum(MINUTE / one for one in found) <= limits.minute_capacity * (1 + 1e-9)
        order = sorted(range(count), key=lambda i: weights[i])
        ranked = [found[i] for i in order]
        assert ranked == sorted(ranked, reverse=True), "a heavier series is never polled less"


def test_plan_weighted_keeps_the_longest_interval_for_the_gap_free_figures() -> None:
    planned = plan_weighted(Budget.REALTIME, ONE_PRODUCT_TYPE * 2, ENTERPRISE, 0.1)
    assert planned.feasible
    assert planned.interval_s == 3500
    assert planned.shortest_s == 340
    assert planned.replay_lag_s == 3560
    assert planned.requests_per_day == pytest.approx(sum(DAY / one for one in planned.intervals))
    assert planned.requests_per_day <= 0.9 * 1440
