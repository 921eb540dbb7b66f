"""The HTML status page at ``/``: plan, quota use, freshness, alert latency and last errors.

Rendered from the same ``CollectorInput`` a scrape reads, so it can never
show something /metrics does not, and the plan's alert latency
(:mod:`exporter.serving.status_latency`); rendering does no I/O. The freshness table
holds the :data:`PAGE_ROWS` worst series rows (failing first, then the
stalest; see :mod:`exporter.serving.status_rows`) and says how many it left
out, so the page stays a few tens of KB at any number of series; every row is
in ``/status.json`` (:mod:`exporter.serving.status_json`).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from exporter import __version__
from exporter.calls.view import users
from exporter.quota.rules import periods
from exporter.serving.collector import CollectorInput
from exporter.serving.status_json import JSON_MAX_ROWS
from exporter.serving.status_latency import (
    ALONE_NOTE,
    LATENCY_NOTE,
    NO_LATENCY,
    PlanLatency,
    latency_cells,
)
from exporter.serving.status_rows import SeriesRow, worst_rows

PAGE_ROWS = 200
"""Series rows on the page: a few tens of KB at any number of series."""
ERROR_CHARS = 200
"""A series' last error is cut to this many characters here (whole in /status.json)."""

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "th{background:#f3f3f3}.bad{color:#b00}.ok{color:#070}"
)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "\u2026"


def _budget_rows(data: CollectorInput) -> list[list[str]]:
    rows = []
    for budget, state in sorted(data.budgets.items()):
        for period, _, cap in periods(state.limits):
            used = state.used.get(period, 0)
            rows.append([budget.value, period, f"{used} / {cap}", f"{state.interval_s} s"])
    return rows


def _series_cells(row: SeriesRow, data: CollectorInput) -> list[str]:
    status = row.status
    age = "-" if row.newest_ts is None else f"{data.now - row.newest_ts:.0f} s"
    if status is None:
        polled, outcome = "not yet", "-"
    else:
        polled, outcome = _when(status.last_poll_at), status.last_outcome or "-"
    error = "" if status is None or status.last_error is None else status.last_error
    timing = data.timing.get(row.series.key)
    every = "" if timing is None else f" (every {timing.interval_s} s, lag {timing.lag_s} s)"
    if row.paused:
        outcome, every = "PAUSED: no users", " (paused)"
    return [
        row.series.describe() + every,
        "" if row.uid is None else str(row.uid),
        _when(row.newest_ts),
        age,
        polled,
        outcome,
        _cut(error, ERROR_CHARS),
    ]


def _freshness_parts(data: CollectorInput) -> list[str]:
    rows, total = worst_rows(data, PAGE_ROWS)
    left_out = total - len(rows)
    if left_out:
        every = min(total, JSON_MAX_ROWS)
        link = f"/status.json?limit={every}"
        note = (
            f"<p>The {len(rows):,} worst of {total:,} rows, failing first, then the stalest; "
            f"<b>{left_out:,} left out</b>. Every row, as JSON: "
            f'<a href="{link}">{link}</a></p>'
        )
    else:
        note = f"<p>All {total:,} rows, failing first, then the stalest.</p>"
    headers = ["series (poll interval, replay lag)", "uid", "newest window", "age", "last poll"]
    headers += ["outcome", "error"]
    cells = [_series_cells(row, data) for row in rows]
    paused = ""
    if data.paused:
        paused = (
            f"<p><b>{len(data.paused):,} series paused</b>: their product type or channel "
            "had no users for the API's whole horizon; they are absent from /metrics and "
            "resume within one poll of its userCount once users are back.</p>"
        )
    return ["<h2>Freshness</h2>", note, paused, _table(headers, cells)]


def _latency_parts(latency: PlanLatency) -> list[str]:
    """Each shipped alert's expected latency under the plan, as ``agora-exporter plan``
    prints it; and per product type of an app with others, while only it has users."""
    alerts, alone = latency_cells(latency)
    parts = ["<h2>Alert latency</h2>"]
    if not alerts and not alone:
        return [*parts, "<p>No shipped alert rule reads a polled series.</p>"]
    parts += [f"<p>{html.escape(LATENCY_NOTE)}</p>"]
    parts += [_table(["alert", "latency", "series"], alerts)]
    if alone:
        headers = ["traffic only on", "alert", "latency", "series"]
        parts += [f"<p>{html.escape(ALONE_NOTE)}</p>", _table(headers, alone)]
    return parts


