"""Daily insight through the real app: exposition, self-metrics, status page, scheduling."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.agora.limits import Budget
from exporter.app import build_app
from exporter.catalog.insight import INSIGHT_METRICS, Granularity
from exporter.catalog.realtime import QUALITY_METRICS
from exporter.insight.plan import INSIGHT_BUDGETS
from exporter.settings import Settings, load_settings
from exporter.simulator import Simulator
from tests.configs import insight_config, settings_from, small_config
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET, SEED, START, MakeSimulator
from tests.daemon_helpers import (
    Samples,
    live_simulator,
    named,
    parse,
    running_app,
    scrape,
    wait_until,
)
from tests.fakes import FakeClock, render_afresh
from tests.insight_helpers import latest_published


@dataclass(frozen=True)
class Exposed:
    text: str
    samples: Samples
    status_page: str
    sim: Simulator
    now: float


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposed]:
    """One app on a FakeClock after one pass of each insight budget, scraped once."""
    clock = FakeClock(START)
    sim = Simulator(
        plan="enterprise",
        customer_id=CUSTOMER_ID,
        customer_secret=CUSTOMER_SECRET,
        seed=SEED,
        clock=clock,
    )
    with sim:
        config = insight_config(sim.base_url, tmp_path_factory.mktemp("insight"))
        app = build_app(settings_from(config), clock=clock, host="127.0.0.1", port=0)
        try:
            assert app.insight is not None
            for budget in INSIGHT_BUDGETS:
                app.insight.tick(budget)
            text = render_afresh(app.source.collector_input)[0].decode()
            yield Exposed(text, parse(text), app.source.status_page(), sim, clock())
        finally:
            app.stop()


@pytest.mark.parametrize(
    ("metric", "product_type"),
    [
        *[(name, None) for name, m in INSIGHT_METRICS.items() if not m.hourly_family],
        *[(name, "Native") for name, m in INSIGHT_METRICS.items() if m.hourly_family],
        *[
            (name, "WebRTC")
            for name, m in INSIGHT_METRICS.items()
            if m.hourly_family and name != "audioFreezeRate"
        ],
    ],
)
def test_each_daily_family_equals_the_simulator_for_the_latest_published_day(
    exposed: Exposed, metric: str, product_type: str | None
) -> None:
    day = latest_published(exposed.sim, metric, product_type, exposed.now)
    assert day is not None
    truth = exposed.sim.traffic.insight_at(APPID, metric, day, "1d", product_type, exposed.now)
    assert truth is not None
    catalog = INSIGHT_METRICS[metric]
    labels = {"appid": APPID} | ({"product_type": product_type} if product_type else {})
    values = named(exposed.samples, catalog.daily_family)
    assert values[tuple(sorted(labels.items()))] == pytest.approx(truth * catalog.scale)
    stamp = {"appid": APPID, "metric": metric, "product_type": product_type or ""}
    stamps = named(exposed.samples, "agora_daily_timestamp_seconds")
    assert stamps[tuple(sorted(stamp.items()))] == day


def test_durations_are_exposed_in_seconds(exposed: Exposed) -> None:
    day = latest_published(exposed.sim, "totalDuration", None, exposed.now)
    assert day is not None
    minutes = exposed.sim.traffic.insight_at(APPID, "totalDuration", day, "1d", None, exposed.now)
    assert minutes is not None
    seconds = named(exposed.samples, "agora_daily_duration_seconds")
    assert seconds == {(("appid", APPID),): 60.0 * minutes}


def test_webrtc_audio_freeze_that_the_api_never_reports_is_absent_not_zero(
    exposed: Exposed,
) -> None:
    shown = named(exposed.samples, "agora_daily_audio_freeze_ratio")
    assert set(shown) == {(("appid", APPID), ("product_type", "Native"))}
    daily = [line for line in exposed.text.splitlines() if line.startswith("agora_daily")]
    assert daily
    assert not [line for line in daily if 'metric="audioFreezeRate",product_type="WebRTC"' in line]


def test_quota_self_metrics_cover_the_insight_budgets(exposed: Exposed) -> None:
    limits = named(exposed.samples, "agora_exporter_quota_limit")
    used = named(exposed.samples, "agora_exporter_quota_used")
    intervals = named(exposed.samples, "agora_exporter_poll_interval_seconds")
    for budget, cost, interval in (("insight_usage", 8, 14400), ("insight_quality", 10, 17280)):
        day = (("budget", budget), ("period", "day"))
        assert limits[day] == 60
        assert used[day] == cost
        assert intervals[(("budget", budget),)] == interval


def test_the_status_page_shows_each_budgets_passes_and_the_day_shown(exposed: Exposed) -> None:
    page = exposed.status_page
    assert "<h2>Daily insight</h2>" in page
    assert "<td>insight_usage</td><td>8 requests</td><td>6 (every 14400 s)</td>" in page
    assert "<td>agora_daily_users</td><td>2023-11-13 16:00:00 UTC</td>" in page
    assert "not published yet" in page, "WebRTC audio freeze"


@pytest.mark.prometheus
def test_the_exposition_with_insight_passes_promtool_check_metrics(exposed: Exposed) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposed.text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_running_daemon_schedules_a_first_insight_pass_at_once(tmp_path: Path) -> None:
    with live_simulator() as sim:
        config = small_config(sim.base_url, tmp_path)
        config["apps"][0]["insight"] = {"enabled": True}
        with running_app(config) as app:
            wait_until(
                lambda: bool(named(scrape(app.port), "agora_daily_audio_freeze_ratio")),
                timeout_s=30,
                what="the first insight pass",
            )
            samples = scrape(app.port)
            page = httpx.get(f"http://127.0.0.1:{app.port}/").text
    assert named(samples, "agora_daily_users")
    assert "<h2>Daily insight</h2>" in page
    assert sim.refused() == []


def test_a_reload_that_turns_hourly_quality_on_adds_the_hourly_series_and_keeps_the_days(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    config = insight_config(sim.base_url, tmp_path / "state", product_types=["Native"])
    path = tmp_path / "agora.yml"
    path.write_text(yaml.safe_dump(config))

    def load() -> Settings:
        return load_settings(path, environ={})

    app = build_app(load(), clock=fake_clock, host="127.0.0.1", port=0, reload_settings=load)
    try:
        assert app.insight is not None
        app.insight.tick(Budget.INSIGHT_QUALITY)
        days = dict(app.store.insight.snapshot())
        config["apps"][0]["insight"]["hourly_quality"] = True
        path.write_text(yaml.safe_dump(config))
        app.reload()
        fake_clock.advance(120)
        app.insight.tick(Budget.INSIGHT_QUALITY)
        state = app.insight.state()
    finally:
        app.stop()
    hourly = [one for one in state.series if one.granularity is Granularity.HOUR]
    assert len(hourly) == len(QUALITY_METRICS)
    assert {shown.series.key for shown in state.shown} >= {one.key for one in hourly}
    assert all(key in app.store.insight.snapshot() or key in days for key in days)
    assert app.plan.budgets[Budget.INSIGHT_QUALITY].series == 2 * len(QUALITY_METRICS)
