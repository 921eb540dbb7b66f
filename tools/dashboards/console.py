"""The health dashboard's collapsed row on Agora Console alert callbacks (``alerts:``)."""

from __future__ import annotations

from exporter.catalog.own import (
    CONSOLE_ACCEPTED,
    CONSOLE_ACTIVE,
    CONSOLE_DUPLICATES,
    CONSOLE_FORWARD_FAILURES,
    CONSOLE_FORWARDED,
    CONSOLE_LAST_ALERT,
    CONSOLE_QUEUE_DEPTH,
    CONSOLE_REJECTED,
)
from tools.dashboards.families import Filters
from tools.dashboards.grafana import Json, Query, row, stat, text, timeseries

NOTE = (
    "Agora Console's Alert Notification posts each triggered rule to the exporter's "
    "alerts listener, which stores it and forwards it to Alertmanager at no quota "
    "(docs/console-alerts.md). Empty unless `alerts.enabled`. "
    "AgoraConsoleAlertsNotForwarded fires when posts to an Alertmanager keep failing."
)


def _rate(name: str, f: Filters) -> str:
    return f"rate({name}{{{f.exporter}}}[$__rate_interval])"


def _callback_panels(f: Filters) -> list[Json]:
    accepted, rejected = CONSOLE_ACCEPTED.name, CONSOLE_REJECTED.name
    return [
        timeseries(
            "Callbacks received",
            f"{CONSOLE_ACCEPTED.help} {CONSOLE_DUPLICATES.help} {CONSOLE_REJECTED.help}",
            [
                Query(f"sum by (kind) ({_rate(accepted, f)})", "accepted {{kind}}"),
                Query(f"sum({_rate(CONSOLE_DUPLICATES.name, f)})", "resends"),
                Query(f"sum by (reason) ({_rate(rejected, f)}) > 0", "refused: {{reason}}"),
            ],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Posts to Alertmanager",
            f"{CONSOLE_FORWARDED.help} {CONSOLE_FORWARD_FAILURES.help}",
            [
                Query(
                    f"sum by (alertmanager) ({_rate(CONSOLE_FORWARDED.name, f)})",
                    "taken {{alertmanager}}",
                ),
                Query(
                    f"sum by (alertmanager) ({_rate(CONSOLE_FORWARD_FAILURES.name, f)})",
                    "failed {{alertmanager}}",
                ),
            ],
            unit="ops",
        ),
    ]


def _state_panels(f: Filters) -> list[Json]:
    return [
        stat(
            "Waiting to be forwarded",
            CONSOLE_QUEUE_DEPTH.help,
            [Query(f"sum({CONSOLE_QUEUE_DEPTH.name}{{{f.exporter}}})")],
            unit="short",
        ),
        stat(
            "Holding",
            CONSOLE_ACTIVE.help,
            [Query(f"sum({CONSOLE_ACTIVE.name}{{{f.exporter}}})")],
            unit="short",
        ),
        timeseries(
            "Newest Console alert per project",
            f"time() - {CONSOLE_LAST_ALERT.name}: {CONSOLE_LAST_ALERT.help}",
            [
                Query(
                    f"max by (project) (time() - {CONSOLE_LAST_ALERT.name}{{{f.exporter}}})",
                    "{{project}}",
                )
            ],
            unit="s",
            size=(16, 8),
        ),
    ]


def console_row(f: Filters) -> Json:
    """The collapsed row: callbacks in, posts out, the queue."""
    panels = [
        text("About Console alerts", NOTE, size=(24, 2)),
        *_callback_panels(f),
        *_state_panels(f),
    ]
    return row("Agora Console alerts (callbacks forwarded to Alertmanager)", panels)
