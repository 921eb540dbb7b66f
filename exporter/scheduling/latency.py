"""How late each shipped alert fires under a plan: its series' replay lag plus its ``for``. Pure.

An incident's first bad window reaches Prometheus one replay lag after it
started (:mod:`exporter.realtime.view`); the rule then waits its ``for``
before firing. So the latency of an alert on a series is ``lag + for``, from
the incident's first window to the alert firing (plus up to one scrape and one
rule evaluation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.catalog.alerts import QUALITY_ALERTS, ShippedAlert
from exporter.realtime.series import Series
from exporter.scheduling.planner import PollPlan
from exporter.scheduling.priorities import TrafficGroup


@dataclass(frozen=True)
class AlertLatency:
    """One shipped alert and the replay lags of the series it reads."""

    alert: ShippedAlert
    lags: tuple[int, ...]
    """The distinct replay lags of its series, shortest first."""
    series: int

    @property
    def shortest_s(self) -> int:
        return self.lags[0] + self.alert.for_s

    @property
    def longest_s(self) -> int:
        return self.lags[-1] + self.alert.for_s


def alert_latencies(plan: PollPlan, series: Iterable[Series] | None = None) -> list[AlertLatency]:
    """Each shipped alert with at least one polled series (of ``series``: default all)."""
    chosen = plan.active if series is None else [one for one in series if one.key in plan.timing]
    found = []
    for alert in QUALITY_ALERTS:
        lags = [
            plan.timing[one.key].lag_s
            for one in chosen
            if one.metric == alert.metric and one.scope is alert.scope
        ]
        if lags:
            found.append(AlertLatency(alert, tuple(sorted(set(lags))), len(lags)))
    return found


def alone_latencies(plan: PollPlan) -> list[tuple[TrafficGroup, list[AlertLatency]]]:
    """Per product type of an app with others: the latencies while only it has users
    (the other product types paused, their share given to it)."""
    groups = [group for group in plan.gates.values() if group.cname is None]
    found = []
    for group in groups:
        others = {one for one in groups if one.appid == group.appid and one != group}
        if not others:
            continue
        alone = plan.with_idle(others)
        mine = [
            one
            for one in alone.active
            if (one.appid, one.product_type) == (group.appid, group.product_type)
        ]
        found.append((group, alert_latencies(alone, mine)))
    return found


def spoken_s(seconds: int) -> str:
    """``700`` is ``11 min 40 s``."""
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def latency_text(found: AlertLatency) -> str:
    """``11 min 40 s (replay lag 400 s + for 5m)``: how ``plan`` and the status page say it."""
    shortest, longest = spoken_s(found.shortest_s), spoken_s(found.longest_s)
    spread = shortest if shortest == longest else f"{shortest} to {longest}"
    lags = ", ".join(f"{lag} s" for lag in found.lags)
    return f"{spread} (replay lag {lags} + for {found.alert.duration})"
