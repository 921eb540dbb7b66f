"""The exporter's own families: freshness, health, requests and quota."""

from __future__ import annotations

from dataclasses import dataclass


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
