"""Which series matter most, and which are paused for want of users: pure.

Every real-time series gets a weight from its app's ``realtime.weights`` (per
metric) times ``realtime.scope_weights`` (per scope); the planner splits each
budget by these weights (:mod:`exporter.quota.allocation`).

A *traffic group* is a product type of an app, or one channel of it. Its
``userCount`` series (project or channel scope) is its *gate*: while the gate
has read 0 for the API's whole horizon the group is *idle*, and every other
series of the group is paused, its share of the quota given to the others; the
gate itself keeps being polled, pinned at the slowest gap-free interval, so
users coming back are seen within one of its polls.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import NamedTuple

from exporter.catalog.realtime import Scope
from exporter.realtime.series import Series
from exporter.settings import Settings

GATE_METRIC = "userCount"


class TrafficGroup(NamedTuple):
    """A product type of an app (``cname`` None) or one channel of it."""

    appid: str
    product_type: str
    cname: str | None = None

    def describe(self) -> str:
        where = "" if self.cname is None else f" cname={self.cname}"
        return f"appid={self.appid} {self.product_type}{where}"


def series_weights(settings: Settings, series: Iterable[Series]) -> dict[str, float]:
    """Each series' weight (by key): its metric's weight times its scope's."""
    apps = {app.appid: app.realtime for app in settings.apps}
    return {one.key: apps[one.appid].weight(one.metric, one.scope.value) for one in series}


def gate_group(series: Series) -> TrafficGroup | None:
    """The group whose traffic ``series`` tells (a ``userCount`` series), or None."""
    if series.metric != GATE_METRIC or series.scope is Scope.USER:
        return None
    cname = series.cname if series.scope is Scope.CHANNEL else None
    return TrafficGroup(series.appid, series.product_type, cname)


def traffic_gates(settings: Settings, series: Iterable[Series]) -> dict[str, TrafficGroup]:
    """The gates to watch (series key -> group): ``userCount`` series of apps that pause."""
    pausing = {app.appid for app in settings.apps if app.realtime.pause_idle}
    found = {}
    for one in series:
        group = gate_group(one)
        if group is not None and one.appid in pausing:
            found[one.key] = group
    return found


def paused_and_pinned(
    series: Iterable[Series], idle: Collection[TrafficGroup]
) -> tuple[frozenset[str], frozenset[str]]:
    """The keys of the series ``idle`` pauses, and of the gates held at the ceiling.

    An idle product type pauses all its series but its project ``userCount``
    (channel gates included); an idle channel of a busy product type pauses
    that channel's series but its ``userCount``.
    """
    paused: set[str] = set()
    pinned: set[str] = set()
    if not idle:
        return frozenset(), frozenset()
    for one in series:
        whole = TrafficGroup(one.appid, one.product_type)
        channel = TrafficGroup(one.appid, one.product_type, one.cname)
        own = gate_group(one)
        if whole in idle:
            (pinned if own == whole else paused).add(one.key)
        elif one.cname is not None and channel in idle:
            (pinned if own == channel else paused).add(one.key)
    return frozenset(paused), frozenset(pinned)


def in_group(series: Series, group: TrafficGroup) -> bool:
    """Whether ``series`` belongs to ``group`` (a channel's series to its product type too)."""
    if (series.appid, series.product_type) != (group.appid, group.product_type):
        return False
    return group.cname is None or series.cname == group.cname
