"""The Prometheus collector: one input snapshot in, fresh metric families out.

It does no I/O and works on an empty store, but for its last section: the
process_* families read /proc, through the input's ``process`` source
(:mod:`exporter.serving.runtime`: live by default, at most once a second of the
scrape's clock; tests inject a fixed one). A scrape of a small config looks
like this (replay mode)::

    # HELP agora_realtime_audio_freeze_ratio Share of audio time frozen ...
    # TYPE agora_realtime_audio_freeze_ratio gauge
    agora_realtime_audio_freeze_ratio{appid="0123...",product_type="Native"} 0.0123
    agora_realtime_channel_users{appid="0123...",cname="lobby",product_type="Native"} 17.0
    agora_realtime_window_timestamp_seconds{appid="0123...",cname="",metric="audioFreezeRate",
        product_type="Native",scope="project",uids=""} 1.7000004e+09
    agora_realtime_poll_interval_seconds{appid="0123...",cname="",metric="audioFreezeRate",
        product_type="Native",scope="project",uids=""} 340.0
    agora_up{appid="0123..."} 1.0
    agora_exporter_quota_used{budget="realtime",period="day"} 312.0
    agora_exporter_poll_interval_seconds{budget="realtime"} 400.0
    process_resident_memory_bytes 5.1e+07
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client.core import (
    GaugeMetricFamily,
    Metric,
)

from exporter import __version__
from exporter.agora.limits import Budget, Limits
from exporter.calls.collector import call_families
from exporter.calls.view import EMPTY_CALLS, CallState
from exporter.catalog.families import counter_of, gauge_of
from exporter.catalog.own import (
    BUILD_INFO,
    NEWEST_WINDOW_TIMESTAMP,
    POLL_INTERVAL,
    QUOTA_LIMIT,
    QUOTA_USED,
    SERIES_PAUSED,
    SHAPE_LABELS,
    SHAPE_POLL_INTERVAL,
    WINDOW_TIMESTAMP,
    WINDOWS_MISSED,
)
from exporter.catalog.realtime import REALTIME_METRICS, SCOPE_LABELS, Scope
from exporter.insight.view import EMPTY_INSIGHT, InsightState
from exporter.quota.request_stats import StatsSnapshot
from exporter.quota.rules import periods
from exporter.realtime.series import Series
from exporter.realtime.view import (
    Mode,
    SeriesTiming,
    Shown,
    WindowSource,
    shown_windows,
)
from exporter.serving.console_view import EMPTY_CONSOLE, ConsoleAlertState, console_alert_families
from exporter.serving.runtime import LIVE_PROCESS, REVISION, ProcessSource
from exporter.serving.stage_families import insight_point_families, request_families


@dataclass(frozen=True)
class BudgetState:
    """One budget as the collector shows it."""

    limits: Limits
    interval_s: int
    """Its series' longest interval, and its replay lag (each series' own: ``timing``)."""
    lag_s: float
    used: Mapping[str, int]
    paused: int | None = None
    """Its series paused for want of users (None: it has no real-time series)."""


@dataclass(frozen=True)
class CollectorInput:
    """Everything one scrape reads, taken at once."""

    now: float
    series: Sequence[Series]
    budgets: Mapping[Budget, BudgetState]
    windows: WindowSource
    windows_missed_total: int
    stats: StatsSnapshot
    mode: Mode = Mode.REPLAY
    timestamps: bool = False
    insight: InsightState = EMPTY_INSIGHT
    """Data Insights series and the newest published point of each (empty: disabled)."""
    calls: CallState = EMPTY_CALLS
    """Call Inspector: inspected calls and their newest samples (empty: disabled)."""
    console: ConsoleAlertState = EMPTY_CONSOLE  # the Console alert bridge (off: no families)
    process: ProcessSource = LIVE_PROCESS
    """The process section's source (``runtime.NO_PROCESS``: none, and no I/O)."""
    timing: Mapping[str, SeriesTiming] = field(default_factory=lambda: MappingProxyType({}))
    """Each series' own poll interval and replay lag, by key (missing: its budget's)."""
    paused: Sequence[Series] = ()
    """Configured series paused for want of users: not in ``series``, absent from /metrics."""

    def timing_of(self, series: Series) -> SeriesTiming | None:
        """The series' own interval and replay lag; without one (tests), its budget's;
        None when neither is known (a backfill's render polls nothing)."""
        found = self.timing.get(series.key)
        budget = self.budgets.get(series.budget)
        if found is None and budget is not None:
            return SeriesTiming(budget.interval_s, round(budget.lag_s))
        return found

    def lag_of(self, series: Series) -> float:
        """How far behind real time replay shows ``series`` (only replay asks)."""
        timing = self.timing_of(series)
        if timing is None:
            raise KeyError(f"no replay lag for {series.describe()}: neither timing nor budget")
        return timing.lag_s


def _label_values(shown: Shown) -> list[str]:
    values = [shown.series.appid, shown.series.product_type]
    if shown.series.scope is not Scope.PROJECT:
        values.append(shown.series.cname or "")
    if shown.series.scope is Scope.USER:
        values.append(str(shown.uid))
    return values


def _shape_labels(series: Series) -> list[str]:
    """Labels of the freshness families: one series per request shape (``SHAPE_LABELS``)."""
    uids = ",".join(str(uid) for uid in series.uids)
    cname = series.cname or ""
    return [series.appid, series.product_type, series.scope.value, cname, uids, series.metric]


