"""APScheduler jobs: one per series, staggered across the planned interval.

At start every stale series is polled once as soon as the per-minute limit
allows, then all series settle into their stagger. Jobs never overlap
(``max_instances=1`` plus a per-series lock shared by retries) and never pile
up (``coalesce``). A poll that was deferred (quota, rate limit) gets a one-off
retry job at the time the poller named.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from exporter.agora.limits import Budget
from exporter.calls.inspector import CallInspector
from exporter.insight.passes import TICK_S, InsightPasses
from exporter.quota.series_poller import PollStatus
from exporter.realtime.poller import Poller, PollResult
from exporter.realtime.series import Series
from exporter.scheduling.planner import PollPlan
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 300


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def catch_up_delay(order: int, per_minute: int) -> float:
    """Delay of the ``order``-th stale series at start: the first minute's
    allowance goes at once, the rest follow as the sliding minute frees."""
    if order < per_minute:
        return order * 0.2
    return 60.0 + (order - per_minute) * 60.0 / per_minute


def first_runs(
    series: Sequence[Series], plan: PollPlan, *, now: float, is_stale: Callable[[Series], bool]
) -> dict[str, float]:
    """When each series first runs: stale ones at once, paced by the per-minute
    limit; fresh ones at their phase in the stagger."""
    runs: dict[str, float] = {}
    stale_seen: dict[str, int] = {}
    for index, one in enumerate(series):
        budget = plan.budgets[one.budget]
        if is_stale(one):
            order = stale_seen.get(one.budget.value, 0)
            stale_seen[one.budget.value] = order + 1
            runs[one.key] = now + catch_up_delay(order, budget.limits.minute_capacity)
        else:
            count = max(1, budget.series)
            runs[one.key] = now + (index % count) * budget.interval_s / count
    return runs


def _insight_job_id(budget: Budget) -> str:
    return f"insight:{budget}"


class PollScheduler:
    """Owns the APScheduler instance and the series jobs."""

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
    ) -> None:
        self._poller = poller
        self._insight = insight
        self._calls = calls
        self._store = store
        self._plan = plan
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._on_round = on_round
        self._pending_first = {one.key for one in plan.series}
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=workers),
                # Insight passes wait out the per-minute limit: never on the real-time workers.
                "insight": ThreadPoolExecutor(max_workers=2),
                # Call Inspector cycles page through bursts at the per-second limit.
                "calls": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    def start(self) -> None:
        self._add_jobs(self._plan)
        self._scheduler.add_job(
            self._prune,
            IntervalTrigger(seconds=PRUNE_EVERY_S, timezone=UTC),
            id="prune",
            name="prune store",
        )
        self._scheduler.start()

    def stop(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def replan(self, plan: PollPlan) -> None:
        """Swap the plan (config reload): cursors and the ledger stay in the store.

        Insight ticks of budgets still in use stay: a pass may be running, and
        its job is the one APScheduler counts instances of.
        """
        if self._insight is not None:
            self._insight.set_plan(plan)
        ticking = set() if self._insight is None else set(self._insight.budgets)
        kept = {"prune", *(_insight_job_id(budget) for budget in ticking)}
        for job in self._scheduler.get_jobs():
            if job.id not in kept:
                job.remove()
        self._plan = plan
        self._add_jobs(plan)

    def _is_stale(self, series: Series) -> bool:
        cursor = self._store.cursor(series.key)
        budget = self._plan.budgets[series.budget]
        if cursor is None:
            return True
        return cursor < self._clock() - budget.interval_s - budget.limits.delay_s

    def _add_jobs(self, plan: PollPlan) -> None:
        now = self._clock()
        runs = first_runs(plan.series, plan, now=now, is_stale=self._is_stale)
        for one in plan.series:
            self._locks.setdefault(one.key, threading.Lock())
            interval = plan.budgets[one.budget].interval_s
            first = runs[one.key]
            # The first run is its own job: an interval trigger whose start has
            # just passed would silently wait a whole interval.
            self._scheduler.add_job(
                self._run,
                DateTrigger(run_date=_at(first), timezone=UTC),
                args=[one],
                id=f"{one.key}#first",
                name=f"first poll {one.describe()}",
                misfire_grace_time=None,
                replace_existing=True,
            )
            self._scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=interval, start_date=_at(first + interval), timezone=UTC),
                args=[one],
                id=one.key,
                name=one.describe(),
                misfire_grace_time=max(1, interval // 2),
                replace_existing=True,
            )
        self._add_insight_jobs(plan, now)
        self._add_call_jobs(plan, now)

    def _add_call_jobs(self, plan: PollPlan, now: float) -> None:
        """One Call Inspector cycle at once, then one every planned interval."""
        if self._calls is None:
            return
        self._calls.set_plan(plan.calls)
        if not plan.calls.targets:
            return
        self._scheduler.add_job(
            self._calls.run_cycle,
            IntervalTrigger(seconds=plan.calls.interval_s, timezone=UTC),
            id="calls",
            name="Call Inspector cycle",
            next_run_time=_at(now),
            misfire_grace_time=None,
            executor="calls",
            replace_existing=True,
        )

    def _add_insight_jobs(self, plan: PollPlan, now: float) -> None:
        """One tick per insight budget: runs its pass whenever one is due."""
        if self._insight is None:
            return
        self._insight.set_plan(plan)
        for budget in self._insight.budgets:
            found = self._scheduler.get_job(_insight_job_id(budget))
            if found is not None:
                if not self._insight.running(budget):  # series new to the plan: fetch them now
                    found.modify(next_run_time=_at(now))
                continue
            self._scheduler.add_job(
                self._insight.tick,
                IntervalTrigger(seconds=TICK_S, timezone=UTC),
                args=[budget],
                id=_insight_job_id(budget),
                name=f"insight passes on {budget}",
                next_run_time=_at(now),
                misfire_grace_time=None,
                executor="insight",
                replace_existing=True,
            )

    def _run(self, series: Series) -> None:
        lock = self._locks[series.key]
        if not lock.acquire(blocking=False):
            return
        try:
            result = self._poller.poll(series)
        finally:
            lock.release()
        self._after(series, result)

    def _after(self, series: Series, result: PollResult) -> None:
        if result.status is not PollStatus.DEFERRED and series.key in self._pending_first:
            self._pending_first.discard(series.key)
            if not self._pending_first and self._on_round is not None:
                self._on_round()
        if (
            result.status in (PollStatus.DEFERRED, PollStatus.FAILED)
            and result.retry_at is not None
        ):
            when = max(result.retry_at, self._clock() + 1.0)
            self._scheduler.add_job(
                self._run,
                DateTrigger(run_date=_at(when), timezone=UTC),
                args=[series],
                id=f"{series.key}#retry",
                name=f"retry {series.describe()}",
                replace_existing=True,
                misfire_grace_time=None,
            )

    def _prune(self) -> None:
        try:
            self._store.prune(self._clock())
        except Exception:  # pruning must never stop the schedule
            log.exception("pruning the store failed")

    def jobs(self) -> list[dict[str, Any]]:
        """Next run per job, for the status page."""
        return [
            {"id": job.id, "name": job.name, "next_run": getattr(job, "next_run_time", None)}
            for job in self._scheduler.get_jobs()
        ]
