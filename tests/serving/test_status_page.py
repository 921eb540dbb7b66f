"""The status page at ``/`` and ``/status.json``: worst first, capped, bounded, no secret.

Rendered from a hand-built ``CollectorInput`` (a fake store snapshot and real
``RuntimeStats``) for the order, the cap and the size; over HTTP against a
running daemon and the simulator for the JSON's shape, its content type and
the credentials the API echoes back.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.agora.limits import Budget, Plan, limits_for
from exporter.catalog.realtime import Scope
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.series import Series
from exporter.serving.collector import BudgetState, CollectorInput
from exporter.serving.server import MetricsServer, Routes
from exporter.serving.status_json import JSON_MAX_ROWS, JSON_ROWS, render_status_json
from exporter.serving.status_page import PAGE_ROWS, render_status
from exporter.simulator import Fault
from tests.configs import CUSTOMER_ID, SECRET, small_config
from tests.daemon_helpers import APPID, live_simulator, running_app, wait_until
from tests.windowdata import FakeSeriesWindows, FakeWindowSource

T0 = 1_700_000_000
NOW = T0 + 600
QUALITY = (
    "joinSuccessRate",
    "joinSuccessIn5sRate",
    "audioFreezeRate",
    "videoFreezeRate",
    "networkDelay",
)
TOKEN = base64.b64encode(f"{CUSTOMER_ID}:{SECRET}".encode()).decode()
NEEDLES = (CUSTOMER_ID, SECRET, TOKEN)
NO_AUTH = "you have no auth to access this service"


def _input(
    series: list[Series], windows: dict[str, FakeSeriesWindows], stats: RuntimeStats
) -> CollectorInput:
    limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
    assert limits is not None
    budget = BudgetState(limits=limits, interval_s=400, lag_s=440, used={"minute": 2, "day": 57})
    return CollectorInput(
        now=NOW,
        series=series,
        budgets={Budget.REALTIME: budget},
        windows=FakeWindowSource(windows),
        windows_missed_total=3,
        stats=stats.snapshot(),
    )


def _freshness(page: str) -> list[list[str]]:
    """The cells of the freshness table, row by row (the header left out)."""
    table = page.split("<h2>Freshness</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    return [re.findall(r"<td>(.*?)</td>", row) for row in rows]


def _channel(n: int) -> Series:
    return Series(APPID, "Native", "audioFreezeRate", Scope.CHANNEL, f"room-{n:04d}")


# --- worst first -------------------------------------------------------------------------


def test_failing_series_come_first_then_the_stalest_then_the_rest() -> None:
    fresh, stale, failing, never, empty = (_channel(n) for n in range(5))
    users = Series(APPID, "Native", "audioFreezeRate", Scope.USER, "room-0009", (1001, 1002))
    stats = RuntimeStats()
    for one in (fresh, stale, empty, users):
        stats.record_poll(series_key=one.key, appid=APPID, at=NOW - 30, outcome="success")
    stats.record_poll(
        series_key=failing.key, appid=APPID, at=NOW - 10, outcome="server_error", error="HTTP 500"
    )
    windows = {
        fresh.key: FakeSeriesWindows({None: {T0 + 500: 0.1}}),
        stale.key: FakeSeriesWindows({None: {T0: 0.1}}),
        failing.key: FakeSeriesWindows({None: {T0 + 580: 0.1}}),  # the freshest, but failing
        empty.key: FakeSeriesWindows(),  # polled, the API had nothing
        users.key: FakeSeriesWindows({1001: {T0 + 100: 0.2}}),  # uid 1002 never answered
    }
    data = _input([fresh, stale, failing, never, empty, users], windows, stats)

    rows = _freshness(render_status(data, plan_name="enterprise", ready=True))
    order = [(cells[0].split()[4].removeprefix("cname="), cells[1]) for cells in rows]
    assert order == [
        ("room-0002", ""),  # failing
        ("room-0003", ""),  # never polled, no window
        ("room-0004", ""),  # polled, no window
        ("room-0009", "1002"),  # this uid: no window
        ("room-0001", ""),  # newest window T0
        ("room-0009", "1001"),  # T0 + 100
        ("room-0000", ""),  # T0 + 500
    ]
    assert rows[0][4:] == ["2023-11-14 22:23:10 UTC", "server_error", "HTTP 500"]
    assert rows[1][2:6] == ["never", "-", "not yet", "-"]
    assert "All 7 rows" in render_status(data, plan_name="enterprise", ready=True)

    document = json.loads(render_status_json(data, plan_name="enterprise", ready=True))
    assert [(one["cname"], one["uid"]) for one in document["series"]] == [
        ("room-0002", None),
        ("room-0003", None),
        ("room-0004", None),
        ("room-0009", 1002),
        ("room-0001", None),
        ("room-0009", 1001),
        ("room-0000", None),
    ]
    first = document["series"][0]
    assert first["failing"] is True
    assert (first["last_outcome"], first["last_error"]) == ("server_error", "HTTP 500")
    assert (first["newest_window_ts"], first["age_s"]) == (T0 + 580, 20)


# --- the cap -----------------------------------------------------------------------------


def _thousand() -> tuple[CollectorInput, list[str]]:
    """1,000 channel series: every 100th from 7 failing, four without a window; and the
    cnames worst first, worked out here independently of the page's own sort."""
    series = [_channel(n) for n in range(1000)]
    stats = RuntimeStats()
    windows: dict[str, FakeSeriesWindows] = {}
    failing: list[tuple[int, str, str | None]] = []
    rest: list[tuple[int, str, str | None]] = []
    no_window: list[tuple[str, str | None]] = []
    for n, one in enumerate(series):
        newest = T0 - 20 * ((n * 7919) % 53)
        error = "HTTP 503 from the API" if n % 100 == 7 else None
        outcome = "server_error" if error else "success"
        stats.record_poll(series_key=one.key, appid=APPID, at=NOW, outcome=outcome, error=error)
        if n % 250 == 3:
            no_window.append((one.key, one.cname))
            continue
        windows[one.key] = FakeSeriesWindows({None: {newest: 0.5}})
        (failing if error else rest).append((newest, one.key, one.cname))
    expected = [c for *_, c in sorted(failing)] + [c for _, c in sorted(no_window)]
    expected += [c for *_, c in sorted(rest)]
    return _input(series, windows, stats), [str(cname) for cname in expected]


