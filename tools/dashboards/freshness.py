"""The Freshness row of the exporter-health dashboard: per request shape, how often it is
polled, how late replay shows it, how late each shipped alert fires, and what is overdue."""

from __future__ import annotations

from exporter.catalog.alerts import QUALITY_ALERTS
from exporter.catalog.own import (
    DAILY_TIMESTAMP,
    NEWEST_WINDOW_TIMESTAMP,
    SHAPE_POLL_INTERVAL,
    WINDOW_TIMESTAMP,
    WINDOWS_MISSED,
)
from exporter.catalog.realtime import Scope
from tools.dashboards.families import Filters
from tools.dashboards.grafana import Band, Json, Query, row, timeseries

OVERDUE = Band(0, upper=True)
"""AgoraDataStale fires once a shape is overdue (> 0) for 2 minutes."""
BY_SHAPE = "product_type, scope, metric"
SHAPE_LEGEND = "{{product_type}} {{scope}} {{metric}}"


def _overdue(f: Filters) -> Json:
    newest, interval = NEWEST_WINDOW_TIMESTAMP.name, SHAPE_POLL_INTERVAL.name
    return timeseries(
        "Overdue, worst request shape",
        f"time() - {newest} - (2 * {interval} + 60): how far the newest window fetched "
        "for a request shape is past twice its own poll interval plus a minute for the "
        "API's delay (a quiet channel's answered polls count as fetched). Above 0 for "
        "2 minutes, AgoraDataStale fires.",
        [
            Query(
                f"max by (appid, product_type, scope) (time() - {newest}{{{f.series}}} "
                f"- (2 * {interval}{{{f.series}}} + 60))",
                "{{appid}} {{product_type}} {{scope}}",
            )
        ],
        unit="s",
        band=OVERDUE,
    )


def _alert_latency(f: Filters) -> Json:
    shown = WINDOW_TIMESTAMP.name
    project = [alert for alert in QUALITY_ALERTS if alert.scope is Scope.PROJECT]
    return timeseries(
        "Expected alert latency",
        "Replay lag of the series each shipped project alert reads plus the rule's `for`: "
        "from an incident's first window to the alert firing (plus a scrape and a rule "
        "evaluation). `agora-exporter plan` prints the same from the plan.",
        [
            Query(
                f'max by (product_type) (time() - {shown}{{{f.series}, scope="project", '
                f'metric="{alert.metric}"}}) + {alert.for_s}',
                f"{{{{product_type}}}} {alert.name}",
            )
            for alert in project
        ],
        unit="s",
    )


def freshness_panels(f: Filters) -> list[Json]:
    shown, daily = WINDOW_TIMESTAMP.name, DAILY_TIMESTAMP.name
    interval, missed = SHAPE_POLL_INTERVAL.name, WINDOWS_MISSED.name
    return [
        row("Freshness"),
        _overdue(f),
        _alert_latency(f),
        timeseries(
            "Poll interval per request shape",
            f"{SHAPE_POLL_INTERVAL.help} The planner gives the alerting rates the shortest "
            "(realtime.weights) and pauses product types and channels without users.",
            [Query(f"max by ({BY_SHAPE}) ({interval}{{{f.series}}})", SHAPE_LEGEND)],
            unit="s",
        ),
        timeseries(
            "Replay lag per request shape",
            f"time() - {shown}: how far behind real time each request shape's window is "
            "shown (replay mode: about its poll interval plus the API's delay).",
            [Query(f"max by ({BY_SHAPE}) (time() - {shown}{{{f.series}}})", SHAPE_LEGEND)],
            unit="s",
        ),
        timeseries(
            "Windows missed per hour",
            WINDOWS_MISSED.help,
            [Query(f"increase({missed}{{{f.exporter}}}[1h])", "{{instance}}")],
            unit="short",
        ),
        timeseries(
            "Daily data age",
            f"time() - {daily}: how old the day shown by the daily families is.",
            [Query(f"max by (appid) (time() - {daily}{{{f.app}}})", "{{appid}}")],
            unit="s",
        ),
    ]
