"""The insight budgets: what one pass costs and how many passes a day fit.

A *pass* sends one request per insight series of a budget (per app: each
metric of ``apps[].insight.usage``, all 8 by default, on ``insight_usage``;
each metric of ``apps[].insight.quality``, all 5 by default, per product type,
and again hourly with ``hourly_quality``, on ``insight_quality``). The lists
are the insight section's own: the real-time lists spend another budget.
Each request asks for the whole frame since the last stored day, so one pass
a day keeps every series complete; more passes only make new and recomputed
days show up sooner.

``passes per day = floor((1 - headroom) * per_day / cost)``, one every
``86400 / passes`` seconds (whole minutes, never faster than the per-minute
limit lets one pass through). A config whose single pass does not fit the
daily budget after headroom is infeasible.
"""

from __future__ import annotations

import math

from exporter.agora.limits import DAY, MINUTE, Budget, Limits, Plan, limits_for, plans_with_access
from exporter.catalog.insight import INSIGHT_USAGE_METRICS, Granularity
from exporter.insight.series import InsightSeries
from exporter.quota.rules import BudgetPlan
from exporter.settings import Settings

INSIGHT_BUDGETS = (Budget.INSIGHT_USAGE, Budget.INSIGHT_QUALITY)
SLACK_S = 15 * MINUTE
"""How long after a day's expected publication the pass that fetches it runs."""
RETRY_AFTER_S = 3600
"""How long after a pass that found the expected day missing it is asked for again."""
LATE_WINDOW_S = 12 * 3600
"""How long a late day is retried between passes ("published 6 to 12 hours late")."""


def expand_insight_series(settings: Settings) -> list[InsightSeries]:
    """Every insight series the settings ask for, in a deterministic order.

    Per app with ``insight.enabled`` (in config order): each metric of
    ``insight.usage``; then per product type each metric of ``insight.quality``
    daily; then, with ``hourly_quality``, the same hourly.
    """
    found: list[InsightSeries] = []
    for app in settings.apps:
        if not app.insight.enabled:
            continue
        found += [InsightSeries(app.appid, metric) for metric in app.insight.usage]
        granularities = [Granularity.DAY]
        if app.insight.hourly_quality:
            granularities.append(Granularity.HOUR)
        for granularity in granularities:
            for product_type in app.product_types:
                found += [
                    InsightSeries(app.appid, metric, product_type, granularity)
                    for metric in app.insight.quality
                ]
    return found


def pass_capacity(limits: Limits, headroom: float) -> int:
    """The most requests one pass may cost: the daily limit less headroom."""
    return math.floor((1.0 - headroom) * limits.per_day + 1e-9)


def passes_per_day(cost: int, limits: Limits, headroom: float) -> int:
    return 0 if cost <= 0 else pass_capacity(limits, headroom) // cost


def pass_interval(cost: int, limits: Limits, headroom: float) -> int:
    """Seconds between two passes (0: no series; a day when not even one fits)."""
    if cost <= 0:
        return 0
    passes = max(1, passes_per_day(cost, limits, headroom))
    by_day = DAY / passes
    by_minute = cost * MINUTE / limits.minute_capacity
    return math.ceil(max(by_day, by_minute) / MINUTE - 1e-9) * MINUTE


def plan_insight_budget(budget: Budget, cost: int, limits: Limits, headroom: float) -> BudgetPlan:
    """The budget's plan; ``series`` is the cost of one pass, ``max_series`` what fits."""
    capacity = pass_capacity(limits, headroom)
    feasible = cost <= capacity
    problem = None
    if not feasible:
        problem = (
            f"budget {budget}: one pass needs {cost} requests but the daily limit of "
            f"{limits.per_day} leaves {capacity} after headroom; drop {cost - capacity} "
            f"({_fixes(budget)})"
        )
    return BudgetPlan(
        budget=budget,
        series=cost,
        limits=limits,
        headroom=headroom,
        interval_s=pass_interval(cost, limits, headroom),
        feasible=feasible,
        max_series=capacity,
        problem=problem,
    )


def _fixes(budget: Budget) -> str:
    if budget is Budget.INSIGHT_USAGE:
        return (
            "each metric of apps[].insight.usage costs one (all "
            f"{len(INSIGHT_USAGE_METRICS)} by default): list fewer, or set insight: "
            "{enabled: false} on some apps[]"
        )
    return (
        "each metric of apps[].insight.quality costs one per product type: list fewer "
        "metrics or product types, set insight: {hourly_quality: false} (halves the cost), "
        "or insight: {enabled: false} on some apps[]"
    )


def insight_problem(plan: Plan, budget_plan: BudgetPlan) -> str:
    """The infeasible budget's sentence, with the plan that would fit if there is one."""
    text = budget_plan.problem or f"budget {budget_plan.budget}: one pass does not fit"
    budget, cost = budget_plan.budget, budget_plan.series
    fits = [
        tier
        for tier in plans_with_access(budget)
        if (stock := limits_for(tier, budget)) is not None
        and cost <= pass_capacity(stock, budget_plan.headroom)
    ]
    stock = limits_for(plan, budget)
    if stock is not None and stock != budget_plan.limits and plan in fits:
        return text + (
            f"; the {plan} plan's own limits would fit it: the agora.quota.{budget} "
            "override lowers them, raise or remove it"
        )
    better = [tier for tier in fits if list(Plan).index(tier) > list(Plan).index(plan)]
    if better:
        return text + f"; or move to the {better[0]} plan"
    return text


def insight_budget_rows(budget_plan: BudgetPlan) -> list[tuple[str, str]]:
    """The ``plan`` lines of an insight budget after its limits and headroom."""
    limits, cost = budget_plan.limits, budget_plan.series
    passes = passes_per_day(cost, limits, budget_plan.headroom)
    interval = budget_plan.interval_s
    per_day = round(budget_plan.requests_per_day, 1)
    share = round(100 * per_day / limits.per_day, 1)
    return [
        (
            "data",
            f"published {limits.delay_s} s after the day (or hour) ends, kept "
            f"{limits.horizon_s // DAY} days, longest query {limits.max_span_s // DAY} days",
        ),
        ("pass", f"{cost} requests, one per series (at most {budget_plan.max_series} fit)"),
        (
            "passes per day",
            f"{passes}, one every {interval} s, timed {SLACK_S} s after the next day's "
            "expected publication"
            if passes
            else "none: one pass does not fit the daily limit after headroom",
        ),
        ("requests per day", f"{per_day:g} ({share:g}% of the daily limit {limits.per_day})"),
        (
            "late days",
            f"a day missing after its pass is asked for again every {RETRY_AFTER_S} s "
            f"between passes, for up to {LATE_WINDOW_S} s, within the daily limit "
            "(the headroom is kept for this)",
        ),
    ]
