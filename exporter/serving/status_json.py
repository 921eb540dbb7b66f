"""``/status.json``: the status page's data for scripts. Pure: one ``CollectorInput`` in.

The same sections as the HTML page (plan, readiness, apps, budgets, series
rows worst first, alert latency, insight, Call Inspector, recent errors), with
Unix timestamps. :data:`JSON_ROWS` series rows unless ``?limit=N`` asks for another
number, at most :data:`JSON_MAX_ROWS`; ``series_total`` and ``series_left_out``
say how many there are. No credential can show: ``CollectorInput`` holds
none, and the error texts it carries are redacted where they are made.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qs

from exporter import __version__
from exporter.calls.view import users
from exporter.quota.rules import periods
from exporter.serving.collector import CollectorInput
from exporter.serving.status_latency import NO_LATENCY, PlanLatency, latency_entries
from exporter.serving.status_rows import SeriesRow, worst_rows

JSON_ROWS = 1_000
"""Series rows when no ``?limit=`` is given: the worst thousand."""
JSON_MAX_ROWS = 50_000
"""The most ``?limit=`` gets (a larger number gets this many): over twice the
22,010 series of ``make bench``, about 15 MB of JSON."""


def json_limit(query: str) -> int:
    """The number of series rows ``/status.json?{query}`` asks for (ValueError: not one)."""
    values = parse_qs(query).get("limit")
    if not values:
        return JSON_ROWS
    text = values[-1].strip()
    if not text.isdigit():
        raise ValueError(f"limit must be a whole number from 0 to {JSON_MAX_ROWS}, not {text!r}")
    return min(int(text), JSON_MAX_ROWS)


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity: those are null."""
    return value if math.isfinite(value) else None


def _series(row: SeriesRow, data: CollectorInput) -> dict[str, Any]:
    series, status, now = row.series, row.status, data.now
    timing = None if row.paused else data.timing.get(series.key)  # a paused one has none
    return {
        "key": series.key,
        "appid": series.appid,
        "product_type": series.product_type,
        "metric": series.metric,
        "scope": series.scope.value,
        "cname": series.cname,
        "uid": row.uid,
        "newest_window_ts": row.newest_ts,
        "age_s": None if row.newest_ts is None else round(now - row.newest_ts, 3),
        "failing": row.failing,
        "paused": row.paused,
        "interval_s": None if timing is None else timing.interval_s,
        "lag_s": None if timing is None else timing.lag_s,
        "last_poll_at": None if status is None else status.last_poll_at,
        "last_outcome": None if status is None else status.last_outcome,
        "last_error": None if status is None else status.last_error,
    }


def _budgets(data: CollectorInput) -> list[dict[str, Any]]:
    found = []
    for budget, state in sorted(data.budgets.items()):
        limits = {period: cap for period, _, cap in periods(state.limits)}
        found.append(
            {
                "budget": budget.value,
                "limits": limits,
                "used": {period: state.used.get(period, 0) for period in limits},
                "interval_s": state.interval_s,
                "lag_s": state.lag_s,
                "paused": state.paused,
            }
        )
    return found


def _insight(data: CollectorInput) -> dict[str, Any]:
    insight = data.insight
    shown = {one.series.key: one for one in insight.shown}
    series = []
    for one in insight.series:
        point = shown.get(one.key)
        status = data.stats.series.get(one.key)
        series.append(
            {
                "key": one.key,
                "appid": one.appid,
                "metric": one.metric,
                "product_type": one.product_type,
                "granularity": one.granularity.value,
                "family": one.family,
                "shown_ts": point.ts if point else None,
                "value": _number(point.exposed_value) if point else None,
                "last_outcome": status.last_outcome if status else None,
                "last_error": status.last_error if status else None,
            }
        )
    budgets = [
        {
            "budget": state.budget.value,
            "cost": state.cost,
            "passes_per_day": state.passes_per_day,
            "interval_s": state.interval_s,
            "last_pass_at": state.last_pass_at,
            "next_pass_at": state.next_pass_at,
            "late": state.late,
        }
        for state in insight.budgets
    ]
    return {"enabled": bool(insight.series), "budgets": budgets, "series": series}


def _calls(data: CollectorInput) -> dict[str, Any]:
    calls = data.calls
    return {
        "enabled": calls.enabled,
        "interval_s": calls.interval_s,
        "last_cycle_at": calls.last_cycle_at,
        "last_error": calls.last_error,
        "ongoing": dict(sorted(calls.ongoing.items())),
        "skipped": dict(sorted(calls.skipped.items())),
        "calls": [
            {
                "appid": call.appid,
                "cname": call.cname,
                "call_id": call.call_id,
                "created_ts": call.created_ts,
                "finished": call.finished,
                "users": len(users(call)),
                "newest_sample_ts": max((s.ts for s in call.samples), default=None),
            }
            for call in calls.calls
        ],
    }


def status_document(
    data: CollectorInput,
    *,
    plan_name: str,
    ready: bool,
    limit: int = JSON_ROWS,
    latency: PlanLatency = NO_LATENCY,
) -> dict[str, Any]:
    """The status page as plain data: the ``limit`` worst series rows, ``latency`` (the
    plan's, worked out once per plan by the caller), and everything else."""
    rows, total = worst_rows(data, min(limit, JSON_MAX_ROWS))
    return {
        "version": __version__,
        "plan": plan_name,
        "ready": ready,
        "now": data.now,
        "exposition": data.mode.value,
        "apps": [{"appid": appid, "up": up} for appid, up in sorted(data.stats.up.items())],
        "budgets": _budgets(data),
        "windows_missed_total": data.windows_missed_total,
        "series_total": total,
        "series_shown": len(rows),
        "series_left_out": total - len(rows),
        "series": [_series(row, data) for row in rows],
        "alert_latency": latency_entries(latency),
        "insight": _insight(data),
        "calls": _calls(data),
        "recent_errors": [
            {
                "at": entry.at,
                "where": entry.where,
                "outcome": entry.outcome,
                "message": entry.message,
            }
            for entry in reversed(data.stats.recent_errors)
        ],
    }


def render_status_json(
    data: CollectorInput,
    *,
    plan_name: str,
    ready: bool,
    limit: int = JSON_ROWS,
    latency: PlanLatency = NO_LATENCY,
) -> str:
    """``/status.json``: :func:`status_document` as compact JSON."""
    document = status_document(data, plan_name=plan_name, ready=ready, limit=limit, latency=latency)
    return json.dumps(document, separators=(",", ":"), allow_nan=False)
