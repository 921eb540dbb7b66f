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
        product_type="Native",uid=""} 1.7000004e+09
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
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from exporter import __version__
from exporter.agora.limits import Budget, Limits
from exporter.calls.collector import call_families
from exporter.calls.view import EMPTY_CALLS, CallState
from exporter.catalog.insight import Granularity
from exporter.catalog.own import (
    API_DURATION,
    API_REQUESTS,
    BUILD_INFO,
    DAILY_TIMESTAMP,
    HOURLY_TIMESTAMP,
    NEWEST_WINDOW_TIMESTAMP,
    POLL_INTERVAL,
    QUOTA_LIMIT,
    QUOTA_USED,
    SERIES_PAUSED,
    UP,
    WINDOW_TIMESTAMP,
    WINDOWS_MISSED,
)
from exporter.catalog.realtime import REALTIME_METRICS, SCOPE_LABELS, Scope
from exporter.insight.view import EMPTY_INSIGHT, InsightState
from exporter.quota.request_stats import DURATION_BUCKETS, StatsSnapshot
from exporter.quota.rules import periods
from exporter.realtime.series import Series
from exporter.realtime.view import (
    Mode,
    SeriesTiming,
    Shown,
    WindowSource,
    newest_windows,
    shown_windows,
)
from exporter.serving.console_view import EMPTY_CONSOLE, ConsoleAlertState, console_alert_families
from exporter.serving.runtime import LIVE_PROCESS, REVISION, ProcessSource


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

    def lag_of(self, series: Series) -> float:
        """How far behind real time replay shows ``series``."""
        found = self.timing.get(series.key)
        return self.budgets[series.budget].lag_s if found is None else found.lag_s


def _label_values(shown: Shown) -> list[str]:
    values = [shown.series.appid, shown.series.product_type]
    if shown.series.scope is not Scope.PROJECT:
        values.append(shown.series.cname or "")
    if shown.series.scope is Scope.USER:
        values.append(str(shown.uid))
    return values


def _identity_labels(shown: Shown) -> list[str]:
    """Labels of the freshness families: the series' own plus the API metric."""
    uid = "" if shown.uid is None else str(shown.uid)
    series = shown.series
    return [series.appid, series.product_type, series.cname or "", uid, series.metric]


def _realtime_families(data: CollectorInput) -> Iterator[Metric]:
    families: dict[str, GaugeMetricFamily] = {}
    for metric in REALTIME_METRICS.values():
        for scope in Scope:
            name = metric.family(scope)
            if name is not None:
                families[name] = GaugeMetricFamily(
                    name, metric.help_text(scope), labels=list(SCOPE_LABELS[scope])
                )
    shown_at = GaugeMetricFamily(
        WINDOW_TIMESTAMP.name,
        WINDOW_TIMESTAMP.help,
        labels=list(WINDOW_TIMESTAMP.labels),
    )
    lag = data.lag_of
    for shown in shown_windows(data.series, data.windows, now=data.now, mode=data.mode, lag_s=lag):
        stamp = float(shown.window_ts) if data.timestamps else None
        families[shown.series.family].add_metric(_label_values(shown), shown.value, stamp)
        shown_at.add_metric(_identity_labels(shown), float(shown.window_ts))
    yield from families.values()
    yield shown_at
    newest = GaugeMetricFamily(
        NEWEST_WINDOW_TIMESTAMP.name,
        NEWEST_WINDOW_TIMESTAMP.help,
        labels=list(NEWEST_WINDOW_TIMESTAMP.labels),
    )
    for shown in newest_windows(data.series, data.windows):
        newest.add_metric(_identity_labels(shown), float(shown.newest_ts))
    yield newest


