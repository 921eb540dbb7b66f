"""Every API metric and the Prometheus families it becomes.

This is the one source for the collector, the README metrics table and the
dashboards: a family renamed here is renamed everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exporter.plans import Endpoint


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
    lines += ["", "| family | type | labels | meaning |", "|---|---|---|---|"]
    for self_metric in SELF_METRICS:
        labels = ", ".join(f"`{label}`" for label in self_metric.labels) or "-"
        row = (self_metric.name, self_metric.kind, labels, self_metric.help)
        lines.append("| `{}` | {} | {} | {} |".format(*row))
    return "\n".join(lines) + "\n"
