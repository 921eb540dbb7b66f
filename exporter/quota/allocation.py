"""Splitting one budget between series of different weight: pure arithmetic.

A series polled every ``T`` seconds costs ``86400 / T`` requests a day, and
the window a replayed series shows is about ``T`` (plus the API's delay) old.
Given weights ``w_i``, the planner minimises the weighted staleness
``sum(w_i * T_i)`` subject to the budget (``sum(86400 / T_i) <= (1 - headroom)
* per_day``, and the per-minute limit likewise). The optimum is ``T_i = c /
sqrt(w_i)``, each clamped to ``[floor, ceiling]``:

* the **floor** is the shortest useful interval: one window, and never more
  often than the per-minute limit allows one series;
* the **ceiling** is the longest gap-free one: ``interval + delay + 2
  windows`` within the API's horizon (and its longest query).

``c`` is found by water-filling: series clamped at a bound hand their share to
the others. Each interval is then rounded up to a whole 20 s window, which
only ever spends less.

Weight 0 means "only what is left": such a series sits at the ceiling unless
every weighted series already reaches the floor, and then the quota left is
split equally among the weight-0 series. Series at the ceiling settle two
windows inside it when what rounding left pays for that, so that a fresh
start shows their replayed windows at once. So equal weights (all 1, or all 0)
give every series exactly the interval :func:`~exporter.quota.rules.budget_interval`
gives, today's plan. A *pinned* series is held at the ceiling whatever its
weight (a product type without users keeps one cheap usage series there).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from exporter.agora.limits import DAY, MINUTE, Budget, Limits
from exporter.quota.rules import (
    BudgetPlan,
    budget_interval,
    is_gap_free,
    plan_budget,
    round_up_to_window,
)
from exporter.timing.windows import WINDOW_S, floor_window

SETTLE_S = 2 * WINDOW_S
"""How far inside the ceiling a series that weighs nothing settles when the quota allows."""


def floor_interval(limits: Limits) -> int:
    """The shortest interval worth planning: one window, within the per-minute limit."""
    return round_up_to_window(max(WINDOW_S, MINUTE / limits.minute_capacity))


def ceiling_interval(limits: Limits) -> int:
    """The longest gap-free interval: ``interval + delay + 2 windows`` within the horizon."""
    reach = min(limits.horizon_s, limits.max_span_s)
    return floor_window(reach - limits.delay_s - 2 * WINDOW_S)


@dataclass(frozen=True)
class _Spend:
    """What a budget may spend: requests per day (less headroom) and per minute."""

    per_day: float
    per_minute: int

    @property
    def rate(self) -> float:
        """Requests per second the tighter of the two allows."""
        return min(self.per_day / DAY, self.per_minute / MINUTE)

    def scale(self, shares: float, fixed_rate: float) -> float:
        """The ``c`` at which series of summed ``shares`` spend what ``fixed_rate`` leaves.

        Written per period (``shares * 86400 / (per_day - fixed * 86400)``) so
        that equal weights reproduce :func:`budget_interval` to the last bit.
        """
        by_day = shares * DAY / (self.per_day - fixed_rate * DAY)
        by_minute = shares * MINUTE / (self.per_minute - fixed_rate * MINUTE)
        return max(by_day, by_minute)


def _fill(
    shares: Mapping[int, float], fixed_rate: float, low: int, high: int, spend: _Spend
) -> dict[int, float]:
    """``T_i = clamp(c / s_i, low, high)`` with ``c`` spending what ``fixed_rate`` leaves.

    The spend ``g(c) = sum(1 / T_i)`` falls as ``c`` grows; between two
    clamping points it is ``A + B / c``. Walk the clamping points in order
    until ``g`` falls to the rate allowed, then solve that segment exactly.
    """
    events = sorted(
        [(low * share, 0, index) for index, share in shares.items()]
        + [(high * share, 1, index) for index, share in shares.items()]
    )
    at_low, at_high, free = set(shares), set[int](), set[int]()
    for point, kind, index in events:
        clamped = fixed_rate + len(at_low) / low + len(at_high) / high
        free_shares = sum(shares[one] for one in free)
        if clamped + free_shares / point <= spend.rate:
            break
        if kind == 0:
            at_low.discard(index)
            free.add(index)
        else:
            free.discard(index)
            at_high.add(index)
    clamped = fixed_rate + len(at_low) / low + len(at_high) / high
    free_shares = sum(shares[one] for one in free)
    scale = spend.scale(free_shares, clamped) if free else 0.0
    found: dict[int, float] = {}
    for index, share in shares.items():
        wanted = low if index in at_low else high if index in at_high else scale / share
        found[index] = min(max(wanted, low), high)
    return found


def allocate(
    weights: Sequence[float], limits: Limits, headroom: float, *, pinned: Collection[int] = ()
) -> tuple[int, ...] | None:
    """Each series' interval, in the order of ``weights``; None when they cannot be gap-free.

    Feasibility does not depend on the weights: every series at the ceiling
    must fit, which is :func:`budget_interval`'s test (the same refusal as
    before weights existed).
    """
    count = len(weights)
    if count == 0:
        return ()
    if not is_gap_free(budget_interval(count, limits, headroom), limits):
        return None
    low, high = floor_interval(limits), ceiling_interval(limits)
    spend = _Spend((1.0 - headroom) * limits.per_day, limits.minute_capacity)
    held = set(pinned)
    weighted = [i for i, weight in enumerate(weights) if weight > 0 and i not in held]
    rest = [i for i in range(count) if i not in held and i not in weighted]
    intervals = dict.fromkeys(range(count), float(high))
    if weighted:
        top = max(weights[i] for i in weighted)
        shares = {i: math.sqrt(weights[i] / top) for i in weighted}
        intervals.update(_fill(shares, (count - len(weighted)) / high, low, high, spend))
    if rest and all(intervals[i] <= low for i in weighted):
        fixed = len(weighted) / low + len(held) / high
        intervals.update(_fill(dict.fromkeys(rest, 1.0), fixed, low, high, spend))
    return _settled(tuple(round_up_to_window(intervals[i]) for i in range(count)), high, spend)


def _settled(intervals: tuple[int, ...], high: int, spend: _Spend) -> tuple[int, ...]:
    """Bring the series near the ceiling :data:`SETTLE_S` inside it, if what rounding left
    pays for all of them.

    At the ceiling a series' replay lag is the whole horizon, older than the
    first poll of a fresh start can fetch (it stays a window inside the edge):
    it would show nothing for its first half minute. Equal weights never settle
    (it would overspend), and a heavier series never polls less often.
    """
    nearer = tuple(min(one, high - SETTLE_S) for one in intervals)
    by_day = sum(DAY / one for one in nearer)
    by_minute = sum(MINUTE / one for one in nearer)
    if nearer == intervals or by_day > spend.per_day or by_minute > spend.per_minute:
        return intervals
    return nearer


def plan_weighted(
    budget: Budget,
    weights: Sequence[float],
    limits: Limits,
    headroom: float,
    *,
    pinned: Collection[int] = (),
) -> BudgetPlan:
    """:func:`plan_budget` for series of these weights: ``intervals`` in their order.

    An infeasible budget keeps :func:`plan_budget`'s equal interval and its message.
    """
    planned = plan_budget(budget, len(weights), limits, headroom)
    intervals = allocate(weights, limits, headroom, pinned=pinned) if planned.feasible else None
    if not intervals:
        return planned
    return replace(planned, interval_s=max(intervals), intervals=intervals)
