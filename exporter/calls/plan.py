"""The call budgets: what one inspection cycle may cost, and how often cycles run.

A *cycle* runs every ``interval`` seconds. Per app with ``calls.enabled`` it
searches the ongoing calls (one search per watched channel, or one for all
channels) on ``call_lists``, in pages of 100; then for each inspected call (at
most ``max_calls``) it asks ``call_details`` for the sessions of the new frame
(one request per 100 sessions) and their metrics (one request per 20 sessions).

The cost of a cycle depends on traffic, so the planner budgets the worst case
the caps allow: ``max_calls x (ceil(S / 100) + ceil(S / 20))`` detail requests
(``S`` = ``max_sessions_per_call``) and ``ceil(max_calls / 100)`` pages per
search. ``interval = cost x 86400 / ((1 - headroom) x per_day)`` per budget,
the larger of the two, rounded up to 20 s and at least a minute. Whatever the
lists budget has left over in that interval becomes more pages per search, so
a search can reach more than ``max_calls`` calls to find the ongoing ones; a
search narrowed after ``has_more`` spends the same allowance.

A config is infeasible when the interval plus the data delay no longer fits
one sessions or metrics query (1 to 6 hours by plan): the frames of two
cycles would leave a gap. (Searches reach back 8 to 24 hours, so they never
fail first.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.agora.limits import DAY, Budget, Limits, Plan, limits_for, plans_with_access
from exporter.calls.frames import LATENCY_MARGIN_S
from exporter.quota.rules import BudgetPlan, budget_interval, is_gap_free, max_gap_free_series
from exporter.settings import Settings
from exporter.timing.windows import WINDOW_S

CALL_BUDGETS = (Budget.CALL_LISTS, Budget.CALL_DETAILS)
PAGE_SIZE = 100
"""Calls or sessions per page (the API's maximum)."""
SIDS_PER_REQUEST = 20
MIN_INTERVAL_S = 60


@dataclass(frozen=True)
class CallTarget:
    """One app whose calls are inspected: all channels, or the watched ones."""

    appid: str
    channels: tuple[str, ...] = ()
    max_calls: int = 50
    max_sessions_per_call: int = 20

    @property
    def searches(self) -> tuple[str | None, ...]:
        """The ``cname`` of each call search (None: every channel)."""
        return self.channels or (None,)

    @property
    def details_per_call(self) -> int:
        sessions = self.max_sessions_per_call
        return math.ceil(sessions / PAGE_SIZE) + math.ceil(sessions / SIDS_PER_REQUEST)

    @property
    def details_cost(self) -> int:
        return self.max_calls * self.details_per_call

    @property
    def min_pages(self) -> int:
        """Pages each search is planned for at least: enough to list ``max_calls`` calls."""
        return math.ceil(self.max_calls / PAGE_SIZE)

    def describe(self) -> str:
        where = "channels " + ", ".join(self.channels) if self.channels else "all channels"
        return (
            f"calls appid={self.appid} {where}: at most {self.max_calls} calls of "
            f"{self.max_sessions_per_call} sessions, {self.details_cost} detail requests per cycle"
        )


def expand_call_targets(settings: Settings) -> list[CallTarget]:
    """Every app with ``calls.enabled``, in config order."""
    return [
        CallTarget(
            app.appid,
            tuple(app.calls.channels),
            app.calls.max_calls,
            app.calls.max_sessions_per_call,
        )
        for app in settings.apps
        if app.calls.enabled
    ]


@dataclass(frozen=True)
class CallPlan:
    """How the call budgets are spent: one cycle every ``interval_s``."""

    targets: tuple[CallTarget, ...] = ()
    interval_s: int = 0
    pages_per_search: int = 0
    budgets: Mapping[Budget, BudgetPlan] = field(default_factory=dict)

    @property
    def searches(self) -> int:
        return sum(len(target.searches) for target in self.targets)

    @property
    def details_cost(self) -> int:
        return sum(target.details_cost for target in self.targets)


EMPTY_CALL_PLAN = CallPlan()


def plan_calls(
    targets: list[CallTarget], limits: Mapping[Budget, Limits], headroom: float
) -> CallPlan:
    """The cycle interval and both call budgets' plans (cost 0 without targets)."""
    lists, details = limits.get(Budget.CALL_LISTS), limits.get(Budget.CALL_DETAILS)
    if lists is None or details is None:
        return CallPlan(targets=tuple(targets))
    searches = sum(len(target.searches) for target in targets)
    list_cost = sum(len(target.searches) * target.min_pages for target in targets)
    details_cost = sum(target.details_cost for target in targets)
    if not targets:
        budgets = {
            budget: _budget_plan(budget, 0, limit, headroom, 0)
            for budget, limit in ((Budget.CALL_LISTS, lists), (Budget.CALL_DETAILS, details))
        }
        return CallPlan(budgets=budgets)
    interval = max(
        MIN_INTERVAL_S,
        budget_interval(list_cost, lists, headroom),
        budget_interval(details_cost, details, headroom),
    )
    interval = math.ceil(interval / WINDOW_S) * WINDOW_S
    spare = math.floor((1.0 - headroom) * lists.per_day * interval / DAY)
    pages = max(max(target.min_pages for target in targets), spare // searches)
    return CallPlan(
        targets=tuple(targets),
        interval_s=interval,
        pages_per_search=pages,
        budgets={
            Budget.CALL_LISTS: _budget_plan(
                Budget.CALL_LISTS, searches * pages, lists, headroom, interval
            ),
            Budget.CALL_DETAILS: _budget_plan(
                Budget.CALL_DETAILS, details_cost, details, headroom, interval
            ),
        },
    )


def _budget_plan(
    budget: Budget, cost: int, limits: Limits, headroom: float, interval: int
) -> BudgetPlan:
    # A search reaches back 8 to 24 hours, sessions and metrics 1 to 6: an interval too
    # long for the lists is always too long for the details, whose problem says what to do.
    feasible = cost == 0 or budget is Budget.CALL_LISTS or is_gap_free(interval, limits)
    most = max_gap_free_series(limits, headroom)
    problem = None
    if not feasible:
        problem = (
            f"budget {budget}: one inspection cycle may cost {cost} requests, so cycles run "
            f"{interval} s apart, but one query covers at most {limits.max_span_s} s "
            f"(delay {limits.delay_s} s): frames would leave gaps; at most {most} requests "
            "per cycle fit. Lower apps[].calls.max_calls or max_sessions_per_call, or watch "
            "fewer channels (each inspected call costs one sessions request per 100 sessions "
            "and one metrics request per 20)"
        )
    return BudgetPlan(
        budget=budget,
        series=cost,
        limits=limits,
        headroom=headroom,
        interval_s=interval,
        feasible=feasible,
        max_series=most,
        problem=problem,
    )


def call_problem(plan: Plan, budget_plan: BudgetPlan) -> str:
    """The infeasible call budget's sentence, with a plan that would fit if there is one."""
    text = budget_plan.problem or f"budget {budget_plan.budget}: one cycle does not fit"
    budget, cost = budget_plan.budget, budget_plan.series
    order = list(Plan)
    for tier in plans_with_access(budget):
        stock = limits_for(tier, budget)
        if stock is None or cost > max_gap_free_series(stock, budget_plan.headroom):
            continue
        if tier == plan and stock != budget_plan.limits:
            return text + (
                f"; the {plan} plan's own limits would fit it: the agora.quota.{budget} "
                "override lowers them, raise or remove it"
            )
        if order.index(tier) > order.index(plan):
            return text + f"; or move to the {tier} plan"
    return text


def call_budget_rows(call_plan: CallPlan, budget_plan: BudgetPlan) -> list[tuple[str, str]]:
    """The ``plan`` lines of a call budget after its limits and headroom."""
    limits, interval = budget_plan.limits, call_plan.interval_s
    per_day = round(budget_plan.requests_per_day, 1)
    share = round(100 * per_day / limits.per_day, 1)
    if budget_plan.budget is Budget.CALL_LISTS:
        cycle = (
            f"every {interval} s: {call_plan.searches} call search(es) (one per watched "
            f"channel, else one per app) of up to {call_plan.pages_per_search} requests "
            f"(pages of {PAGE_SIZE} calls, or the search narrowed when Agora lists only part)"
        )
    else:
        cycle = (
            f"every {interval} s: per inspected call one sessions request per {PAGE_SIZE} "
            f"sessions and one metrics request per {SIDS_PER_REQUEST}; at most "
            f"{budget_plan.series} requests"
        )
    return [
        (
            "data",
            f"delay {limits.delay_s} s, kept {limits.horizon_s // DAY} days, longest query "
            f"{limits.max_span_s} s",
        ),
        ("cycle", cycle),
        ("requests per day", f"at most {per_day:g} ({share:g}% of the daily limit)"),
        ("freshness", _freshness(budget_plan.budget, interval, limits.delay_s)),
        ("capacity", f"at most {budget_plan.max_series} requests per cycle fit without gaps"),
    ]


def _freshness(budget: Budget, interval: int, delay: int) -> str:
    late = interval + delay + LATENCY_MARGIN_S
    if budget is Budget.CALL_LISTS:
        return f"a new call is found at most {late} s after it starts"
    return (
        f"newest sample at most {late} s old (interval {interval} s + delay {delay} s "
        f"+ {LATENCY_MARGIN_S} s margin)"
    )
