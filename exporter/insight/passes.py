"""When each insight budget's pass runs, and running it.

The scheduler calls :meth:`InsightPasses.tick` for each insight budget every
minute; a tick runs a pass only when one is due (see
:mod:`exporter.insight.schedule`): the first at once, then at least the
planned interval apart, on a grid that puts one pass just after the next
day's expected publication. When a pass finds an expected day missing, the
late series alone are asked again every hour until the next pass (for up to
12 hours), as long as the ledger's last 24 h leave room for them under the
daily limit: that is what the headroom is for. The ledger guards every
request anyway, so no timing here can overspend a budget.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

from exporter.agora.limits import DAY, Budget
from exporter.insight.plan import INSIGHT_BUDGETS, passes_per_day
from exporter.insight.poller import InsightPoller, PassResult
from exporter.insight.schedule import is_late, next_pass_at, retry_at
from exporter.insight.series import InsightSeries
from exporter.insight.view import InsightBudgetState, InsightState, newest_points
from exporter.quota.rules import BudgetPlan
from exporter.quota.series_poller import PollStatus
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock

log = logging.getLogger(__name__)

TICK_S = 60
"""How often the scheduler asks whether a pass is due."""


class InsightPlan(Protocol):
    """What the passes read of a poll plan (``exporter.scheduling.planner.PollPlan``)."""

    @property
    def insight(self) -> Sequence[InsightSeries]: ...

    @property
    def budgets(self) -> Mapping[Budget, BudgetPlan]: ...


class InsightPasses:
    """Decides and runs the passes of the insight budgets; thread-safe."""

    def __init__(
        self, *, poller: InsightPoller, store: Store, plan: InsightPlan, clock: Clock = system_clock
    ) -> None:
        self._poller = poller
        self._store = store
        self._clock = clock
        self._locks = {budget: threading.Lock() for budget in INSIGHT_BUDGETS}
        self._state_lock = threading.Lock()
        self._last_pass: dict[Budget, float | None] = {}
        self._last_attempt: dict[Budget, float] = {}
        self._blocked_until: dict[Budget, float] = {}
        self._pending: dict[Budget, list[InsightSeries]] = {}
        self._series: tuple[InsightSeries, ...] = ()
        self._budgets: dict[Budget, BudgetPlan] = {}
        self.set_plan(plan)

    def set_plan(self, plan: InsightPlan) -> None:
        """Adopt a (re)loaded plan; pass times and the ledger carry over.

        Series new to this plan with nothing stored are fetched at the next
        tick rather than at the next pass (an added app, ``hourly_quality``).
        """
        with self._state_lock:
            known = {one.key for one in self._series}
            for one in plan.insight:
                if one.key not in known and self._newest(one) is None:
                    self._pending.setdefault(one.budget, []).append(one)
            self._series = tuple(plan.insight)
            self._budgets = {
                budget: plan.budgets[budget]
                for budget in INSIGHT_BUDGETS
                if budget in plan.budgets and plan.budgets[budget].series > 0
            }
        self._poller.set_limits({b: bp.limits for b, bp in plan.budgets.items()})

    def clear_pauses(self) -> None:
        """Forget apps paused for credentials or plan (after a reload changed them)."""
        self._poller.clear_pauses()

    @property
    def budgets(self) -> list[Budget]:
        """The insight budgets with series, the ones the scheduler ticks."""
        return list(self._budgets)

    def series_for(self, budget: Budget) -> list[InsightSeries]:
        return [one for one in self._series if one.budget is budget]

    def running(self, budget: Budget) -> bool:
        """Whether the budget's pass is running now."""
        return self._locks[budget].locked()

    def tick(self, budget: Budget) -> PassResult | None:
        """Run the budget's pass (or its retry of late days) if due; None when not."""
        lock = self._locks[budget]
        if not lock.acquire(blocking=False):
            return None
        try:
            now = self._clock()
            due = self._due(budget, now)
            if due is None:
                return None
            regular, series = due
            with self._state_lock:
                if regular:
                    self._last_pass[budget] = now
                self._last_attempt[budget] = now
            kind = "pass" if regular else "retry"
            log.info(
                "insight pass starts",
                extra={"budget": budget, "kind": kind, "requests": len(series)},
            )
            result = self._poller.run_pass(series)
            if result.retry_at is not None:
                # The quota cut the pass short: the rest follows when it frees.
                deferred = [
                    one
                    for one in series
                    if one.key not in result.results
                    or result.results[one.key].status is PollStatus.DEFERRED
                ]
                with self._state_lock:
                    self._blocked_until[budget] = result.retry_at
                    self._pending[budget] = deferred
            return result
        finally:
            lock.release()

    def _due(self, budget: Budget, now: float) -> tuple[bool, list[InsightSeries]] | None:
        """(regular?, series to poll) when something is due now."""
        budget_plan = self._budgets.get(budget)
        series = self.series_for(budget)
        if budget_plan is None or not series or now < self._blocked_until.get(budget, 0.0):
            return None
        regular_at = self._next_regular(budget, budget_plan, series, now)
        with self._state_lock:
            wanted = {one.key for one in series}
            pending = [one for one in self._pending.pop(budget, []) if one.key in wanted]
        if regular_at is None or regular_at <= now:
            return True, series  # a pass covers what was pending too
        if pending:
            return False, pending
        delay = budget_plan.limits.delay_s
        late = [one for one in series if one.daily and is_late(self._newest(one), delay, now)]
        last_attempt = self._last_attempt.get(budget, self._last_pass.get(budget))
        again = retry_at(last_attempt_at=last_attempt, next_regular=regular_at)
        if not late or again is None or again > now:
            return None
        # Retries may spend the headroom, never more than the daily limit.
        used = self._store.ledger.count(budget.value, now - DAY)
        if used + len(late) > budget_plan.limits.per_day:
            return None
        return False, late

    def _next_regular(
        self, budget: Budget, budget_plan: BudgetPlan, series: list[InsightSeries], now: float
    ) -> float | None:
        with self._state_lock:
            if budget not in self._last_pass:
                # After a restart the ledger tells when this budget last spent.
                sent = self._store.ledger.times(budget.value, now - DAY)
                self._last_pass[budget] = sent[-1] if sent else None
            last = self._last_pass[budget]
        days = [ts for one in series if one.daily and (ts := self._newest(one)) is not None]
        return next_pass_at(
            last_pass_at=last,
            newest_day_ts=max(days, default=None),
            interval_s=budget_plan.interval_s,
            delay_s=budget_plan.limits.delay_s,
        )

    def _newest(self, series: InsightSeries) -> int | None:
        return self._store.insight.newest_ts(series.key)

    def state(self) -> InsightState:
        """What a scrape and the status page show about insight, now."""
        now = self._clock()
        budgets = []
        for budget, budget_plan in self._budgets.items():
            series = self.series_for(budget)
            delay = budget_plan.limits.delay_s
            late = sum(1 for one in series if one.daily and is_late(self._newest(one), delay, now))
            budgets.append(
                InsightBudgetState(
                    budget=budget,
                    cost=budget_plan.series,
                    passes_per_day=passes_per_day(
                        budget_plan.series, budget_plan.limits, budget_plan.headroom
                    ),
                    interval_s=budget_plan.interval_s,
                    last_pass_at=self._last_pass.get(budget),
                    next_pass_at=self._next_regular(budget, budget_plan, series, now) or now,
                    late=late,
                )
            )
        shown = newest_points(self._series, self._store.insight.snapshot())
        return InsightState(series=self._series, shown=shown, budgets=tuple(budgets))
