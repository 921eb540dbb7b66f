"""How late each shipped alert fires under the plan in force, for the status page. Pure.

The same figures, in the same words, as ``agora-exporter plan``
(:mod:`exporter.scheduling.report`): each shipped quality alert with polled
series, its replay lags plus its ``for``; then, per product type of an app
with others, the same while only it has users (the others paused, their share
given to it). :func:`plan_latency` works them out from a plan; it re-plans
once per such product type, so the scrape source keeps its answer per plan
rather than per request. The renderers only read the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.scheduling.latency import (
    AlertLatency,
    alert_latencies,
    alone_latencies,
    latency_text,
)
from exporter.scheduling.planner import PollPlan
from exporter.scheduling.priorities import TrafficGroup

LATENCY_NOTE = (
    "From an incident's first window to the alert firing (replay lag + the rule's for), "
    "plus up to one scrape and one rule evaluation."
)
ALONE_NOTE = "When only one product type of an app has users (the others paused):"


@dataclass(frozen=True)
class PlanLatency:
    """Each shipped alert's latency under one plan, and per product type alone."""

    alerts: tuple[AlertLatency, ...]
    """Under the plan as it is, in the rule file's order."""
    alone: tuple[tuple[TrafficGroup, tuple[AlertLatency, ...]], ...]
    """Per product type of an app with others: the latencies while only it has users."""


NO_LATENCY = PlanLatency(alerts=(), alone=())
"""No plan given: the section says no shipped alert reads a polled series."""


def plan_latency(plan: PollPlan) -> PlanLatency:
    """What ``agora-exporter plan`` prints about alert latency, as data."""
    return PlanLatency(
        alerts=tuple(alert_latencies(plan)),
        alone=tuple((group, tuple(found)) for group, found in alone_latencies(plan)),
    )


def latency_cells(latency: PlanLatency) -> tuple[list[list[str]], list[list[str]]]:
    """The page's two tables: alert, latency, series; and product type, alert, latency."""
    alerts = [[one.alert.name, latency_text(one), str(one.series)] for one in latency.alerts]
    alone = [
        [f"{group.describe()} alone", one.alert.name, latency_text(one), str(one.series)]
        for group, found in latency.alone
        for one in found
    ]
    return alerts, alone


def _entry(found: AlertLatency, group: TrafficGroup | None) -> dict[str, Any]:
    return {
        "alert": found.alert.name,
        "for": found.alert.duration,
        "for_s": found.alert.for_s,
        "lags_s": list(found.lags),
        "shortest_s": found.shortest_s,
        "longest_s": found.longest_s,
        "series": found.series,
        "alone": None
        if group is None
        else {"appid": group.appid, "product_type": group.product_type},
    }


def latency_entries(latency: PlanLatency) -> list[dict[str, Any]]:
    """``alert_latency`` in ``/status.json``: one entry per alert under the plan as it is
    (``alone`` null), then one per alert and product type alone (``alone`` names it)."""
    entries = [_entry(one, None) for one in latency.alerts]
    entries += [_entry(one, group) for group, found in latency.alone for one in found]
    return entries
