"""Running the plan: one timer per budget over a queue of due series, and a pool of workers.

Each real-time series has a *slot*, its next regular poll, moved on by its own
interval after each (:func:`next_slot`: overrun slots coalesce, polls never
pile up); a put-off poll is retried at the time it named, before the slot. A
series is never queued while it is polled. First polls (at start, or for a
series whose interval a new plan changed) are due when the series' cursor
says, so a restart keeps the stagger; series never fetched or overdue are caught up
at once, paced by the per-minute limit (:func:`first_runs`), their slots spread
over their interval (:func:`regular_slots`). A reload keeps every other slot.

Gates (``userCount`` series) feed a :class:`TrafficWatch`: a group turning idle or busy
re-plans at once (``on_plan``). Insight, calls and pruning run in :mod:`.periodic`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from exporter.agora.limits import Budget
from exporter.calls.inspector import CallInspector
from exporter.insight.passes import InsightPasses
from exporter.quota.series_poller import PollStatus
from exporter.realtime.poller import Poller, PollResult
from exporter.realtime.series import Series
from exporter.scheduling.periodic import PRUNE_EVERY_S, PeriodicJobs
from exporter.scheduling.planner import PollPlan
from exporter.scheduling.priorities import in_group
from exporter.scheduling.queue import DueQueue, first_runs, next_due, next_slot, regular_slots
from exporter.scheduling.timer import BudgetTimer
from exporter.scheduling.traffic import TrafficWatch
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock

__all__ = ["PRUNE_EVERY_S", "PollScheduler"]

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1.0  # the earliest a put-off poll is retried


def _quiet_s(plan: PollPlan) -> int:
    """How long a gate must read no users before its group pauses: its budget's horizon."""
    return plan.budgets[Budget.REALTIME].limits.horizon_s if Budget.REALTIME in plan.budgets else 0