def test_the_page_shows_the_worst_rows_up_to_the_cap_and_says_how_many_it_left_out() -> None:
    data, expected = _thousand()
    page = render_status(data, plan_name="enterprise", ready=True)

    rows = _freshness(page)
    assert len(rows) == PAGE_ROWS == 200
    assert [cells[0].split()[4].removeprefix("cname=") for cells in rows] == expected[:200]
    assert sum(cells[5] == "server_error" for cells in rows) == 10, "every failing one shown"
    assert "The 200 worst of 1,000 rows" in page
    assert "<b>800 left out</b>" in page
    assert '<a href="/status.json?limit=1000">/status.json?limit=1000</a>' in page
    for section in ("<h2>Apps</h2>", "<h2>Quota</h2>", "<h2>Recent errors</h2>"):
        assert section in page, "every other section stays"
    assert "<td>realtime</td><td>day</td><td>57 / 1440</td><td>400 s</td>" in page


def test_the_json_defaults_to_the_worst_thousand_and_takes_a_limit() -> None:
    data, expected = _thousand()
    whole = json.loads(render_status_json(data, plan_name="enterprise", ready=True))
    assert whole["series_total"] == 1000
    assert (whole["series_shown"], whole["series_left_out"]) == (1000, 0)
    assert [one["cname"] for one in whole["series"]] == expected

    few = json.loads(render_status_json(data, plan_name="enterprise", ready=True, limit=5))
    assert [one["cname"] for one in few["series"]] == expected[:5]
    assert (few["series_shown"], few["series_left_out"]) == (5, 995)


# --- 22,010 series: the size stays bounded -----------------------------------------------


def _bench_input() -> CollectorInput:
    """``make bench``'s 22,010 series: 200 channels x 10 uids x 5 quality metrics x 2
    product types, with the channel and project series; one in 97 failing with a long error."""
    series = []
    for product in ("Native", "WebRTC"):
        for metric in QUALITY:
            series.append(Series(APPID, product, metric, Scope.PROJECT))
            for room in range(200):
                cname = f"room-{room:03d}"
                uids = tuple(range(10_000 + room * 10, 10_010 + room * 10))
                series.append(Series(APPID, product, metric, Scope.CHANNEL, cname))
                series.append(Series(APPID, product, metric, Scope.USER, cname, uids))
    stats = RuntimeStats()
    windows: dict[str, FakeSeriesWindows] = {}
    for n, one in enumerate(series):
        error = f"Agora real-time quality: the API failed ({'x' * 400})" if n % 97 == 0 else None
        outcome = "api_error" if error else "success"
        stats.record_poll(series_key=one.key, appid=APPID, at=NOW, outcome=outcome, error=error)
        newest = {uid: {T0 - 20 * (n % 90): 0.01} for uid in one.uids or (None,)}
        windows[one.key] = FakeSeriesWindows(dict(newest))
    return _input(series, windows, stats)


def test_the_page_stays_small_at_22010_series() -> None:
    data = _bench_input()
    assert sum(max(1, len(one.uids)) for one in data.series) == 22_010

    page = render_status(data, plan_name="enterprise", ready=True)
    assert len(page.encode()) < 200_000
    assert "<b>21,810 left out</b>" in page
    assert "/status.json?limit=22010" in page
    rows = _freshness(page)
    assert len(rows) == 200
    failing = sum(1 for n in range(len(data.series)) if n % 97 == 0)
    assert [cells[5] for cells in rows[:failing]] == ["api_error"] * failing
    assert all(len(cells[6]) <= 200 for cells in rows), "a long error is cut on the page"

    document = json.loads(render_status_json(data, plan_name="enterprise", ready=True))
    assert (document["series_total"], document["series_shown"]) == (22_010, JSON_ROWS)
    assert len(document["series"][0]["last_error"]) > 400, "whole in the JSON"
    every = json.loads(
        render_status_json(data, plan_name="enterprise", ready=True, limit=JSON_MAX_ROWS)
    )
    assert every["series_left_out"] == 0
    assert len({(one["key"], one["uid"]) for one in every["series"]}) == 22_010


