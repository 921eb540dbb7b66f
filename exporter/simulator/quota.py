"""Request counting per customer and budget, and the plan limits in force.

Per second and per minute are sliding windows (1 s and 60 s back from now);
per day is the UTC day of the simulator's clock (FACTS: "request counts are
kept per server UTC day"). A refused request is not counted: it never reached
the service. Checks run from the shortest period to the longest, so a client
over both its minute and its day budget hears ``qpm limit error`` first.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import fields, replace

from exporter.agora.limits import DAY, MINUTE, Budget, Limits, Plan, limits_for

PERIODS = ("second", "minute", "day")
QPS_ERROR = "qps limit error"
QPM_ERROR = "qpm limit error"
QPD_ERROR = "qpd limit error"

QuotaOverride = Limits | Mapping[str, int | None]
"""A full :class:`Limits`, or some of its fields to change on the plan's."""


class QuotaCounter:
    """Counts the requests each customer made on each budget; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, Budget], deque[float]] = {}
        self._daily: dict[tuple[str, Budget], tuple[int, int]] = {}

    def try_acquire(self, customer: str, budget: Budget, limits: Limits, now: float) -> str | None:
        """Count one request, or return the refusal message if a limit is reached."""
        key = (customer, budget)
        with self._lock:
            recent = self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - MINUTE:
                recent.popleft()
            last_second = sum(1 for t in recent if now - 1 < t <= now)
            last_minute = sum(1 for t in recent if t <= now)
            if limits.per_second is not None and last_second >= limits.per_second:
                return QPS_ERROR
            if limits.per_minute is not None and last_minute >= limits.per_minute:
                return QPM_ERROR
            day = int(now // DAY)
            counted_day, count = self._daily.get(key, (day, 0))
            count = count if counted_day == day else 0
            if count >= limits.per_day:
                return QPD_ERROR
            recent.append(now)
            self._daily[key] = (day, count + 1)
            return None

    def used(self, budget: Budget, period: str, customer: str | None, now: float) -> int:
        """Requests counted in the current period (all customers when None)."""
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
        with self._lock:
            total = 0
            for (who, counted), stamps in self._recent.items():
                if counted != budget or customer not in (None, who):
                    continue
                if period == "day":
                    day, count = self._daily.get((who, counted), (0, 0))
                    total += count if day == int(now // DAY) else 0
                else:
                    span = 1 if period == "second" else MINUTE
                    total += sum(1 for t in stamps if now - span < t <= now)
            return total


class LimitTable:
    """The limits in force per budget: the plan's, with overrides; thread-safe."""

    def __init__(self, plan: Plan, overrides: Mapping[Budget | str, QuotaOverride] | None) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._limits = {budget: limits_for(plan, budget) for budget in Budget}
        for budget, override in (overrides or {}).items():
            self.override(Budget(budget), override)

    def get(self, budget: Budget) -> Limits | None:
        """The budget's limits, None when the plan has no access to it."""
        with self._lock:
            return self._limits[budget]

    def override(self, budget: Budget, override: QuotaOverride) -> Limits:
        """Replace a budget's limits, or some of their fields."""
        with self._lock:
            if isinstance(override, Limits):
                self._limits[budget] = override
                return override
            current = self._limits[budget]
            if current is None:
                raise ValueError(
                    f"plan {self.plan} has no access to {budget}; override it with a full Limits"
                )
            known = {f.name for f in fields(Limits)}
            unknown = set(override) - known
            if unknown:
                raise ValueError(f"unknown limit fields {sorted(unknown)}; known: {sorted(known)}")
            changed = replace(current, **{k: v for k, v in override.items() if v is not None})
            self._limits[budget] = changed
            return changed