def _insight_parts(data: CollectorInput) -> list[str]:
    """The Data Insights section: each budget's passes, and the day each series shows."""
    insight = data.insight
    if not insight.series:
        return []
    budgets = [
        [
            state.budget.value,
            f"{state.cost} requests",
            f"{state.passes_per_day} (every {state.interval_s} s)",
            _when(state.last_pass_at),
            _when(state.next_pass_at),
            str(state.late),
        ]
        for state in insight.budgets
    ]
    shown = {one.series.key: one for one in insight.shown}
    rows = []
    for series in insight.series:
        point = shown.get(series.key)
        status = data.stats.series.get(series.key)
        outcome = status.last_outcome if status and status.last_outcome else "-"
        day = _when(point.ts) if point else "not published yet"
        value = f"{point.exposed_value:g}" if point else "-"
        rows.append([series.describe(), series.family, day, value, outcome])
    return [
        "<h2>Daily insight</h2>",
        _table(
            ["budget", "one pass", "passes per day", "last pass", "next pass", "late days"],
            budgets,
        ),
        _table(["series", "family", "day shown (API ts)", "value", "last poll"], rows),
    ]


def _call_parts(data: CollectorInput) -> list[str]:
    """The Call Inspector section: searches, caps, and the calls inspected now."""
    calls = data.calls
    if not calls.enabled:
        return []
    ongoing = ", ".join(f"{appid}: {n}" for appid, n in sorted(calls.ongoing.items())) or "-"
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(calls.skipped.items())) or "-"
    summary = (
        f"<p>One cycle every {calls.interval_s} s; last cycle {_when(calls.last_cycle_at)}. "
        f"Ongoing calls found: {html.escape(ongoing)}. Left out by caps since start: "
        f"{html.escape(skipped)}.</p>"
    )
    rows = []
    for call in calls.calls:
        newest = max((sample.ts for sample in call.samples), default=None)
        state = "finished" if call.finished else "ongoing"
        rows.append(
            [
                call.appid,
                call.cname,
                call.call_id,
                _when(call.created_ts),
                state,
                str(len(users(call))),
                _when(newest),
            ]
        )
    headers = ["appid", "cname", "call_id", "started", "state", "users", "newest sample"]
    return ["<h2>Call Inspector</h2>", summary, _table(headers, rows)]


def render_status(
    data: CollectorInput, *, plan_name: str, ready: bool, latency: PlanLatency = NO_LATENCY
) -> str:
    """The whole HTML page as one string, a bounded size whatever the number of series;
    ``latency`` is the plan's, worked out once per plan by the caller."""
    apps = [
        [appid, "up" if is_up else "DOWN"] for appid, is_up in sorted(data.stats.up.items())
    ] or [["(no poll finished yet)", ""]]
    errors = [
        [_when(entry.at), entry.where, entry.outcome, entry.message]
        for entry in reversed(data.stats.recent_errors)
    ] or [["-", "-", "-", "no errors"]]
    parts = [
        f"<!doctype html><html><head><title>agora-exporter</title><style>{_STYLE}</style>",
        "</head><body><h1>agora-exporter</h1>",
        f"<p>Version {html.escape(__version__)} &middot; plan <b>{html.escape(plan_name)}</b>",
        f" &middot; exposition <b>{data.mode.value}</b> &middot; ",
        f"{'<span class=ok>ready</span>' if ready else '<span class=bad>not ready</span>'}",
        f" &middot; {len(data.series)} series &middot; now {_when(data.now)}</p>",
        '<p><a href="/metrics">/metrics</a> &middot; <a href="/-/healthy">/-/healthy</a>',
        ' &middot; <a href="/-/ready">/-/ready</a>',
        ' &middot; <a href="/status.json">/status.json</a></p>',
        "<h2>Apps</h2>",
        _table(["appid", "state"], apps),
        "<h2>Quota</h2>",
        _table(["budget", "period", "used / limit", "poll interval"], _budget_rows(data)),
        f"<p>Windows missed (fell out of the API's horizon): {data.windows_missed_total}</p>",
    ]
    parts += _freshness_parts(data)
    parts += _latency_parts(latency)
    parts += _insight_parts(data)
    parts += _call_parts(data)
    parts += ["<h2>Recent errors</h2>", _table(["when", "where", "outcome", "message"], errors)]
    parts.append("</body></html>")
    return "".join(parts)
