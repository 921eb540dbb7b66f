"""Every API metric and the Prometheus families it becomes.

This is the one source for the collector, the README metrics table and the
dashboards: a family renamed here is renamed everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exporter.agora.limits import Endpoint
from exporter.catalog.calls import call_metrics_table_markdown


class Scope(StrEnum):
    """How much of an app one real-time series covers."""

    PROJECT = "project"
    CHANNEL = "channel"
    USER = "user"


SCOPE_LABELS: dict[Scope, tuple[str, ...]] = {
    Scope.PROJECT: ("appid", "product_type"),
    Scope.CHANNEL: ("appid", "product_type", "cname"),
    Scope.USER: ("appid", "product_type", "cname", "uid"),
}

PRODUCT_TYPES = ("Native", "WebRTC")


@dataclass(frozen=True)
class RealtimeMetric:
    """One real-time API metric and its family per scope (absent: not exposed)."""

    api_name: str
    endpoint: Endpoint
    families: dict[Scope, str]
    meaning: str

    def family(self, scope: Scope) -> str | None:
        return self.families.get(scope)

    def help_text(self, scope: Scope) -> str:
        where = {
            Scope.PROJECT: "whole project",
            Scope.CHANNEL: "one channel",
            Scope.USER: "one user in one channel",
        }[scope]
        return (
            f"{self.meaning} ({where}), from Agora's real-time API field {self.api_name} "
            "for one 20 s window; polled, not live."
        )


def _quality(api_name: str, stem: str, meaning: str) -> RealtimeMetric:
    return RealtimeMetric(
        api_name=api_name,
        endpoint=Endpoint.REALTIME_QUALITY,
        families={
            Scope.PROJECT: f"agora_realtime_{stem}_ratio",
            Scope.CHANNEL: f"agora_realtime_channel_{stem}_ratio",
            Scope.USER: f"agora_realtime_user_{stem}_ratio",
        },
        meaning=meaning,
    )


REALTIME_METRICS: dict[str, RealtimeMetric] = {
    m.api_name: m
    for m in (
        RealtimeMetric(
            api_name="userCount",
            endpoint=Endpoint.REALTIME_USAGE,
            families={
                Scope.PROJECT: "agora_realtime_users",
                Scope.CHANNEL: "agora_realtime_channel_users",
            },
            meaning="Users in channels",
        ),
        RealtimeMetric(
            api_name="channelCount",
            endpoint=Endpoint.REALTIME_USAGE,
            families={Scope.PROJECT: "agora_realtime_channels"},
            meaning="Channels in use",
        ),
        _quality("joinSuccessRate", "join_success", "Share of join attempts that succeeded"),
        _quality(
            "joinSuccessIn5sRate",
            "join_success_in_5s",
            "Share of join attempts that succeeded within 5 s",
        ),
        _quality(
            "audioFreezeRate",
            "audio_freeze",
            "Share of audio time frozen (stalls over 200 ms)",
        ),
        _quality(
            "videoFreezeRate",
            "video_freeze",
            "Share of video time frozen (stalls over 600 ms)",
        ),
        _quality(
            "networkDelay",
            "network_delay",
            "Share of audio and video time with end-to-end delay over 400 ms",
        ),
    )
}

USAGE_METRICS = tuple(
    name for name, m in REALTIME_METRICS.items() if m.endpoint is Endpoint.REALTIME_USAGE
)
QUALITY_METRICS = tuple(
    name for name, m in REALTIME_METRICS.items() if m.endpoint is Endpoint.REALTIME_QUALITY
)


class Granularity(StrEnum):
    """The Data Insights ``aggregateGranularity`` values the exporter asks for."""

    DAY = "1d"
    HOUR = "1h"

    @property
    def seconds(self) -> int:
        return 86400 if self is Granularity.DAY else 3600


@dataclass(frozen=True)
class InsightMetric:
    """One Data Insights metric and the families it becomes.

    ``api_name`` is the reference's spelling (the exporter sends it first and
    uses it as the ``metric`` label whatever the API accepted); ``alt_names``
    are other spellings Agora's docs use. ``scale`` turns the API's unit into
    the family's (60: minutes to seconds). Usage metrics are per app, quality
    metrics per app and product type; only quality metrics have an hourly family.
    """

    api_name: str
    endpoint: Endpoint
    daily_family: str
    hourly_family: str | None
    meaning: str
    scale: float = 1.0
    alt_names: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        if self.endpoint is Endpoint.INSIGHT_USAGE:
            return ("appid",)
        return ("appid", "product_type")

    def family(self, granularity: Granularity) -> str | None:
        return self.daily_family if granularity is Granularity.DAY else self.hourly_family

    def help_text(self, granularity: Granularity) -> str:
        period = "day" if granularity is Granularity.DAY else "hour"
        unit = " (the API reports minutes; converted to seconds)" if self.scale != 1.0 else ""
        return (
            f"{self.meaning} in the latest {period} Agora has published, from the Data "
            f"Insights field {self.api_name}{unit}; polled, not live."
        )


def _insight_usage(
    api_name: str, family: str, meaning: str, *, scale: float = 1.0, alt: tuple[str, ...] = ()
) -> InsightMetric:
    return InsightMetric(api_name, Endpoint.INSIGHT_USAGE, family, None, meaning, scale, alt)


def _insight_quality(api_name: str, stem: str) -> InsightMetric:
    meaning = REALTIME_METRICS[api_name].meaning
    return InsightMetric(
        api_name,
        Endpoint.INSIGHT_QUALITY,
        f"agora_daily_{stem}_ratio",
        f"agora_hourly_{stem}_ratio",
        meaning,
    )


INSIGHT_METRICS: dict[str, InsightMetric] = {
    m.api_name: m
    for m in (
        _insight_usage("userCount", "agora_daily_users", "Users who joined channels"),
        _insight_usage("sessionCount", "agora_daily_sessions", "Channel joins (sessions)"),
        _insight_usage("channelCount", "agora_daily_channels", "Channels used"),
        _insight_usage(
            "peakCurrentUsers",
            "agora_daily_peak_concurrent_users",
            "Peak concurrent users",
            alt=("peakConcurrentUsers",),
        ),
        _insight_usage(
            "peakCurrentChannels",
            "agora_daily_peak_concurrent_channels",
            "Peak concurrent channels",
            alt=("peakConcurrentChannels",),
        ),
        _insight_usage(
            "totalDuration",
            "agora_daily_duration_seconds",
            "Total call time summed over users",
            scale=60.0,
        ),
        _insight_usage(
            "totalVideoDuration",
            "agora_daily_video_duration_seconds",
            "Video call time summed over users",
            scale=60.0,
        ),
        _insight_usage(
            "totalAudioDuration",
            "agora_daily_audio_duration_seconds",
            "Audio-only call time summed over users",
            scale=60.0,
        ),
        _insight_quality("joinSuccessRate", "join_success"),
        _insight_quality("joinSuccessIn5sRate", "join_success_in_5s"),
        _insight_quality("audioFreezeRate", "audio_freeze"),
        _insight_quality("videoFreezeRate", "video_freeze"),
        _insight_quality("networkDelay", "network_delay"),
    )
}

INSIGHT_USAGE_METRICS = tuple(
    name for name, m in INSIGHT_METRICS.items() if m.endpoint is Endpoint.INSIGHT_USAGE
)
INSIGHT_QUALITY_METRICS = tuple(
    name for name, m in INSIGHT_METRICS.items() if m.endpoint is Endpoint.INSIGHT_QUALITY
)


@dataclass(frozen=True)
class SelfMetric:
    """A family about the exporter itself, for the README table."""

    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


WINDOW_TIMESTAMP = SelfMetric(
    "agora_realtime_window_timestamp_seconds",
    "gauge",
    ("appid", "product_type", "cname", "uid", "metric"),
    "Start of the 20 s window each real-time series shows now (Unix seconds).",
)
NEWEST_WINDOW_TIMESTAMP = SelfMetric(
    "agora_realtime_newest_window_timestamp_seconds",
    "gauge",
    ("appid", "product_type", "cname", "uid", "metric"),
    "Start of the newest 20 s window fetched for each real-time series (Unix seconds).",
)
UP = SelfMetric(
    "agora_up",
    "gauge",
    ("appid",),
    "1 when the last poll for the app succeeded, 0 when it failed (credentials, plan, faults).",
)
API_REQUESTS = SelfMetric(
    "agora_exporter_api_requests_total",
    "counter",
    ("endpoint", "outcome"),
    "Requests sent to the Agora API, by endpoint and outcome.",
)
API_DURATION = SelfMetric(
    "agora_exporter_api_request_duration_seconds",
    "histogram",
    ("endpoint",),
    "Time taken by requests to the Agora API.",
)
QUOTA_LIMIT = SelfMetric(
    "agora_exporter_quota_limit",
    "gauge",
    ("budget", "period"),
    "Requests the plan allows per budget and period (minute or day).",
)
QUOTA_USED = SelfMetric(
    "agora_exporter_quota_used",
    "gauge",
    ("budget", "period"),
    "Requests sent in the last 60 s (minute) or 24 h (day), per budget, from the ledger.",
)
POLL_INTERVAL = SelfMetric(
    "agora_exporter_poll_interval_seconds",
    "gauge",
    ("budget",),
    "Planned interval between two polls of one series, per budget.",
)
DAILY_TIMESTAMP = SelfMetric(
    "agora_daily_timestamp_seconds",
    "gauge",
    ("appid", "product_type", "metric"),
    "The API's ts of the day each agora_daily_* series shows (Unix seconds, as Agora gave it; "
    "product_type is empty for usage metrics).",
)
HOURLY_TIMESTAMP = SelfMetric(
    "agora_hourly_timestamp_seconds",
    "gauge",
    ("appid", "product_type", "metric"),
    "The API's ts of the hour each agora_hourly_* series shows (Unix seconds, as Agora gave it).",
)
WINDOWS_MISSED = SelfMetric(
    "agora_exporter_windows_missed_total",
    "counter",
    (),
    "20 s windows that fell out of the API's horizon before they could be fetched.",
)
BUILD_INFO = SelfMetric(
    "agora_exporter_build_info",
    "gauge",
    ("version", "python_version"),
    "Always 1; labels carry the exporter's version.",
)

SELF_METRICS: tuple[SelfMetric, ...] = (
    WINDOW_TIMESTAMP,
    NEWEST_WINDOW_TIMESTAMP,
    DAILY_TIMESTAMP,
    HOURLY_TIMESTAMP,
    UP,
    API_REQUESTS,
    API_DURATION,
    QUOTA_LIMIT,
    QUOTA_USED,
    POLL_INTERVAL,
    WINDOWS_MISSED,
    BUILD_INFO,
)


def metrics_table_markdown() -> str:
    """The README's metrics table, generated so it cannot drift from the code."""
    lines = [
        "| API metric | project scope | channel scope | user scope |",
        "|---|---|---|---|",
    ]
    for metric in REALTIME_METRICS.values():
        cells = [f"`{metric.family(s)}`" if metric.family(s) else "-" for s in Scope]
        lines.append(f"| `{metric.api_name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| Data Insights metric | daily family | hourly family (`hourly_quality`) | labels |",
        "|---|---|---|---|",
    ]
    for insight in INSIGHT_METRICS.values():
        hourly = f"`{insight.hourly_family}`" if insight.hourly_family else "-"
        labels = ", ".join(f"`{label}`" for label in insight.labels)
        names = " / ".join(f"`{name}`" for name in (insight.api_name, *insight.alt_names))
        lines.append(f"| {names} | `{insight.daily_family}` | {hourly} | {labels} |")
    lines += ["", "| family | type | labels | meaning |", "|---|---|---|---|"]
    for self_metric in SELF_METRICS:
        labels = ", ".join(f"`{label}`" for label in self_metric.labels) or "-"
        row = (self_metric.name, self_metric.kind, labels, self_metric.help)
        lines.append("| `{}` | {} | {} | {} |".format(*row))
    return "\n".join(lines) + "\n\n" + call_metrics_table_markdown()
