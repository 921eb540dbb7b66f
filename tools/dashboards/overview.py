"""Agora overview: users, channels and the five quality rates per product type, and daily data."""

from __future__ import annotations

from exporter.catalog.own import DAILY_TIMESTAMP, WINDOW_TIMESTAMP
from exporter.catalog.realtime import Scope
from tools.dashboards.config import Config
from tools.dashboards.families import (
    REPLAY_NOTE,
    TITLES,
    Filters,
    app_variables,
    daily,
    exporter_variables,
    quality_description,
    quality_metrics,
    realtime,
)
from tools.dashboards.grafana import (
    Json,
    Query,
    dashboard,
    datasource_variable,
    row,
    stat,
    table,
    text,
    timeseries,
    widths,
)

UID = "agora-overview"
DAILY_RANGE = "30d"


def variables(f: Filters) -> list[Json]:
    return [datasource_variable(), *exporter_variables(f), *app_variables(f)]


def _usage_panels(f: Filters) -> list[Json]:
    users, channels = realtime("userCount"), realtime("channelCount")
    lag = f"max(time() - {WINDOW_TIMESTAMP.name}{{{f.series}}})"
    return [
        row("Real-time usage (replayed 20 s windows)"),
        stat(
            "Replay lag",
            "How far behind the clock the real-time panels run: now minus the start of the "
            "window shown (poll interval + API delay + one window).",
            [Query(lag)],
            unit="s",
            size=(4, 8),
        ),
        stat(
            "Users",
            f"Users in channels in the window shown, all product types ({users}).",
            [Query(f"sum({users}{{{f.series}}})")],
            unit="short",
            size=(4, 8),
        ),
        stat(
            "Channels",
            f"Channels in use in the window shown, all product types ({channels}).",
            [Query(f"sum({channels}{{{f.series}}})")],
            unit="short",
            size=(4, 8),
        ),
        timeseries(
            "Users per product type",
            f"Users in channels per 20 s window ({users}).",
            [Query(f"sum by (appid, product_type) ({users}{{{f.series}}})", "{{product_type}}")],
            unit="short",
            size=(6, 8),
        ),
        timeseries(
            "Channels per product type",
            f"Channels in use per 20 s window ({channels}).",
            [Query(f"sum by (appid, product_type) ({channels}{{{f.series}}})", "{{product_type}}")],
            unit="short",
            size=(6, 8),
        ),
    ]


def _quality_panels(f: Filters) -> list[Json]:
    panels = [row("Real-time quality (replayed 20 s windows)")]
    metrics = quality_metrics()
    for name, width in zip(metrics, widths(len(metrics), 2), strict=True):
        family = realtime(name)
        panels.append(
            timeseries(
                TITLES[name],
                quality_description(name, Scope.PROJECT, f.bands[name]),
                [Query(f"{family}{{{f.series}}}", "{{product_type}} ({{appid}})")],
                unit="percentunit",
                band=f.bands[name],
                size=(width, 8),
            )
        )
    return panels


DAILY_COUNTS = {
    "users": "userCount",
    "sessions": "sessionCount",
    "channels": "channelCount",
    "peak concurrent users": "peakCurrentUsers",
    "peak concurrent channels": "peakCurrentChannels",
}
DAILY_DURATIONS = {
    "all calls": "totalDuration",
    "video": "totalVideoDuration",
    "audio only": "totalAudioDuration",
}


def _per_app(f: Filters, metrics: dict[str, str]) -> list[Query]:
    return [
        Query(f"sum by (appid) ({daily(api)}{{{f.app}}})", f"{label} {{{{appid}}}}")
        for label, api in metrics.items()
    ]


def _daily_usage_panels(f: Filters) -> list[Json]:
    day_shown = f"max({DAILY_TIMESTAMP.name}{{{f.app}}}) * 1000"
    return [
        row("Daily usage and quality (Data Insights, latest published day)"),
        stat(
            "Day shown",
            "Start of the day the daily panels show, as Agora stamps it "
            f"({DAILY_TIMESTAMP.name}); Agora publishes a day 6-12 h after it ends.",
            [Query(day_shown)],
            unit="dateTimeAsIso",
            size=(6, 4),
        ),
        stat(
            "Daily usage",
            "Users, sessions, channels and peaks of the latest published day.",
            [Query(f"sum({daily(api)}{{{f.app}}})", label) for label, api in DAILY_COUNTS.items()],
            unit="short",
            size=(18, 4),
        ),
        timeseries(
            "Daily users and sessions",
            "Users and channel joins per day, as each day was published.",
            _per_app(f, {k: DAILY_COUNTS[k] for k in ("users", "sessions")}),
            unit="short",
            time_from=DAILY_RANGE,
        ),
        timeseries(
            "Daily call time",
            "Call time summed over users per day (the API reports minutes; shown as time).",
            _per_app(f, DAILY_DURATIONS),
            unit="s",
            time_from=DAILY_RANGE,
        ),
    ]


def _daily_quality_panels(f: Filters) -> list[Json]:
    columns = {
        TITLES[name]: (Query(f"{daily(name)}{{{f.series}}}", instant=True), f.bands[name])
        for name in quality_metrics()
    }
    return [
        table(
            "Daily quality by product type",
            "The five quality rates of the latest published day per app and product type, "
            "coloured by their healthy bands.",
            columns,
            unit="percentunit",
            size=(24, 6),
        )
    ]


def build(config: Config) -> Json:
    f = Filters(config)
    panels = [
        text("About these numbers", REPLAY_NOTE),
        *_usage_panels(f),
        *_quality_panels(f),
        *_daily_usage_panels(f),
        *_daily_quality_panels(f),
    ]
    return dashboard(
        uid=UID,
        title="Agora overview",
        description="Agora real-time usage and quality per product type, and daily insight.",
        variables=variables(f),
        panels=panels,
    )