# --- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[str]:
    """A daemon polling the simulator; its base URL once every series was polled."""
    with live_simulator() as sim, running_app(small_config(sim.base_url, tmp_path)) as app:
        base = f"http://127.0.0.1:{app.port}"
        expected = len(app.plan.series)
        wait_until(lambda: _polled(base) == expected, timeout_s=60, what="every series polled once")
        yield base


def _polled(base: str) -> int:
    document = httpx.get(base + "/status.json", timeout=10).json()
    return len({one["key"] for one in document["series"] if one["last_poll_at"] is not None})


def test_status_json_over_http_is_the_status_page_as_json(healthy: str) -> None:
    answer = httpx.get(healthy + "/status.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    document: dict[str, Any] = answer.json()

    assert (document["plan"], document["ready"], document["exposition"]) == (
        "enterprise",
        True,
        "replay",
    )
    assert document["apps"] == [{"appid": APPID, "up": True}]
    [budget] = document["budgets"]
    assert budget["budget"] == "realtime"
    assert budget["limits"] == {"minute": 10, "day": 1440}
    assert set(budget["used"]) == {"minute", "day"}
    assert budget["used"]["day"] >= 6
    assert budget["interval_s"] > 0
    assert budget["lag_s"] > 0
    # 6 series: 3 project, 2 channel, 1 of users 1001 and 1002: 7 rows.
    assert (document["series_total"], document["series_left_out"]) == (7, 0)
    for one in document["series"]:
        assert set(one) == {
            "key", "appid", "product_type", "metric", "scope", "cname", "uid",
            "newest_window_ts", "age_s", "failing", "paused", "interval_s", "lag_s",
            "last_poll_at", "last_outcome", "last_error",
        }  # fmt: skip
        assert (one["appid"], one["last_outcome"], one["failing"]) == (APPID, "success", False)
        assert one["paused"] is False
        assert 0 < one["interval_s"] < one["lag_s"], "its own poll interval and replay lag"
    assert budget["paused"] == 0
    # audioFreezeRate at project and channel scope: one alert each; one product type, so
    # no entry for a product type alone.
    assert [(one["alert"], one["series"], one["alone"]) for one in document["alert_latency"]] == [
        ("AgoraAudioFreezeRateHigh", 1, None),
        ("AgoraChannelAudioFreezeRateHigh", 1, None),
    ]
    assert document["recent_errors"] == []
    assert document["insight"]["enabled"] is False
    assert document["calls"]["enabled"] is False

    limited = httpx.get(healthy + "/status.json?limit=2", timeout=10).json()
    assert [one["key"] for one in limited["series"]] == [
        one["key"] for one in document["series"][:2]
    ]
    assert (limited["series_shown"], limited["series_left_out"]) == (2, 5)

    bad = httpx.get(healthy + "/status.json?limit=lots", timeout=10)
    assert bad.status_code == 400
    assert bad.headers["Content-Type"] == "application/json"
    assert "limit must be a whole number" in bad.json()["error"]

    page = httpx.get(healthy + "/", timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "All 7 rows" in page.text
    assert "<td>AgoraAudioFreezeRateHigh</td>" in page.text.split("<h2>Alert latency</h2>")[1]
    assert '<a href="/status.json">' in page.text


def test_neither_page_shows_the_credentials_the_api_echoes_back(tmp_path: Path) -> None:
    with live_simulator() as sim:
        echo = f"{NO_AUTH} for {CUSTOMER_ID}:{SECRET} ({TOKEN}) {SECRET}"
        sim.faults.inject(Fault.CODE_300, message=echo)
        with running_app(small_config(sim.base_url, tmp_path)) as app:
            base = f"http://127.0.0.1:{app.port}"
            wait_until(
                lambda: bool(httpx.get(base + "/status.json", timeout=10).json()["recent_errors"]),
                timeout_s=60,
                what="the refusal on the status page",
            )
            text = httpx.get(base + f"/status.json?limit={JSON_MAX_ROWS}", timeout=10).text
            page = httpx.get(base + "/", timeout=10).text
    document = json.loads(text)
    [error] = document["recent_errors"]
    assert error["outcome"] == "no_access"
    assert "[redacted]" in error["message"], "the echo reached the page, redacted"
    first = document["series"][0]
    assert (first["key"], first["failing"], first["last_error"]) == (
        error["where"],
        True,
        error["message"],
    )
    assert document["apps"] == [{"appid": APPID, "up": False}]
    assert "no_access" in page
    for needle in NEEDLES:
        assert needle not in text
        assert needle not in page


def test_a_server_without_a_status_json_route_answers_404() -> None:
    routes = Routes(
        metrics=lambda accept, encoding: (b"", {}), status_page=lambda: "", is_ready=lambda: True
    )
    server = MetricsServer(routes, host="127.0.0.1", port=0)
    server.start()
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/status.json", timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 404
