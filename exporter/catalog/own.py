"""The exporter's own families: freshness, health, requests, quota, build and process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SelfMetric:
    """A family about the exporter itself, for the README table."""

    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


SHAPE_LABELS = ("appid", "product_type", "scope", "cname", "uids", "metric")
"""One series per request shape (one API request per poll): ``scope`` is project, channel
or user; ``cname`` is empty at project scope, ``uids`` (the request's uids, comma
separated) empty but at user scope. Every uid of one request shares its windows."""

WINDOW_TIMESTAMP = SelfMetric(
    "agora_realtime_window_timestamp_seconds",
    "gauge",
    SHAPE_LABELS,
    "Start of the 20 s window each real-time request shape shows now (Unix seconds).",
)
NEWEST_WINDOW_TIMESTAMP = SelfMetric(
    "agora_realtime_newest_window_timestamp_seconds",
    "gauge",
    SHAPE_LABELS,
    "Start of the newest 20 s window fetched for each real-time request shape (Unix seconds).",
)
SHAPE_POLL_INTERVAL = SelfMetric(
    "agora_realtime_poll_interval_seconds",
    "gauge",
    SHAPE_LABELS,
    "Planned interval between two polls of each real-time request shape (seconds).",
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
    "Requests the plan allows per budget and period (second, minute or day; only the periods "
    "the plan limits).",
)
QUOTA_USED = SelfMetric(
    "agora_exporter_quota_used",
    "gauge",
    ("budget", "period"),
    "Requests sent in the last 1 s (second), 60 s (minute) or 24 h (day), per budget, "
    "from the ledger.",
)
POLL_INTERVAL = SelfMetric(
    "agora_exporter_poll_interval_seconds",
    "gauge",
    ("budget",),
    "Longest planned interval between two polls of a series, per budget (each real-time "
    "request shape's own: agora_realtime_poll_interval_seconds).",
)
SERIES_PAUSED = SelfMetric(
    "agora_exporter_series_paused",
    "gauge",
    ("budget",),
    "Real-time series paused while their product type or channel has no users, per budget.",
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
    ("version", "revision", "python_version"),
    "Always 1; labels carry the exporter's version, the git commit it was built from "
    "(unknown when not known) and the Python version.",
)

# Agora Console alert callbacks (the alerts section, opt-in; exporter/console/).
CONSOLE_ACCEPTED = SelfMetric(
    "agora_exporter_console_alerts_accepted_total",
    "counter",
    ("kind",),
    "Console alert callbacks stored, by kind (metric or event).",
)
CONSOLE_DUPLICATES = SelfMetric(
    "agora_exporter_console_alerts_duplicates_total",
    "counter",
    (),
    "Console alert callbacks dropped as Agora's resends.",
)
CONSOLE_REJECTED = SelfMetric(
    "agora_exporter_console_alerts_rejected_total",
    "counter",
    ("reason",),
    "Console alert requests refused, by reason.",
)
CONSOLE_FORWARDED = SelfMetric(
    "agora_exporter_console_alerts_forwarded_total",
    "counter",
    ("alertmanager",),
    "Console alerts an Alertmanager took (re-sends too).",
)
CONSOLE_FORWARD_FAILURES = SelfMetric(
    "agora_exporter_console_alerts_forward_failures_total",
    "counter",
    ("alertmanager",),
    "Failed posts of Console alerts to an Alertmanager.",
)
CONSOLE_QUEUE_DEPTH = SelfMetric(
    "agora_exporter_console_alerts_queue_depth",
    "gauge",
    (),
    "Console alerts not yet delivered, once per Alertmanager.",
)
CONSOLE_ACTIVE = SelfMetric(
    "agora_exporter_console_alerts_active",
    "gauge",
    (),
    "Console alerts within their hold, re-sent every minute.",
)
CONSOLE_LAST_ALERT = SelfMetric(
    "agora_exporter_console_alerts_last_alert_timestamp_seconds",
    "gauge",
    ("project",),
    "Arrival of each project's newest Console alert (100 projects at most).",
)
CONSOLE_METRICS: tuple[SelfMetric, ...] = (
    CONSOLE_ACCEPTED,
    CONSOLE_DUPLICATES,
    CONSOLE_REJECTED,
    CONSOLE_FORWARDED,
    CONSOLE_FORWARD_FAILURES,
    CONSOLE_QUEUE_DEPTH,
    CONSOLE_ACTIVE,
    CONSOLE_LAST_ALERT,
)
"""Shown only while the alerts section is enabled."""

# The process section: prometheus_client's ProcessCollector (reading /proc, so Linux
# only) and PlatformCollector, with their own names and HELP texts.
PROCESS_CPU = SelfMetric(
    "process_cpu_seconds_total",
    "counter",
    (),
    "Total user and system CPU time spent in seconds.",
)
PROCESS_RESIDENT_MEMORY = SelfMetric(
    "process_resident_memory_bytes", "gauge", (), "Resident memory size in bytes."
)
PROCESS_VIRTUAL_MEMORY = SelfMetric(
    "process_virtual_memory_bytes", "gauge", (), "Virtual memory size in bytes."
)
PROCESS_START_TIME = SelfMetric(
    "process_start_time_seconds",
    "gauge",
    (),
    "Start time of the process since unix epoch in seconds.",
)
PROCESS_OPEN_FDS = SelfMetric("process_open_fds", "gauge", (), "Number of open file descriptors.")
PROCESS_MAX_FDS = SelfMetric(
    "process_max_fds", "gauge", (), "Maximum number of open file descriptors."
)
PYTHON_INFO = SelfMetric(
    "python_info",
    "gauge",
    ("implementation", "major", "minor", "patchlevel", "version"),
    "Python platform information",
)

PROCESS_METRICS: tuple[SelfMetric, ...] = (
    PROCESS_VIRTUAL_MEMORY,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
    PROCESS_CPU,
    PROCESS_OPEN_FDS,
    PROCESS_MAX_FDS,
    PYTHON_INFO,
)
"""The process section, in its order: read at most once a second (process_* need /proc)."""

SELF_METRICS: tuple[SelfMetric, ...] = (
    WINDOW_TIMESTAMP,
    NEWEST_WINDOW_TIMESTAMP,
    SHAPE_POLL_INTERVAL,
    DAILY_TIMESTAMP,
    HOURLY_TIMESTAMP,
    UP,
    API_REQUESTS,
    API_DURATION,
    QUOTA_LIMIT,
    QUOTA_USED,
    POLL_INTERVAL,
    SERIES_PAUSED,
    WINDOWS_MISSED,
    BUILD_INFO,
    *CONSOLE_METRICS,
    *PROCESS_METRICS,
)