class PollScheduler:
    """Polls the plan's series on time; thread-safe."""

    def __init__(
        self,
        *,
        poller: Poller,
        store: Store,
        plan: PollPlan,
        clock: Clock = system_clock,
        workers: int = 4,
        on_round: Callable[[], None] | None = None,
        insight: InsightPasses | None = None,
        calls: CallInspector | None = None,
        on_plan: Callable[[PollPlan], None] | None = None,
    ) -> None:
        self._poller = poller
        self._store = store
        self._plan = plan
        self._clock = clock
        self._workers = workers
        self._on_round = on_round
        self._on_plan = on_plan
        self._pending_first = {one.key for one in plan.active}
        self._condition = threading.Condition()
        self._publishing = threading.Lock()
        self._queues: dict[Budget, DueQueue] = {}
        self._timers: dict[Budget, BudgetTimer] = {}
        self._slots: dict[str, float] = {}
        self._running: dict[str, float] = {}  # key -> the due time its poll serves
        self._traffic = TrafficWatch(_quiet_s(plan))
        self._pool: ThreadPoolExecutor | None = None
        self._armed = False
        self._periodic = PeriodicJobs(store=store, clock=clock, insight=insight, calls=calls)

    @property
    def plan(self) -> PollPlan:
        """The plan in force: the configured one with idle groups paused."""
        with self._condition:
            return self._plan

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="poll")
        with self._condition:
            self.arm()
            for budget in self._queues:
                self._timer(budget)
        self._periodic.start(self.plan)

    def arm(self) -> None:
        """Queue every series' first poll (``start`` does; tests step with :meth:`run_due`)."""
        with self._condition:
            if not self._armed:
                self._armed = True
                self._queue_changes(self._plan, None)

    def stop(self, wait: bool = True) -> None:
        for timer in list(self._timers.values()):
            timer.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
        self._periodic.stop(wait=wait)

    def replan(self, plan: PollPlan) -> PollPlan:
        """Adopt a reloaded plan (cursors and the ledger stay in the store); the idle
        groups stay paused. Returns the plan in force."""
        with self._condition:
            self._traffic.quiet_s = _quiet_s(plan)
            self._traffic.keep(set(plan.gates.values()))
            self._armed = True  # before start too: start then finds every series queued
            self._switch(plan.with_idle(self._traffic.idle()))
        self._periodic.adopt(plan)
        return self._publish(announce=False)

    def run_due(self) -> int:
        """Poll every series due now, one after another in this thread (tests)."""
        self.arm()
        with self._condition:
            now = self._clock()
            due = [item for queue in self._queues.values() for item in queue.pop_due(now)]
            self._running.update(due)
        for key, when in due:
            self._run(key, when)
        return len(due)

    # --- the queue ------------------------------------------------------------

    def _queue(self, budget: Budget) -> DueQueue:
        found = self._queues.get(budget)
        if found is None:
            found = self._queues[budget] = DueQueue()
            if self._pool is not None:
                self._timer(budget)
        return found

    def _timer(self, budget: Budget) -> None:
        if budget in self._timers:
            return
        queue, condition = self._queues[budget], self._condition
        timer = BudgetTimer(
            budget.value, queue, condition=condition, dispatch=self._dispatch, clock=self._clock
        )
        self._timers[budget] = timer
        timer.start()

    def _set_due(self, series: Series, when: float) -> None:
        self._queue(series.budget).set(series.key, when)
        self._condition.notify_all()

    def _cursor_due(self, series: Series) -> float | None:
        """When the series' next poll is due by its cursor: its last poll plus its interval."""
        cursor = self._store.cursor(series.key)
        if cursor is None:
            return None
        limits = self._plan.budgets[series.budget].limits
        return cursor + limits.delay_s + self._plan.timing_of(series).interval_s

    def _queue_changes(self, plan: PollPlan, previous: PollPlan | None) -> None:
        """Queue the first poll of every series new to ``plan`` or with a new interval;
        drop the series it no longer polls. Holding the condition."""
        active = {one.key for one in plan.active}
        for queue in self._queues.values():
            for key, _ in queue.items():
                if key not in active:
                    queue.remove(key)
        self._slots = {key: slot for key, slot in self._slots.items() if key in active}
        resumed = set() if previous is None else previous.paused - plan.paused
        changed = [one for one in plan.active if self._needs_first_run(one, plan, previous)]
        # a resumed series goes at once; the others when their cursor says (overdue: at once)
        now, due = self._clock(), self._cursor_due
        runs = first_runs(changed, plan, now=now, is_stale=lambda one: one.key in resumed, due=due)
        slots = regular_slots(changed, plan, runs, now=now, caught_up=resumed.__contains__, due=due)
        for one in changed:
            self._slots[one.key] = slots[one.key]
            if one.key not in self._running:
                self._set_due(one, runs[one.key])
        self._pending_first &= active
        self._maybe_round_done()

    def _needs_first_run(self, series: Series, plan: PollPlan, previous: PollPlan | None) -> bool:
        if previous is None or series.key not in self._slots:
            return True
        before = previous.timing.get(series.key)
        return before is None or before.interval_s != plan.timing_of(series).interval_s

    def _switch(self, plan: PollPlan) -> None:
        """Make ``plan`` the plan in force (holding the condition)."""
        previous, self._plan = self._plan, plan
        if self._armed:
            self._queue_changes(plan, previous)

    def _publish(self, *, announce: bool = True) -> PollPlan:
        """Hand the plan in force to memory and /metrics (not holding the condition)."""
        with self._publishing:
            plan = self.plan
            self._store.keep_in_memory(plan.memory_s)
            if announce and self._on_plan is not None:
                self._on_plan(plan)
            return plan

    # --- one poll -------------------------------------------------------------

    def _dispatch(self, key: str, when: float) -> None:
        """Hand a due series to the workers (the timer calls this holding the condition)."""
        self._running[key] = when
        try:
            assert self._pool is not None, "timers run only once started"
            self._pool.submit(self._run, key, when)
        except RuntimeError:  # shutting down
            self._running.pop(key, None)

    def _run(self, key: str, served: float) -> None:
        series = self.plan.active_series(key)
        result = None if series is None else self._poller.poll(series)
        try:
            self._after(key, series, served, result)
        except Exception:  # the schedule must survive anything a poll leaves behind
            log.exception("scheduling the next poll failed", extra={"series": key})

    def _after(
        self, key: str, series: Series | None, served: float, result: PollResult | None
    ) -> None:
        with self._condition:
            self._running.pop(key, None)
            if series is None or result is None:
                return
            if result.status is not PollStatus.DEFERRED:
                self._pending_first.discard(key)
                self._maybe_round_done()
            changed, skips = self._watch(series, result)
            self._requeue(series, served, result)
        for one, until in skips:
            self._poller.skip_quiet(one, until)
        if changed:
            self._publish()

    def _requeue(self, series: Series, served: float, result: PollResult) -> None:
        if series.key not in self._plan.timing or series.key in self._queue(series.budget):
            return  # paused or dropped meanwhile, or a new plan queued it already
        now = self._clock()
        interval = self._plan.timing_of(series).interval_s
        slot = next_slot(self._slots.get(series.key, served), served, interval, now)
        self._slots[series.key] = slot
        retry = result.status in (PollStatus.DEFERRED, PollStatus.FAILED)
        retry_at = result.retry_at if retry else None
        self._set_due(series, next_due(slot, retry_at, now, earliest_s=RETRY_AFTER_S))

    def _maybe_round_done(self) -> None:
        if not self._pending_first and self._on_round is not None:
            on_round, self._on_round = self._on_round, None
            on_round()

    # --- traffic ----------------------------------------------------------------

    def _watch(self, series: Series, result: PollResult) -> tuple[bool, list[tuple[Series, int]]]:
        """Feed a gate's answer to the traffic watch, switching plans on a change. Returns
        whether it switched, and the paused (or just resumed) series of its group with up
        to when it had no users: their cursors move there, nothing before is missed."""
        frame, group = result.frame, self._plan.gates.get(series.key)
        if group is None or result.status is not PollStatus.FETCHED or frame is None:
            return False, []
        was_paused = [one for one in self._plan.paused_series if in_group(one, group)]
        switched = False
        if self._traffic.observe(group, frame.start, frame.end, result.busy_ts):
            plan = self._plan.with_idle(self._traffic.idle())
            switched = plan is not self._plan
            idle = self._traffic.is_idle(group)
            log.info("traffic changed; replanned", extra={"group": group.describe(), "idle": idle})
            self._switch(plan)
        until = self._traffic.quiet_until(group)
        if until is None:  # busy: the series it resumes had no users before its first window
            until, quiet = result.first_busy_ts, was_paused
        else:
            quiet = [one for one in self._plan.paused_series if in_group(one, group)]
        return switched, [] if until is None else [(one, until) for one in quiet]

    # --- status -------------------------------------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        """Next run per series (None: polling now) and per periodic job."""
        with self._condition:
            due: list[tuple[str, float | None]] = [(key, None) for key in self._running]
            due += [item for queue in self._queues.values() for item in queue.items()]
        found = [
            {"id": key, "next_run": None if at is None else datetime.fromtimestamp(at, tz=UTC)}
            for key, at in due
        ]
        return found + self._periodic.jobs()
