"""APScheduler jobs for what is not a real-time series: insight passes, call cycles, pruning.

One tick per insight budget (it runs a pass whenever one is due), one Call
Inspector cycle every planned interval, and the store's pruning. A reload keeps
every job's next run time unless its plan changed: a reload spends nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from exporter.agora.limits import Budget
from exporter.calls.inspector import CallInspector
from exporter.calls.plan import CallPlan
from exporter.insight.passes import TICK_S, InsightPasses
from exporter.scheduling.planner import PollPlan
from exporter.store import Store
from exporter.timing.clock import Clock

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 300
CALLS_JOB = "calls"


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def insight_job_id(budget: Budget) -> str:
    return f"insight:{budget}"


class PeriodicJobs:
    """The APScheduler instance and its jobs."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        insight: InsightPasses | None = None,
        calls: CallInspector | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._insight = insight
        self._calls = calls
        self._calls_plan: CallPlan | None = None
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=1),
                # Insight passes wait out the per-minute limit: never on the real-time workers.
                "insight": ThreadPoolExecutor(max_workers=2),
                # Call Inspector cycles page through bursts at the per-second limit.
                "calls": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    def start(self, plan: PollPlan) -> None:
        self.adopt(plan)
        self._scheduler.add_job(
            self._prune,
            IntervalTrigger(seconds=PRUNE_EVERY_S, timezone=UTC),
            id="prune",
            name="prune store",
            replace_existing=True,
        )
        self._scheduler.start()

    def stop(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def adopt(self, plan: PollPlan) -> None:
        """Add or keep the jobs of ``plan``; drop insight ticks of budgets it no longer has.

        Insight ticks of budgets still in use stay: a pass may be running, and
        its job is the one APScheduler counts instances of.
        """
        now = self._clock()
        if self._insight is not None:
            self._insight.set_plan(plan)
            ticking = {insight_job_id(budget) for budget in self._insight.budgets}
            for job in self._scheduler.get_jobs():
                if job.id.startswith("insight:") and job.id not in ticking:
                    job.remove()
        self._add_insight_jobs(now)
        self._add_call_job(plan.calls, now)

    def _add_call_job(self, plan: CallPlan, now: float) -> None:
        """One cycle at once, then one every planned interval; a reload keeps the next
        cycle's time unless the interval changed (then at most one new interval away)."""
        if self._calls is None:
            return
        self._calls.set_plan(plan)
        found = self._scheduler.get_job(CALLS_JOB)
        previous, self._calls_plan = self._calls_plan, plan
        if not plan.targets:
            if found is not None:
                found.remove()
            return
        if found is not None and previous is not None and previous.interval_s == plan.interval_s:
            return
        first = now
        kept = None if found is None else getattr(found, "next_run_time", None)
        if kept is not None:
            first = min(kept.timestamp(), now + plan.interval_s)
        self._scheduler.add_job(
            self._calls.run_cycle,
            IntervalTrigger(seconds=plan.interval_s, timezone=UTC),
            id=CALLS_JOB,
            name="Call Inspector cycle",
            next_run_time=_at(first),
            misfire_grace_time=None,
            executor="calls",
            replace_existing=True,
        )

    def _add_insight_jobs(self, now: float) -> None:
        """One tick per insight budget: runs its pass whenever one is due (a tick that
        finds nothing due sends nothing)."""
        if self._insight is None:
            return
        for budget in self._insight.budgets:
            found = self._scheduler.get_job(insight_job_id(budget))
            if found is not None:
                if not self._insight.running(budget):  # series new to the plan: fetch them now
                    found.modify(next_run_time=_at(now))
                continue
            self._scheduler.add_job(
                self._insight.tick,
                IntervalTrigger(seconds=TICK_S, timezone=UTC),
                args=[budget],
                id=insight_job_id(budget),
                name=f"insight passes on {budget}",
                next_run_time=_at(now),
                misfire_grace_time=None,
                executor="insight",
                replace_existing=True,
            )

    def _prune(self) -> None:
        try:
            self._store.prune(self._clock())
        except Exception:  # pruning must never stop the schedule
            log.exception("pruning the store failed")

    def jobs(self) -> list[dict[str, Any]]:
        """Next run per job, for the status page and tests."""
        return [
            {"id": job.id, "name": job.name, "next_run": getattr(job, "next_run_time", None)}
            for job in self._scheduler.get_jobs()
        ]
