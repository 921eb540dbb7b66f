"""The exposition: a golden file, promtool's linter, and an empty store."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import __version__
from exporter.agora.limits import Budget, Plan, limits_for
from exporter.catalog.realtime import Scope
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.series import Series
from exporter.realtime.view import Mode
from exporter.serving.collector import AgoraCollector, BudgetState, CollectorInput
from tests.windowdata import FakeSeriesWindows, FakeWindowSource

GOLDEN = Path(__file__).parent / "golden" / "exposition.prom"
APPID = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000
SERIES = [
    Series(APPID, "Native", "userCount", Scope.PROJECT),
    Series(APPID, "Native", "channelCount", Scope.PROJECT),
    Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT),
    Series(APPID, "Native", "userCount", Scope.CHANNEL, "lobby"),
    Series(APPID, "Native", "audioFreezeRate", Scope.CHANNEL, "lobby"),
    Series(APPID, "Native", "audioFreezeRate", Scope.USER, "lobby", (1001, 4294967296)),
]


def _input(*, windows: FakeWindowSource, timestamps: bool = False) -> CollectorInput:
    stats = RuntimeStats()
    stats.record_request(endpoint="realtime_usage", outcome="success", duration_s=0.07)
    stats.record_request(endpoint="realtime_quality", outcome="server_error", duration_s=1.2)
    stats.record_poll(series_key=SERIES[0].key, appid=APPID, at=T0, outcome="success")
    limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
    assert limits is not None
    return CollectorInput(
        now=T0 + 440,
        series=SERIES,
        budgets={
            Budget.REALTIME: BudgetState(
                limits=limits, interval_s=400, lag_s=440, used={"minute": 2, "day": 57}
            )
        },
        windows=windows,
        windows_missed_total=3,
        stats=stats.snapshot(),
        mode=Mode.REPLAY,
        timestamps=timestamps,
    )


def _full_store() -> FakeWindowSource:
    return FakeWindowSource(
        {
            SERIES[0].key: FakeSeriesWindows({None: {T0: 112, T0 + 20: 113}}),
            SERIES[1].key: FakeSeriesWindows({None: {T0: 40}}),
            SERIES[2].key: FakeSeriesWindows({None: {T0: 0.0123, T0 + 20: 0.02}}),
            SERIES[3].key: FakeSeriesWindows({None: {T0: 17}}),
            SERIES[4].key: FakeSeriesWindows({None: {T0: 0.05}}),
            SERIES[5].key: FakeSeriesWindows({1001: {T0: 0.1}, 4294967296: {T0: 0.2}}),
        }
    )


def _expose(data: CollectorInput) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgoraCollector(lambda: data))
    text = generate_latest(registry).decode()
    # The build line carries the interpreter's version; pin it for the golden file.
    return text.replace(f'python_version="{platform.python_version()}"', 'python_version="X"')


def test_exposition_matches_the_golden_file() -> None:
    text = _expose(_input(windows=_full_store())).replace(f'version="{__version__}"', 'version="V"')
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_replay_shows_the_window_lag_ago_with_its_start_time() -> None:
    text = _expose(_input(windows=_full_store()))
    assert f'agora_realtime_users{{appid="{APPID}",product_type="Native"}} 112.0\n' in text
    assert (
        f'agora_realtime_window_timestamp_seconds{{appid="{APPID}",cname="",metric="userCount",'
        'product_type="Native",uid=""} 1.7e+09\n'
    ) in text


def test_timestamps_true_attaches_the_window_start_to_each_sample() -> None:
    text = _expose(_input(windows=_full_store(), timestamps=True))
    assert f'agora_realtime_users{{appid="{APPID}",product_type="Native"}} 112.0 {T0}000' in text


def test_an_empty_store_exposes_self_metrics_and_no_realtime_samples() -> None:
    text = _expose(_input(windows=FakeWindowSource({})))
    assert "agora_exporter_quota_limit" in text
    assert "agora_realtime_users{" not in text


@pytest.mark.prometheus
def test_exposition_passes_promtool_check_metrics() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    text = _expose(_input(windows=_full_store()))
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
