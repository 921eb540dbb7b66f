"""From settings to a poll plan: which series are polled, how often, and whether it fits.

:func:`expand_series` turns the configured apps into series (one API request
shape each), :func:`make_plan` gives every budget its interval from the plan's
limits (with ``agora.quota`` overrides); :mod:`exporter.scheduling.report`
prints it. Nothing here reads credentials: a plan can be printed and logged freely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from exporter.agora.limits import Budget, Limits, Plan, limits_for
from exporter.calls.plan import (
    CALL_BUDGETS,
    EMPTY_CALL_PLAN,
    CallPlan,
    call_problem,
    expand_call_targets,
    plan_calls,
)
from exporter.catalog.realtime import REALTIME_METRICS, Scope
from exporter.insight.plan import (
    INSIGHT_BUDGETS,
    expand_insight_series,
    insight_problem,
    plan_insight_budget,
)
from exporter.insight.series import InsightSeries
from exporter.quota.allocation import plan_weighted
from exporter.quota.rules import (
    BudgetPlan,
    QuotaOverride,
    apply_override,
    plan_budget,
    plan_that_fits,
    replay_lag,
)
from exporter.realtime.series import MAX_UIDS_PER_REQUEST, Series
from exporter.realtime.view import SeriesTiming
from exporter.scheduling.priorities import (
    TrafficGroup,
    paused_and_pinned,
    series_weights,
    traffic_gates,
)
from exporter.settings import QuotaSettings, Settings
from exporter.timing.windows import WINDOW_S


def _uid_chunks(uids: list[int]) -> list[tuple[int, ...]]:
    ordered = sorted(set(uids))
    return [
        tuple(ordered[start : start + MAX_UIDS_PER_REQUEST])
        for start in range(0, len(ordered), MAX_UIDS_PER_REQUEST)
    ]


def expand_series(settings: Settings) -> list[Series]:
    """Every real-time series the settings ask for, in a deterministic order.

    Per app and product type (in config order): the project scope of each
    usage then quality metric; then per channel, the channel scope of each
    metric that has a channel family (``channelCount`` has none), and when the
    channel lists uids, the user scope of each quality metric, one series per
    chunk of at most 10 uids (sorted, duplicates dropped).
    """
    found: list[Series] = []
    for app in settings.apps:
        realtime = app.realtime
        metrics = [*realtime.usage, *realtime.quality]
        for product_type in app.product_types:
            for metric in metrics:
                found.append(Series(app.appid, product_type, metric, Scope.PROJECT))
            for channel in realtime.channels:
                for metric in metrics:
                    if REALTIME_METRICS[metric].family(Scope.CHANNEL) is not None:
                        found.append(
                            Series(app.appid, product_type, metric, Scope.CHANNEL, channel.cname)
                        )
                chunks = _uid_chunks(channel.uids)
                for metric in realtime.quality:
                    if REALTIME_METRICS[metric].family(Scope.USER) is None:
                        continue
                    for chunk in chunks:
                        found.append(
                            Series(
                                app.appid,
                                product_type,
                                metric,
                                Scope.USER,
                                channel.cname,
                                chunk,
                            )
                        )
    return found


def _override(quota: QuotaSettings | None) -> QuotaOverride | None:
    if quota is None:
        return None
    return QuotaOverride(
        per_second=quota.per_second, per_minute=quota.per_minute, per_day=quota.per_day
    )


_PLAN_ORDER = list(Plan)


@dataclass(frozen=True)
class PollPlan:
    """The schedule for one configuration: one :class:`BudgetPlan` per budget, and
    each real-time series' own interval and replay lag."""

    budgets: dict[Budget, BudgetPlan]
    series: list[Series]
    """Every configured real-time series, paused ones included."""
    tier: Plan
    """The pricing tier whose limits the plan was made for."""
    insight: list[InsightSeries] = field(default_factory=list)
    """Data Insights series; their budgets' ``series`` count one pass's requests."""
    calls: CallPlan = EMPTY_CALL_PLAN
    """Call Inspector targets and cycle; the call budgets' ``series`` count one cycle's cost."""
    timing: Mapping[str, SeriesTiming] = field(default_factory=dict)
    """Interval and replay lag of each polled series, by key (paused ones have none)."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Each series' weight, by key (``realtime.weights`` x ``realtime.scope_weights``)."""
    gates: Mapping[str, TrafficGroup] = field(default_factory=dict)
    """The ``userCount`` series whose traffic pauses their group, by key."""
    idle: frozenset[TrafficGroup] = frozenset()
    """Groups whose users were 0 for the whole horizon: their other series are paused."""
    paused: frozenset[str] = frozenset()
    """Keys of the series ``idle`` pauses (absent from /metrics, shown paused on ``/``)."""

    @cached_property
    def active(self) -> list[Series]:
        """The series polled and shown: all but the paused ones, in plan order."""
        if not self.paused:
            return self.series
        return [one for one in self.series if one.key not in self.paused]

    @cached_property
    def paused_series(self) -> list[Series]:
        return [one for one in self.series if one.key in self.paused]

    @cached_property
    def paused_by_budget(self) -> dict[Budget, int]:
        """Paused series per budget that real-time series draw on."""
        counts = dict.fromkeys({one.budget for one in self.series}, 0)
        for one in self.paused_series:
            counts[one.budget] += 1
        return counts

    @cached_property
    def _active_by_key(self) -> dict[str, Series]:
        return {one.key: one for one in self.active}

    def active_series(self, key: str) -> Series | None:
        """The polled series with this key (None: paused, or not in the plan)."""
        return self._active_by_key.get(key)

    def timing_of(self, series: Series) -> SeriesTiming:
        """The series' interval and lag (a paused one: its budget's slowest)."""
        found = self.timing.get(series.key)
        if found is not None:
            return found
        budget = self.budgets[series.budget]
        return SeriesTiming(budget.interval_s, budget.replay_lag_s)

    def with_idle(self, idle: Collection[TrafficGroup]) -> PollPlan:
        """The plan with ``idle``'s series paused and their share given to the others."""
        idle = frozenset(idle) & frozenset(self.gates.values())
        if idle == self.idle:
            return self
        budgets = dict(self.budgets)
        paused, pinned = paused_and_pinned(self.series, idle)
        timing = _plan_series(budgets, self.series, self.weights, paused, pinned)
        return replace(self, budgets=budgets, timing=timing, idle=idle, paused=paused)

    @property
    def feasible(self) -> bool:
        return all(budget.feasible for budget in self.budgets.values())

    @property
    def problems(self) -> list[str]:
        """One sentence per infeasible budget: what to drop, or which plan would fit."""
        found = []
        for budget, budget_plan in self.budgets.items():
            if budget_plan.feasible:
                continue
            if budget in INSIGHT_BUDGETS:
                found.append(insight_problem(self.tier, budget_plan))
                continue
            if budget in CALL_BUDGETS:
                found.append(call_problem(self.tier, budget_plan))
                continue
            text = budget_plan.problem or f"budget {budget}: cannot be polled without gaps"
            fits = plan_that_fits(budget, budget_plan.series, budget_plan.headroom)
            if fits is None:
                text += "; no Agora plan covers that many series on this budget"
            elif _PLAN_ORDER.index(fits) > _PLAN_ORDER.index(self.tier):
                text += f"; or move to the {fits} plan, which covers all {budget_plan.series}"
            else:
                text += (
                    f"; the {self.tier} plan's own limits would cover them: the "
                    f"agora.quota.{budget} override lowers them, raise or remove it"
                )
            found.append(text)
        return found

    def interval_for(self, budget: Budget) -> int:
        """The shortest interval between two polls of a series on ``budget`` (0: no series):
        the freshest series, the project-scope alerting rates by default."""
        return self.budgets[budget].shortest_s

    def lag_s(self, budget: Budget) -> int:
        """How far behind real time the replay view shows ``budget``'s freshest series."""
        return replay_lag(self.interval_for(budget), self.budgets[budget].limits)

    @property
    def memory_s(self) -> int:
        """How far back the real-time windows a scrape can show go: the largest
        replay lag, plus two windows for a scrape a little late. Older windows
        stay in the store's file, not in memory."""
        return max((one.lag_s for one in self.timing.values()), default=0) + 2 * WINDOW_S

    def series_for(self, budget: Budget) -> list[Series]:
        return [one for one in self.series if one.budget is budget]


