"""The issue's done-when: backfill, promtool's import, a real Prometheus, exact answers.

A store is filled by real polls against the simulator on a fake clock three
days in the past (older than any head block) and exported with ``--fetch``,
which adds the 30 days of daily history the simulator keeps; the file is turned
into blocks by Debian's ``promtool tsdb create-blocks-from openmetrics`` and
served by Debian's Prometheus, started once for the module.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.agora.limits import DAY
from exporter.backfill.render import EOF
from exporter.cli.backfill import run_backfill
from exporter.cli.backfill_args import BackfillRequest
from exporter.timing.windows import WINDOW_S
from tests.backfill_helpers import (
    Expected,
    FilledStore,
    fill_store,
    roomy_config,
    simulator_history,
)
from tests.configs import settings_from
from tests.daemon_helpers import free_port, live_simulator, wait_until
from tests.fakes import FakeClock

pytestmark = pytest.mark.prometheus


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install Debian's prometheus package (.ci/run does)")
    return found


def create_blocks(openmetrics: Path, blocks: Path) -> str:
    done = subprocess.run(
        [_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", *(openmetrics, blocks)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Served:
    filled: FilledStore
    daily: Expected
    """The simulator's day points the export fetched with --fetch."""
    api: httpx.Client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("backfill-e2e")
    filled = fill_store(base)
    out = base / "history.om"
    clock = FakeClock(filled.ended_at)
    with live_simulator(clock=clock) as sim:
        config = roomy_config(sim, filled.state_dir)
        stderr = io.StringIO()
        request = BackfillRequest(out=str(out), fetch=True)
        settings = settings_from(config)
        code = run_backfill(settings, request, clock=clock, sleep=clock.advance, stderr=stderr)
        assert code == 0, stderr.getvalue()
        daily = simulator_history(sim, config, filled.ended_at)
    data = base / "prometheus-data"
    create_blocks(out, data)
    config = base / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1m}\n")
    port = free_port()
    with (
        (base / "prometheus.log").open("w") as log,
        subprocess.Popen(
            [
                _binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        ) as prometheus,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api,
    ):
        try:
            wait_until(lambda: _ready(api), timeout_s=30, what="Prometheus to be ready")
            yield Served(filled, daily, api)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/-/ready").status_code == 200
    except httpx.TransportError:
        return False


def _query(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = api.get(f"/api/v1/{path}", params=params).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _as_expected(result: list[dict[str, Any]]) -> Expected:
    found: Expected = {}
    for one in result:
        labels = dict(one["metric"])
        name = labels.pop("__name__")
        key = (name, tuple(sorted(labels.items())))
        found[key] = {int(ts): float(value) for ts, value in one["values"]}
    return found


def _sorted_labels(expected: Expected) -> Expected:
    return {(name, tuple(sorted(labels))): points for (name, labels), points in expected.items()}


def _same(got: Expected, want: Expected) -> None:
    assert got.keys() == want.keys()
    for key, points in want.items():
        assert got[key].keys() == points.keys(), key
        for ts, value in points.items():
            assert got[key][ts] == value or (math.isnan(value) and math.isnan(got[key][ts])), key


def test_prometheus_returns_every_stored_window_with_its_exact_value_and_timestamp(
    served: Served,
) -> None:
    filled = served.filled
    span = filled.last_ts - filled.first_ts + WINDOW_S
    raw = _query(
        served.api,
        "query",
        query=f'{{__name__=~"agora_realtime_.+"}}[{span}s]',
        time=filled.last_ts,
    )
    _same(_as_expected(raw), _sorted_labels(filled.expected))


def test_prometheus_returns_every_fetched_day_at_the_apis_own_timestamp(served: Served) -> None:
    raw = _query(
        served.api,
        "query",
        query=f'{{__name__=~"agora_daily_.+"}}[{31 * DAY}s]',
        time=served.filled.ended_at,
    )
    _same(_as_expected(raw), _sorted_labels(served.daily))


def test_a_range_query_stepping_through_the_windows_returns_each_stored_value(
    served: Served,
) -> None:
    filled = served.filled
    stepped = _query(
        served.api,
        "query_range",
        query='{__name__=~"agora_realtime_.+"}',
        start=filled.first_ts,
        end=filled.last_ts,
        step=WINDOW_S,
    )
    got = _as_expected(stepped)
    for key, points in _sorted_labels(filled.expected).items():
        assert {ts: got[key][ts] for ts in points} == points, key


def test_an_empty_export_is_a_file_promtool_accepts_without_creating_blocks(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.om"
    empty.write_text(EOF)
    create_blocks(empty, tmp_path / "blocks")
    assert not any((tmp_path / "blocks").glob("*/meta.json"))
