"""The poll plan as text: what ``agora-exporter plan`` prints, per budget and series,
and how late each shipped alert fires under it."""

from __future__ import annotations

from collections import Counter

from exporter.agora.limits import Budget, Limits, limits_for
from exporter.calls.plan import (
    CALL_BUDGETS,
    call_budget_rows,
)
from exporter.catalog.realtime import Scope
from exporter.insight.plan import (
    INSIGHT_BUDGETS,
    insight_budget_rows,
)
from exporter.quota.rules import BudgetPlan, replay_lag
from exporter.realtime.series import Series
from exporter.realtime.view import SeriesTiming
from exporter.scheduling.latency import (
    alert_latencies,
    alone_latencies,
    latency_text,
)
from exporter.scheduling.planner import PollPlan
from exporter.timing.windows import WINDOW_S


def _number(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _percent(share: float) -> str:
    return _number(share * 100) + "%"


def _rate_limits(limits: Limits) -> str:
    parts = []
    if limits.per_second is not None:
        parts.append(f"{limits.per_second} per second")
    if limits.per_minute is not None:
        parts.append(f"{limits.per_minute} per minute")
    parts.append(f"{limits.per_day} per day")
    return ", ".join(parts)


def _budget_lines(plan: PollPlan, budget: Budget, budget_plan: BudgetPlan) -> list[str]:
    limits = budget_plan.limits
    stock = limits_for(plan.tier, budget)
    overridden = ""
    if stock is not None and stock != limits:
        overridden = f" (agora.quota.{budget} override; the plan grants {_rate_limits(stock)})"
    per_day = budget_plan.requests_per_day
    interval, freshness, lag = _interval_rows(budget_plan)
    rows = [
        ("series", str(budget_plan.series)),
        ("limits", _rate_limits(limits) + overridden),
        (
            "data",
            f"delay {limits.delay_s} s, kept {limits.horizon_s} s, "
            f"longest query {limits.max_span_s} s",
        ),
        ("headroom", f"{_percent(budget_plan.headroom)} of the daily limit kept for retries"),
        interval,
        (
            "requests per day",
            f"{_number(per_day)} ({_percent(per_day / limits.per_day)} of the daily limit "
            f"{limits.per_day})",
        ),
        freshness,
        lag,
        ("capacity", f"at most {budget_plan.max_series} series fit without gaps"),
    ]
    if budget in INSIGHT_BUDGETS:
        rows = [*rows[:2], rows[3], *insight_budget_rows(budget_plan)]
    if budget in CALL_BUDGETS:
        rows = [rows[1], rows[3], *call_budget_rows(plan.calls, budget_plan)]
    width = max(len(name) for name, _ in rows) + 1
    lines = [f"budget {budget}:"]
    lines += [f"  {name + ':':<{width}} {value}" for name, value in rows]
    return lines


def _interval_rows(budget_plan: BudgetPlan) -> list[tuple[str, str]]:
    """Poll interval, freshness and replay lag: one value, or the range weights made."""
    limits, longest, shortest = budget_plan.limits, budget_plan.interval_s, budget_plan.shortest_s
    alignment = f"delay {limits.delay_s} s + 2 x {WINDOW_S} s of window alignment"
    if shortest == longest:
        return [
            ("poll interval", f"{longest} s per series"),
            (
                "expected freshness",
                f"{budget_plan.freshness_s} s (interval {longest} s + {alignment})",
            ),
            (
                "replay lag",
                f"{budget_plan.replay_lag_s} s behind real time in exposition mode replay",
            ),
        ]
    lags = f"{replay_lag(shortest, limits)} s to {budget_plan.replay_lag_s} s"
    return [
        ("poll interval", f"{shortest} s to {longest} s per series, by weight (see below)"),
        ("expected freshness", f"{lags} (interval + {alignment})"),
        ("replay lag", f"{lags} behind real time in exposition mode replay"),
    ]


def _series_by_interval(plan: PollPlan) -> list[str]:
    """The polled series grouped by interval (each group's replay lag), then the paused."""
    groups: dict[SeriesTiming, list[Series]] = {}
    for one in plan.active:
        groups.setdefault(plan.timing_of(one), []).append(one)
    lines = ["", "series by poll interval (weight: realtime.weights x realtime.scope_weights):"]
    for timing in sorted(groups, key=lambda found: found.interval_s):
        members = groups[timing]
        lines.append(
            f"  every {timing.interval_s} s, replay lag {timing.lag_s} s: {len(members)} series"
        )
        lines += [
            f"    {one.describe()} (weight {_number(plan.weights.get(one.key, 1.0))})"
            for one in members
        ]
    if plan.paused:
        lines.append(f"  paused (no users for the whole horizon): {len(plan.paused)} series")
        lines += [f"    {one.describe()}" for one in plan.paused_series]
    return lines


def _alert_lines(plan: PollPlan) -> list[str]:
    """Each shipped alert's latency, and each product type's when it alone has users."""
    found = alert_latencies(plan)
    if not found:
        return []
    width = max(len(one.alert.name) for one in found) + 1
    lines = [
        "",
        "alert latency, from an incident's first window to the alert firing "
        "(replay lag + the rule's for):",
    ]
    lines += [
        f"  {one.alert.name + ':':<{width}} {latency_text(one)}, {one.series} series"
        for one in found
    ]
    alone = alone_latencies(plan)
    if alone:
        lines += ["", "when only one product type of an app has users (the others paused):"]
    for group, latencies in alone:
        lines.append(f"  {group.describe()} alone:")
        lines += [f"    {one.alert.name + ':':<{width}} {latency_text(one)}" for one in latencies]
    return lines


def _series_summary(series: list[Series]) -> list[str]:
    groups: dict[tuple[str, str], Counter[Scope]] = {}
    for one in series:
        groups.setdefault((one.appid, one.product_type), Counter())[one.scope] += 1
    lines = []
    for (appid, product_type), counts in groups.items():
        parts = [f"{counts[scope]} {scope}" for scope in Scope if counts[scope]]
        total = sum(counts.values())
        lines.append(f"  appid={appid} {product_type}: {total} ({', '.join(parts)})")
    return lines


def render_plan(plan: PollPlan) -> str:
    """The text ``agora-exporter plan`` prints (no credentials: the plan holds none)."""
    status = "feasible" if plan.feasible else "INFEASIBLE (see the end)"
    lines = ["agora-exporter poll plan", f"plan tier: {plan.tier}", f"status: {status}", ""]
    idle = []
    for budget, budget_plan in plan.budgets.items():
        if budget_plan.series == 0:
            idle.append(str(budget))
            continue
        lines += [*_budget_lines(plan, budget, budget_plan), ""]
    if idle:
        lines += [f"budgets without series: {', '.join(idle)}", ""]
    lines.append(f"series: {len(plan.series)}")
    lines += _series_summary(plan.series)
    if plan.series:
        lines += _series_by_interval(plan)
        lines += _alert_lines(plan)
    if plan.insight:
        lines += ["", f"insight series: {len(plan.insight)} (one request each per pass)"]
        lines += [f"  {one.describe()}" for one in plan.insight]
    if plan.calls.targets:
        lines += ["", f"call inspection: one cycle every {plan.calls.interval_s} s"]
        lines += [f"  {target.describe()}" for target in plan.calls.targets]
    if not plan.feasible:
        lines += [
            "",
            "INFEASIBLE: this configuration cannot be polled without gaps, so the exporter "
            "will not start.",
        ]
        lines += [f"  - {problem}" for problem in plan.problems]
        lines.append(
            "  Drop series by removing uids, channels, metrics or product types under apps[], "
            "or change the plan as suggested."
        )
    return "\n".join(lines) + "\n"