def _plan_series(
    budgets: dict[Budget, BudgetPlan],
    series: list[Series],
    weights: Mapping[str, float],
    paused: frozenset[str],
    pinned: frozenset[str],
) -> dict[str, SeriesTiming]:
    """Split each budget of ``budgets`` among its active series by weight (in place);
    each active series' timing."""
    timing: dict[str, SeriesTiming] = {}
    for budget in {one.budget for one in series}:
        active = [one for one in series if one.budget is budget and one.key not in paused]
        old = budgets[budget]
        planned = plan_weighted(
            budget,
            [weights.get(one.key, 1.0) for one in active],
            old.limits,
            old.headroom,
            pinned=[index for index, one in enumerate(active) if one.key in pinned],
        )
        budgets[budget] = planned
        every = planned.intervals or (planned.interval_s,) * len(active)
        for one, interval in zip(active, every, strict=True):
            timing[one.key] = SeriesTiming(interval, replay_lag(interval, planned.limits))
    return timing


def make_plan(settings: Settings) -> PollPlan:
    """Plan every budget the account's plan grants, with the series drawing on it."""
    plan = settings.agora.plan
    series = expand_series(settings)
    insight = expand_insight_series(settings)
    counts = Counter([one.budget for one in series] + [one.budget for one in insight])
    budgets: dict[Budget, BudgetPlan] = {}
    call_limits: dict[Budget, Limits] = {}
    for budget in Budget:
        stock = limits_for(plan, budget)
        if stock is None:
            continue
        limits = apply_override(stock, _override(settings.agora.quota.get(budget)))
        if budget in CALL_BUDGETS:
            call_limits[budget] = limits
            continue
        planner = plan_insight_budget if budget in INSIGHT_BUDGETS else plan_budget
        budgets[budget] = planner(budget, counts[budget], limits, settings.agora.headroom)
    calls = plan_calls(expand_call_targets(settings), call_limits, settings.agora.headroom)
    budgets.update(calls.budgets)
    weights = series_weights(settings, series)
    timing = _plan_series(budgets, series, weights, frozenset(), frozenset())
    return PollPlan(
        budgets=budgets,
        series=series,
        tier=plan,
        insight=insight,
        calls=calls,
        timing=timing,
        weights=weights,
        gates=traffic_gates(settings, series),
    )
