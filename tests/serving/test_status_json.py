"""The status pages under a real plan: each series' own interval and lag, paused series,
and each shipped alert's expected latency, as ``agora-exporter plan`` prints it.

Read through a real ``ScrapeSource`` (a store in ``tmp_path``, real
``RuntimeStats``, a fake clock) holding a plan :func:`make_plan` made from the
default Enterprise configuration: one app, both product types, 2 usage + 5
quality metrics, 14 series. The expected figures come from
:mod:`exporter.scheduling.latency` on the same plan.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.agora.limits import Budget
from exporter.quota.request_stats import RuntimeStats
from exporter.scheduling.latency import alert_latencies, alone_latencies, spoken_s
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.scheduling.priorities import TrafficGroup
from exporter.scheduling.report import render_plan
from exporter.serving.scrape import ScrapeSource
from exporter.settings import Settings
from exporter.store import Store
from tests.configs import settings_from, small_config, small_insight_config
from tests.daemon_helpers import APPID
from tests.fakes import FakeClock

BASE_URL = "http://127.0.0.1:9"  # never called: nothing here polls
FREEZE = ("AgoraAudioFreezeRateHigh", "AgoraVideoFreezeRateHigh")
WEBRTC = TrafficGroup(APPID, "WebRTC")


def _default_settings(state_dir: Path) -> Settings:
    """The default Enterprise configuration: one app, nothing but its appid set."""
    config = small_config(BASE_URL, state_dir)
    config["apps"][0] = {"appid": APPID, "insight": {"enabled": False}}
    return settings_from(config)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _default_settings(tmp_path / "state")


@pytest.fixture
def source(settings: Settings, tmp_path: Path) -> Iterator[ScrapeSource]:
    clock = FakeClock()
    with Store(tmp_path / "state", clock=clock) as store:
        yield ScrapeSource(
            store=store,
            stats=RuntimeStats(),
            clock=clock,
            plan=make_plan(settings),
            exposition=settings.exposition,
        )


def _document(source: ScrapeSource) -> dict[str, Any]:
    status, body, _ = source.status_json("limit=100")
    assert status == 200
    document: dict[str, Any] = json.loads(body)
    return document


def _section(page: str, title: str) -> list[list[list[str]]]:
    """The tables of one ``<h2>`` section: each a list of rows of cells (headers left out)."""
    section = page.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]
    tables = re.findall(r"<table>(.*?)</table>", section)
    return [
        [[html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)] for row in rows]
        for rows in (re.findall(r"<tr>(.*?)</tr>", table)[1:] for table in tables)
    ]


# --- each series' own interval and lag, and paused series ----------------------------------


def test_an_active_series_shows_its_own_interval_and_lag(source: ScrapeSource) -> None:
    plan = source.plan
    document = _document(source)

    rows = {row["key"]: row for row in document["series"]}
    assert set(rows) == {one.key for one in plan.series}
    for key, row in rows.items():
        timing = plan.timing[key]
        assert (row["interval_s"], row["lag_s"]) == (timing.interval_s, timing.lag_s)
        assert (row["paused"], row["failing"]) == (False, False)
    [budget] = document["budgets"]
    freeze = [row for row in rows.values() if row["metric"].endswith("FreezeRate")]
    assert freeze, "the default config polls the freeze rates"
    assert all(row["interval_s"] < budget["interval_s"] for row in freeze), (
        "its own, not the budget's"
    )
    assert budget["paused"] == 0


def test_a_paused_series_shows_paused_with_no_interval_and_is_not_failing(
    source: ScrapeSource,
) -> None:
    plan = source.plan.with_idle({WEBRTC})
    source.adopt_plan(plan)
    [web_freeze] = [one for one in plan.paused_series if one.metric == "audioFreezeRate"]
    native = next(one for one in plan.active if one.product_type == "Native")
    for one, error in ((web_freeze, "HTTP 500 before the pause"), (native, "HTTP 503")):
        source.stats.record_poll(
            series_key=one.key, appid=APPID, at=source.clock(), outcome="server_error", error=error
        )
    document = _document(source)

    rows = {row["key"]: row for row in document["series"]}
    paused = [row for row in document["series"] if row["paused"]]
    assert {row["key"] for row in paused} == plan.paused
    assert document["series"][-len(paused) :] == paused, "paused rows come last"
    for row in paused:
        assert (row["interval_s"], row["lag_s"], row["failing"]) == (None, None, False)
    assert rows[web_freeze.key]["last_error"] == "HTTP 500 before the pause"
    failing = rows[native.key]
    assert (failing["failing"], failing["paused"]) == (True, False)
    assert document["series"][0] == failing, "a failing series comes first, a paused one not"
    timing = plan.timing[native.key]
    assert (failing["interval_s"], failing["lag_s"]) == (timing.interval_s, timing.lag_s)
    [budget] = document["budgets"]
    assert budget["paused"] == len(plan.paused) == 6

    page = source.status_page()
    [table] = _section(page, "Freshness")
    web_row = next(cells for cells in table if cells[0].startswith(web_freeze.describe()))
    assert web_row[0].endswith("(paused)")
    assert web_row[5] == "PAUSED: no users"


def test_a_budget_without_real_time_series_has_no_paused_count(tmp_path: Path) -> None:
    settings = settings_from(small_insight_config(BASE_URL, tmp_path / "state"))
    clock = FakeClock()
    with Store(tmp_path / "state", clock=clock) as store:
        source = ScrapeSource(
            store=store,
            stats=RuntimeStats(),
            clock=clock,
            plan=make_plan(settings),
            exposition=settings.exposition,
        )
        budgets = {budget["budget"]: budget["paused"] for budget in _document(source)["budgets"]}
    assert budgets[Budget.REALTIME.value] == 0
    assert budgets[Budget.INSIGHT_USAGE.value] is None


# --- alert latency -------------------------------------------------------------------------


def _plan_line(plan: PollPlan, name: str, group: TrafficGroup | None = None) -> str:
    """What ``agora-exporter plan`` says of ``name`` (alone on ``group``), spaces squeezed."""
    text = render_plan(plan)
    if group is not None:
        text = text.split(f"{group.describe()} alone:", 1)[1]
    line = next(line for line in text.splitlines() if line.strip().startswith(f"{name}:"))
    return " ".join(line.split()).removeprefix(f"{name}: ")


def test_the_page_shows_the_default_freeze_alerts_at_the_latency_plan_computes(
    source: ScrapeSource,
) -> None:
    plan = source.plan
    expected = {one.alert.name: one for one in alert_latencies(plan)}
    alone = dict(alone_latencies(plan))
    page = source.status_page()

    alerts, by_type = _section(page, "Alert latency")
    shown = {cells[0]: cells[1:] for cells in alerts}
    assert list(shown) == list(expected), "every alert with polled series, in the rules' order"
    for name in FREEZE:
        one = expected[name]
        [lag] = one.lags
        latency = f"{spoken_s(lag + one.alert.for_s)} (replay lag {lag} s + for 5m)"
        assert shown[name] == [latency, str(one.series)]
        assert _plan_line(plan, name).startswith(latency), "the words plan prints"
    native = TrafficGroup(APPID, "Native")
    native_alone = {
        cells[1]: cells[2] for cells in by_type if cells[0] == f"{native.describe()} alone"
    }
    for one in alone[native]:
        assert native_alone[one.alert.name] == _plan_line(plan, one.alert.name, native)
    for name in FREEZE:
        alone_s = next(one.shortest_s for one in alone[native] if one.alert.name == name)
        assert alone_s < expected[name].shortest_s, "one product type alone alerts sooner"
        assert native_alone[name].startswith(spoken_s(alone_s) + " ")


def test_the_json_gives_the_latency_plan_computes_and_says_the_same_as_the_page(
    source: ScrapeSource,
) -> None:
    plan = source.plan
    document = _document(source)
    entries = document["alert_latency"]

    both = [entry for entry in entries if entry["alone"] is None]
    assert [
        (entry["alert"], entry["shortest_s"], entry["longest_s"], entry["series"]) for entry in both
    ] == [
        (one.alert.name, one.shortest_s, one.longest_s, one.series) for one in alert_latencies(plan)
    ]
    for entry in entries:
        assert (entry["for"], entry["for_s"]) == ("5m", 300)
        assert entry["shortest_s"] == entry["lags_s"][0] + entry["for_s"]
        assert entry["longest_s"] == entry["lags_s"][-1] + entry["for_s"]
    freeze = [entry for entry in both if entry["alert"] in FREEZE]
    assert [entry["series"] for entry in freeze] == [2, 2], "Native and WebRTC each"
    alone = {
        (entry["alone"]["product_type"], entry["alert"]) for entry in entries if entry["alone"]
    }
    assert {product for product, _ in alone} == {"Native", "WebRTC"}

    alerts, by_type = _section(source.status_page(), "Alert latency")

    def words(entry: dict[str, Any]) -> str:
        shortest, longest = spoken_s(entry["shortest_s"]), spoken_s(entry["longest_s"])
        spread = shortest if shortest == longest else f"{shortest} to {longest}"
        lags = ", ".join(f"{lag} s" for lag in entry["lags_s"])
        return f"{spread} (replay lag {lags} + for {entry['for']})"

    assert alerts == [[entry["alert"], words(entry), str(entry["series"])] for entry in both]
    assert by_type == [
        [
            f"appid={entry['alone']['appid']} {entry['alone']['product_type']} alone",
            entry["alert"],
            words(entry),
            str(entry["series"]),
        ]
        for entry in entries
        if entry["alone"] is not None
    ]


def test_the_latency_follows_the_plan_in_force_and_is_worked_out_once_per_plan(
    source: ScrapeSource,
) -> None:
    first = source.alert_latency()
    assert source.alert_latency() is first, "not worked out again per request"
    both = {one.alert.name: one.shortest_s for one in first.alerts}

    source.adopt_plan(source.plan.with_idle({WEBRTC}))
    paused = source.alert_latency()
    assert paused is not first
    assert source.alert_latency() is paused
    for one in paused.alerts:
        assert one.series == 1, "only Native's series are polled"
    for name in FREEZE:
        now = next(one.shortest_s for one in paused.alerts if one.alert.name == name)
        assert now < both[name], "the paused series' share makes Native's alerts sooner"
    entries = _document(source)["alert_latency"]
    assert [entry["shortest_s"] for entry in entries if entry["alone"] is None] == [
        one.shortest_s for one in paused.alerts
    ]