def _value_families() -> dict[str, GaugeMetricFamily]:
    """One empty family per real-time metric and scope it is exposed at."""
    families: dict[str, GaugeMetricFamily] = {}
    for metric in REALTIME_METRICS.values():
        for scope in Scope:
            name = metric.family(scope)
            if name is not None:
                families[name] = GaugeMetricFamily(
                    name, metric.help_text(scope), labels=list(SCOPE_LABELS[scope])
                )
    return families


RealtimeLine = tuple[str, tuple[str, ...], Sequence[str], float, float | None]
"""One real-time sample: its family's name, label names, label values, value, timestamp."""


def realtime_lines(data: CollectorInput) -> Iterator[RealtimeLine]:
    """Every real-time sample, series by series: the series' values (one per uid), then its
    request shape's freshness: the window shown, the newest window fetched (with users
    or without: a quiet channel is fresh while its polls are answered) and the poll
    interval, one sample each per shape."""
    for one in data.series:
        names, labels = SCOPE_LABELS[one.scope], _shape_labels(one)
        window: int | None = None
        for shown in shown_windows(
            (one,), data.windows, now=data.now, mode=data.mode, lag_s=data.lag_of
        ):
            stamp = float(shown.window_ts) if data.timestamps else None
            yield one.family, names, _label_values(shown), shown.value, stamp
            window = shown.window_ts if window is None else max(window, shown.window_ts)
        if window is not None:
            yield WINDOW_TIMESTAMP.name, SHAPE_LABELS, labels, float(window), None
        found = data.windows.get(one.key)
        if found is not None and found.fetched_ts is not None:
            yield NEWEST_WINDOW_TIMESTAMP.name, SHAPE_LABELS, labels, float(found.fetched_ts), None
        timing = data.timing_of(one)
        if timing is not None:
            yield SHAPE_POLL_INTERVAL.name, SHAPE_LABELS, labels, float(timing.interval_s), None


def _realtime_families(data: CollectorInput) -> Iterator[Metric]:
    """The families of :func:`realtime_lines`: each value family, then the three freshness ones."""
    freshness = (WINDOW_TIMESTAMP, NEWEST_WINDOW_TIMESTAMP, SHAPE_POLL_INTERVAL)
    families = {**_value_families(), **{one.name: gauge_of(one) for one in freshness}}
    for name, _, values, value, stamp in realtime_lines(data):
        families[name].add_metric(values, value, stamp)
    yield from families.values()


def _quota_families(data: CollectorInput) -> Iterator[Metric]:
    limit, used = gauge_of(QUOTA_LIMIT), gauge_of(QUOTA_USED)
    interval, paused = gauge_of(POLL_INTERVAL), gauge_of(SERIES_PAUSED)
    for budget, state in sorted(data.budgets.items()):
        for period, _, cap in periods(state.limits):
            limit.add_metric([budget.value, period], float(cap))
            used.add_metric([budget.value, period], float(state.used.get(period, 0)))
        interval.add_metric([budget.value], float(state.interval_s))
        if state.paused is not None:
            paused.add_metric([budget.value], float(state.paused))
    yield from (limit, used, interval, paused)
    missed = counter_of(WINDOWS_MISSED)
    missed.add_metric([], float(data.windows_missed_total))
    yield missed
    build = gauge_of(BUILD_INFO)
    build.add_metric([__version__, REVISION, platform.python_version()], 1.0)
    yield build


def realtime_families(data: CollectorInput) -> Iterator[Metric]:
    """The real-time families, the bulk of a scrape: the same families for any ``series``.

    Reads only ``series``, ``windows``, ``mode``, ``timestamps``, ``timing`` (and,
    for series it has no timing of, ``budgets``' intervals and lags) and (replay)
    each series' replay window at ``now``: :mod:`exporter.serving.exposition`
    caches them on exactly these.
    """
    return _realtime_families(data)


def insight_families(data: CollectorInput) -> Iterator[Metric]:
    return insight_point_families(data.insight)


def calls_families(data: CollectorInput) -> Iterator[Metric]:
    """The Call Inspector families; read only ``data.calls``."""
    return call_families(data.calls)


def own_families(data: CollectorInput) -> Iterator[Metric]:
    """The exporter's own families: requests, durations, up, quota, build, console alerts."""
    yield from request_families(data.stats)
    yield from _quota_families(data)
    yield from console_alert_families(data.console)


def process_families(data: CollectorInput) -> Iterator[Metric]:
    """process_* and python_info: the only section that reads anything (``data.process``)."""
    return iter(data.process.families(data.now))


SECTIONS: tuple[Callable[[CollectorInput], Iterator[Metric]], ...] = (
    realtime_families,
    insight_families,
    calls_families,
    own_families,
    process_families,
)
"""A scrape, in order: :class:`AgoraCollector` and the exposition cache both render these."""


class AgoraCollector:
    """Adapts a snapshot source to prometheus_client's Collector protocol."""

    def __init__(self, source: Callable[[], CollectorInput]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        data = self._source()
        for section in SECTIONS:
            yield from section(data)

    def describe(self) -> list[Metric]:
        # An empty describe keeps registration from calling collect() (and the store).
        return []
