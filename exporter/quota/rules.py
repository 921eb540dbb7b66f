"""Pure quota arithmetic: the request ledger's rules and the poll planner.

The quota, not the CPU, is what limits this exporter. The planner turns a
budget's limits and the number of series drawing on it into one poll interval
that spends the day's budget less the headroom; the ledger rules decide when
the next request may leave without breaking any period's limit.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from exporter.agora.limits import DAY, MINUTE, Budget, Limits, Plan, limits_for, plans_with_access
from exporter.timing.windows import WINDOW_S


@dataclass(frozen=True)
class QuotaOverride:
    """Limits the user sets in ``agora.quota.<budget>``, replacing the plan's."""

    per_second: int | None = None
    per_minute: int | None = None
    per_day: int | None = None


def apply_override(limits: Limits, override: QuotaOverride | None) -> Limits:
    if override is None:
        return limits
    return replace(
        limits,
        per_second=override.per_second if override.per_second is not None else limits.per_second,
        per_minute=override.per_minute if override.per_minute is not None else limits.per_minute,
        per_day=override.per_day if override.per_day is not None else limits.per_day,
    )


def periods(limits: Limits) -> list[tuple[str, int, int]]:
    """Each limited period as (name, length in seconds, requests allowed)."""
    found = [("second", 1, limits.per_second), ("minute", MINUTE, limits.per_minute)]
    found.append(("day", DAY, limits.per_day))
    return [(name, length, cap) for name, length, cap in found if cap is not None]


def used_since(sent: Sequence[float], since: float) -> int:
    """Requests in ``sent`` (sorted ascending) strictly after ``since``."""
    return len(sent) - bisect.bisect_right(sent, since)


def next_free_slot(sent: Sequence[float], now: float, limits: Limits) -> float:
    """The earliest time at or after ``now`` when one more request fits every period.

    ``sent`` holds the send times of earlier requests, sorted ascending. A
    period of length L with cap C is full while C requests lie in (t - L, t];
    it frees when the oldest of the newest C leaves the window.
    """
    earliest = now
    for _, length, cap in periods(limits):
        if cap <= 0:
            return math.inf
        if used_since(sent, now - length) >= cap:
            earliest = max(earliest, sent[-cap] + length)
    return earliest


@dataclass(frozen=True)
class BudgetPlan:
    """How one budget is spent: poll interval, cost and feasibility."""

    budget: Budget
    series: int
    limits: Limits
    headroom: float
    interval_s: int
    feasible: bool
    max_series: int
    problem: str | None = None
    intervals: tuple[int, ...] = ()
    """Each series' own interval when they differ (weights); empty: all ``interval_s``.
    ``interval_s`` is then the longest of them, the one gap-freeness is judged on."""

    @property
    def requests_per_day(self) -> float:
        if self.intervals:
            # exact: 7 series every 420 s are 1,440 a day, not 1,440.0000000000002
            return float(sum(Fraction(DAY, interval) for interval in self.intervals))
        return 0.0 if self.interval_s == 0 else self.series * DAY / self.interval_s

    @property
    def shortest_s(self) -> int:
        """The shortest interval of any series of the budget (0: no series)."""
        return min(self.intervals, default=self.interval_s)

    @property
    def freshness_s(self) -> int:
        """Worst-case age of the newest window's start, right before a poll."""
        return replay_lag(self.interval_s, self.limits)

    @property
    def replay_lag_s(self) -> int:
        """How far behind real time the replay view shows the slowest series' windows."""
        return replay_lag(self.interval_s, self.limits)


def replay_lag(interval_s: int, limits: Limits) -> int:
    """How far behind real time the replay view shows a series polled every ``interval_s``.

    ``interval + delay + one window`` is when a window is certain to have
    been fetched if every poll were instant and on time; one more window of
    margin covers the poll's own duration and a short wait for the ledger,
    so a replayed series never blinks out just before its next poll.
    """
    return interval_s + limits.delay_s + 2 * WINDOW_S


def round_up_to_window(seconds: float) -> int:
    return math.ceil(seconds / WINDOW_S - 1e-9) * WINDOW_S


def budget_interval(series: int, limits: Limits, headroom: float) -> int:
    """The gap-free interval that spends the day's budget less headroom.

    ``series * 86400 / ((1 - headroom) * per_day)``, rounded up to a whole
    window, never shorter than the per-minute (or per-second) limit allows.
    """
    if series <= 0:
        return 0
    by_day = series * DAY / ((1.0 - headroom) * limits.per_day)
    by_minute = series * MINUTE / limits.minute_capacity
    return round_up_to_window(max(by_day, by_minute, WINDOW_S))


def is_gap_free(interval_s: int, limits: Limits) -> bool:
    """True when every window can be fetched before it leaves the horizon.

    A poll reaches back to the previous one's end, ``interval + delay`` earlier;
    aligning the end strictly before ``now - delay`` and the start strictly
    after ``now - horizon`` costs up to one window at each end. The API must
    still hold that reach and accept it in one query.
    """
    reach = interval_s + limits.delay_s + 2 * WINDOW_S
    return reach <= min(limits.horizon_s, limits.max_span_s)


def max_gap_free_series(limits: Limits, headroom: float) -> int:
    """The most series a budget can cover without gaps."""
    low, high = 0, limits.per_day * 2
    while low < high:
        middle = (low + high + 1) // 2
        if is_gap_free(budget_interval(middle, limits, headroom), limits):
            low = middle
        else:
            high = middle - 1
    return low


def plan_budget(budget: Budget, series: int, limits: Limits, headroom: float) -> BudgetPlan:
    interval = budget_interval(series, limits, headroom)
    most = max_gap_free_series(limits, headroom)
    feasible = series == 0 or is_gap_free(interval, limits)
    problem = None
    if not feasible:
        problem = (
            f"budget {budget}: {series} series need a poll every {interval} s, but data "
            f"leaves the API after {limits.horizon_s} s (delay {limits.delay_s} s); "
            f"drop {series - most} series (at most {most} fit)"
        )
    return BudgetPlan(
        budget=budget,
        series=series,
        limits=limits,
        headroom=headroom,
        interval_s=interval,
        feasible=feasible,
        max_series=most,
        problem=problem,
    )


def plan_that_fits(budget: Budget, series: int, headroom: float) -> Plan | None:
    """The cheapest plan whose stock limits cover ``series`` without gaps."""
    for plan in plans_with_access(budget):
        limits = limits_for(plan, budget)
        if limits is not None and series <= max_gap_free_series(limits, headroom):
            return plan
    return None
