"""Exporter health and quota: scrape and poll state, requests, quota, freshness, missed windows."""

from __future__ import annotations

from exporter.catalog.own import (
    API_DURATION,
    API_REQUESTS,
    BUILD_INFO,
    NEWEST_WINDOW_TIMESTAMP,
    POLL_INTERVAL,
    QUOTA_LIMIT,
    QUOTA_USED,
    UP,
    WINDOW_TIMESTAMP,
    WINDOWS_MISSED,
)
from tools.dashboards.config import Config
from tools.dashboards.console import console_row
from tools.dashboards.families import REPLAY_NOTE, Filters, app_variables, exporter_variables
from tools.dashboards.freshness import freshness_panels
from tools.dashboards.grafana import (
    Band,
    Json,
    Query,
    dashboard,
    datasource_variable,
    row,
    stat,
    text,
    timeseries,
)

UID = "agora-exporter-health"
UP_DOWN = [
    {"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0}}},
    {"type": "value", "options": {"1": {"text": "up", "color": "green", "index": 1}}},
]
UP_STEPS: list[Json] = [{"color": "red", "value": None}, {"color": "green", "value": 1}]
MISSED = Band(0, upper=True)
"""AgoraWindowsMissed fires on any missed window (> 0); so does the panel's red."""
NOTE = REPLAY_NOTE + (
    "\n\nThe planner spends up to 90 % of each daily budget (headroom 0.1); retries and "
    "backfills use the rest. Each request shape (one API request per poll) has its own "
    "poll interval and replay lag; *Overdue* is how far its newest window fetched is past "
    "twice its interval plus a minute, where AgoraDataStale fires."
)


def variables(f: Filters) -> list[Json]:
    return [datasource_variable(), *exporter_variables(f), *app_variables(f)]


def _state_panels(f: Filters) -> list[Json]:
    return [
        row("State"),
        stat(
            "Scrape target",
            "Prometheus' own up metric for the exporter: down means no Agora data at all.",
            [Query(f"up{{{f.exporter}}}", "{{instance}}")],
            unit="none",
            steps=UP_STEPS,
            mappings=UP_DOWN,
        ),
        stat(
            "Last poll per app",
            f"{UP.help} ({UP.name})",
            [Query(f"{UP.name}{{{f.app}}}", "{{appid}}")],
            unit="none",
            steps=UP_STEPS,
            mappings=UP_DOWN,
        ),
        *_age_panels(f),
    ]


def _age_panels(f: Filters) -> list[Json]:
    newest, shown = NEWEST_WINDOW_TIMESTAMP.name, WINDOW_TIMESTAMP.name
    missed = WINDOWS_MISSED.name
    return [
        stat(
            "Replay lag",
            "Now minus the start of the window the real-time series show (replay mode).",
            [Query(f"max(time() - {shown}{{{f.series}}})")],
            unit="s",
        ),
        stat(
            "Freshest data",
            "Age of the newest window fetched for any series: small whenever polls succeed.",
            [Query(f"min(time() - {newest}{{{f.series}}})")],
            unit="s",
        ),
        stat(
            "Windows missed",
            f"{WINDOWS_MISSED.help} Over the dashboard's time range.",
            [Query(f"sum(increase({missed}{{{f.exporter}}}[$__range]))")],
            unit="short",
            band=MISSED,
        ),
        stat(
            "Version",
            f"{BUILD_INFO.help} ({BUILD_INFO.name})",
            [Query(f"{BUILD_INFO.name}{{{f.exporter}}}", "{{version}}")],
            unit="none",
            text_mode="name",
        ),
    ]


def _request_panels(f: Filters) -> list[Json]:
    requests, duration = API_REQUESTS.name, API_DURATION.name
    rate = f"rate({requests}{{{f.exporter}}}[$__rate_interval])"
    buckets = f"rate({duration}_bucket{{{f.exporter}}}[$__rate_interval])"
    return [
        row("Requests to the Agora API"),
        timeseries(
            "Requests by outcome",
            f"{API_REQUESTS.help} Anything but success is an error class with its "
            "own retry policy (see the README).",
            [Query(f"sum by (outcome) ({rate})", "{{outcome}}")],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Requests by endpoint",
            f"{API_REQUESTS.help} Per endpoint, all outcomes.",
            [Query(f"sum by (endpoint) ({rate})", "{{endpoint}}")],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Request duration",
            f"{API_DURATION.help} Median and 95th percentile per endpoint.",
            [
                Query(
                    f"histogram_quantile({q}, sum by (le, endpoint) ({buckets}))",
                    f"p{round(q * 100)} {{{{endpoint}}}}",
                )
                for q in (0.5, 0.95)
            ],
            unit="s",
        ),
        timeseries(
            "Poll interval per budget",
            f"{POLL_INTERVAL.help} Derived from the plan's quota at start.",
            [Query(f"{POLL_INTERVAL.name}{{{f.exporter}}}", "{{budget}}")],
            unit="s",
        ),
    ]


def _quota_panels(f: Filters) -> list[Json]:
    band = f.config.quota_band()
    used, limit = QUOTA_USED.name, QUOTA_LIMIT.name
    return [
        row("Quota"),
        timeseries(
            "Quota used against limit",
            f"{QUOTA_USED.help} Divided by the limit, per budget and period; "
            f"AgoraQuotaNearlyExhausted fires above {band.limit:.0%} of the day.",
            [
                Query(
                    f"{used}{{{f.exporter}}} / {limit}{{{f.exporter}}}",
                    "{{budget}} per {{period}}",
                )
            ],
            unit="percentunit",
            band=band,
        ),
        timeseries(
            "Requests in the last 24 h",
            f"Requests sent in the last 24 h ({used}) and the daily limit ({limit}), per budget.",
            [
                Query(f'{used}{{{f.exporter}, period="day"}}', "{{budget}} used"),
                Query(f'{limit}{{{f.exporter}, period="day"}}', "{{budget}} limit"),
            ],
            unit="short",
        ),
    ]


def build(config: Config) -> Json:
    f = Filters(config)
    panels = [
        text("About these numbers", NOTE, size=(24, 4)),
        *_state_panels(f),
        *_request_panels(f),
        *_quota_panels(f),
        *freshness_panels(f),
        console_row(f),
    ]
    return dashboard(
        uid=UID,
        title="Agora exporter health and quota",
        description="Is agora-exporter polling, within quota, and how fresh is its data.",
        variables=variables(f),
        panels=panels,
    )