def _insight_families(insight: InsightState) -> Iterator[Metric]:
    """The daily (and hourly) families of the configured insight series, with their ``ts``."""
    granularities = sorted({one.granularity for one in insight.series}, key=lambda g: -g.seconds)
    stamps = {Granularity.DAY: DAILY_TIMESTAMP, Granularity.HOUR: HOURLY_TIMESTAMP}
    for granularity in granularities:
        families: dict[str, GaugeMetricFamily] = {}
        for one in insight.series:
            if one.granularity is granularity and one.family not in families:
                families[one.family] = GaugeMetricFamily(
                    one.family,
                    one.catalog.help_text(granularity),
                    labels=list(one.catalog.labels),
                )
        stamp = stamps[granularity]
        shown_at = GaugeMetricFamily(stamp.name, stamp.help, labels=list(stamp.labels))
        for shown in insight.shown:
            series = shown.series
            if series.granularity is not granularity:
                continue
            labels = [series.appid] + ([series.product_type] if series.product_type else [])
            families[series.family].add_metric(labels, shown.exposed_value)
            shown_at.add_metric(
                [series.appid, series.product_type or "", series.metric], float(shown.ts)
            )
        yield from families.values()
        yield shown_at


def _request_families(stats: StatsSnapshot) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "agora_exporter_api_requests",
        API_REQUESTS.help,
        labels=list(API_REQUESTS.labels),
    )
    for (endpoint, outcome), count in sorted(stats.requests.items()):
        requests.add_metric([endpoint, outcome], float(count))
    yield requests
    durations = HistogramMetricFamily(
        API_DURATION.name,
        API_DURATION.help,
        labels=list(API_DURATION.labels),
    )
    for endpoint, histogram in sorted(stats.durations.items()):
        cumulative, buckets = 0, []
        for bound, count in zip(DURATION_BUCKETS, histogram.bucket_counts, strict=True):
            cumulative += count
            buckets.append((repr(bound), float(cumulative)))
        buckets.append(("+Inf", float(histogram.count)))
        durations.add_metric([endpoint], buckets, histogram.total_s)
    yield durations
    up = GaugeMetricFamily(UP.name, UP.help, labels=list(UP.labels))
    for appid, is_up in sorted(stats.up.items()):
        up.add_metric([appid], 1.0 if is_up else 0.0)
    yield up


def _quota_families(data: CollectorInput) -> Iterator[Metric]:
    limit = GaugeMetricFamily(QUOTA_LIMIT.name, QUOTA_LIMIT.help, labels=list(QUOTA_LIMIT.labels))
    used = GaugeMetricFamily(QUOTA_USED.name, QUOTA_USED.help, labels=list(QUOTA_USED.labels))
    interval = GaugeMetricFamily(
        POLL_INTERVAL.name,
        POLL_INTERVAL.help,
        labels=list(POLL_INTERVAL.labels),
    )
    paused = GaugeMetricFamily(
        SERIES_PAUSED.name, SERIES_PAUSED.help, labels=list(SERIES_PAUSED.labels)
    )
    for budget, state in sorted(data.budgets.items()):
        for period, _, cap in periods(state.limits):
            limit.add_metric([budget.value, period], float(cap))
            used.add_metric([budget.value, period], float(state.used.get(period, 0)))
        interval.add_metric([budget.value], float(state.interval_s))
        if state.paused is not None:
            paused.add_metric([budget.value], float(state.paused))
    yield from (limit, used, interval, paused)
    missed = CounterMetricFamily("agora_exporter_windows_missed", WINDOWS_MISSED.help, labels=[])
    missed.add_metric([], float(data.windows_missed_total))
    yield missed
    build = GaugeMetricFamily(BUILD_INFO.name, BUILD_INFO.help, labels=list(BUILD_INFO.labels))
    build.add_metric([__version__, REVISION, platform.python_version()], 1.0)
    yield build


def realtime_families(data: CollectorInput) -> Iterator[Metric]:
    """The real-time families, the bulk of a scrape: the same families for any ``series``.

    Reads only ``series``, ``windows``, ``mode``, ``timestamps`` and (replay)
    each budget's replay window at ``now``: :mod:`exporter.serving.exposition` caches
    them on exactly these.
    """
    return _realtime_families(data)


def insight_families(data: CollectorInput) -> Iterator[Metric]:
    return _insight_families(data.insight)


def calls_families(data: CollectorInput) -> Iterator[Metric]:
    """The Call Inspector families; read only ``data.calls``."""
    return call_families(data.calls)


def own_families(data: CollectorInput) -> Iterator[Metric]:
    """The exporter's own families: requests, durations, up, quota, build, console alerts."""
    yield from _request_families(data.stats)
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
