"""What a scrape reads: the state of every stage, taken at once into one ``CollectorInput``.

The composition root hands a :class:`ScrapeSource` the stages' read sides
(the store, the statistics, the insight passes, the call inspector) and the
plan in force; /metrics, the status page (``/`` and ``/status.json``) and
/-/ready all read through it, so they can never disagree. It reads memory only
(the store's snapshot and its ledger cache), never the API. The status pages'
alert latency is worked out from the plan once per plan (it re-plans per
product type), not once per request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from exporter.agora.limits import Budget
from exporter.calls.inspector import CallInspector
from exporter.calls.view import EMPTY_CALLS
from exporter.insight.passes import InsightPasses
from exporter.insight.view import EMPTY_INSIGHT
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.rules import periods
from exporter.realtime.view import Mode
from exporter.scheduling.planner import PollPlan
from exporter.serving.collector import BudgetState, CollectorInput
from exporter.serving.console_view import NO_CONSOLE, ConsoleRunner
from exporter.serving.status_json import json_limit, render_status_json
from exporter.serving.status_latency import PlanLatency, plan_latency
from exporter.serving.status_page import render_status
from exporter.settings import ExpositionSettings
from exporter.store import Store
from exporter.timing.clock import Clock


@dataclass
class ScrapeSource:
    """The read side of the running stages; ``plan`` and ``exposition`` change on reload."""

    store: Store
    stats: RuntimeStats
    clock: Clock
    plan: PollPlan
    exposition: ExpositionSettings
    insight: InsightPasses | None = None
    calls: CallInspector | None = None
    first_round_done: threading.Event = field(default_factory=threading.Event)
    """Set by the scheduler once every series was polled once."""
    console: ConsoleRunner = NO_CONSOLE
    """The Agora Console alert bridge (``exporter.console.ConsoleBridge``)."""
    _latency: tuple[PollPlan, PlanLatency] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """The last plan's alert latency, and that plan (a new plan, by identity, works it out anew)."""

    def collector_input(self) -> CollectorInput:
        now = self.clock()
        snapshot = self.store.snapshot()
        plan = self.plan  # one plan for the whole scrape: a traffic change may swap it
        return CollectorInput(
            now=now,
            series=plan.active,
            budgets=self._budgets(now),
            windows=snapshot,
            windows_missed_total=snapshot.windows_missed_total,
            stats=self.stats.snapshot(),
            mode=Mode(self.exposition.mode),
            timestamps=self.exposition.timestamps,
            insight=self.insight.state() if self.insight is not None else EMPTY_INSIGHT,
            calls=self.calls.state() if self.calls is not None else EMPTY_CALLS,
            console=self.console.state(),
            timing=plan.timing,
            paused=plan.paused_series,
        )

    def _budgets(self, now: float) -> dict[Budget, BudgetState]:
        """Limits, interval, lag and use of every budget the plan polls."""
        budgets: dict[Budget, BudgetState] = {}
        paused = self.plan.paused_by_budget
        for budget, budget_plan in self.plan.budgets.items():
            if budget_plan.series == 0:
                continue
            used = {
                name: self.store.ledger.count(budget.value, now - length)
                for name, length, _ in periods(budget_plan.limits)
            }
            budgets[budget] = BudgetState(
                limits=budget_plan.limits,
                interval_s=budget_plan.interval_s,
                lag_s=budget_plan.replay_lag_s,
                used=used,
                paused=paused.get(budget),
            )
        return budgets

    def adopt_plan(self, plan: PollPlan) -> None:
        """Show ``plan`` from the next scrape on (the scheduler paused or resumed series)."""
        self.plan = plan

    def alert_latency(self) -> PlanLatency:
        """Each shipped alert's latency under the plan in force, worked out once per plan."""
        plan, cached = self.plan, self._latency
        if cached is None or cached[0] is not plan:
            # Two requests racing a new plan both work it out: the same answer, no lock.
            cached = (plan, plan_latency(plan))
            self._latency = cached
        return cached[1]

    def is_ready(self) -> bool:
        """Ready once the store has data or the first poll round has finished."""
        return self.first_round_done.is_set() or len(self.store.snapshot()) > 0

    def status_page(self) -> str:
        return render_status(
            self.collector_input(),
            plan_name=self.plan.tier.value,
            ready=self.is_ready(),
            latency=self.alert_latency(),
        )

    def status_json(self, query: str = "") -> tuple[int, bytes, dict[str, str]]:
        """``/status.json?{query}``: HTTP status, JSON body, headers (400: a bad ``limit``)."""
        headers = {"Content-Type": "application/json"}
        try:
            limit = json_limit(query)
        except ValueError as error:
            return 400, json.dumps({"error": str(error)}).encode(), headers
        text = render_status_json(
            self.collector_input(),
            plan_name=self.plan.tier.value,
            ready=self.is_ready(),
            limit=limit,
            latency=self.alert_latency(),
        )
        return 200, text.encode(), headers
