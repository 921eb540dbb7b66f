"""What the insight families show: the newest published point of each series. Pure.

A day the API has not published is simply not stored, so the series shows
the day before it, with that day's own ``ts``; a series the API has never
answered for is absent, never zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.agora.limits import Budget
from exporter.insight.series import InsightSeries


@dataclass(frozen=True)
class InsightShown:
    """One series' newest published point; ``value`` in the API's unit."""

    series: InsightSeries
    ts: int
    value: float

    @property
    def exposed_value(self) -> float:
        """The value in the family's unit (durations: seconds)."""
        return self.value * self.series.catalog.scale


@dataclass(frozen=True)
class InsightBudgetState:
    """One insight budget's passes, for the status page."""

    budget: Budget
    cost: int
    passes_per_day: int
    interval_s: int
    last_pass_at: float | None
    next_pass_at: float | None
    late: int = 0
    """Daily series whose next day should have been published by now."""


@dataclass(frozen=True)
class InsightState:
    """Everything a scrape and the status page read about insight, taken at once."""

    series: tuple[InsightSeries, ...] = ()
    shown: tuple[InsightShown, ...] = ()
    budgets: tuple[InsightBudgetState, ...] = ()


EMPTY_INSIGHT = InsightState()


def newest_points(
    series: Sequence[InsightSeries], points: Mapping[str, Mapping[int, float]]
) -> tuple[InsightShown, ...]:
    """The newest stored point of each series that has one, in series order."""
    shown = []
    for one in series:
        found = points.get(one.key)
        if found:
            ts = max(found)
            shown.append(InsightShown(one, ts, found[ts]))
    return tuple(shown)
