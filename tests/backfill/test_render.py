"""``agora-exporter backfill``: the store's history as OpenMetrics, with clear messages.

The file is checked with prometheus_client's OpenMetrics parser here; Debian's
promtool and Prometheus read it in test_backfill_prometheus.py.
"""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from exporter.backfill.reader import read_history
from exporter.backfill.render import (
    EOF,
    Family,
    TimeRange,
    insight_families,
    realtime_families,
    write_openmetrics,
)
from exporter.cli.backfill import run_backfill, write_file
from exporter.cli.backfill_args import BackfillRequest, UsageError, parse_when
from exporter.cli.main import main
from exporter.insight.plan import expand_insight_series
from exporter.insight.view import InsightState, newest_points
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.series import Series
from exporter.realtime.view import Mode
from exporter.scheduling.planner import expand_series
from exporter.serving.collector import AgoraCollector, CollectorInput
from exporter.store import DB_NAME, Store, StoreSnapshot, WindowRow
from tests.backfill_helpers import Expected, FilledStore, fill_store
from tests.configs import settings_from, small_config, small_insight_config, write_config
from tests.daemon_helpers import live_simulator, running_app, wait_until
from tests.fakes import FakeClock

NOW = 1_764_000_000.0


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    return fill_store(tmp_path_factory.mktemp("filled"))


def parse_export(text: str) -> Expected:
    """The file's samples as ``{(family, labels): {ts: value}}``; the parser checks the format."""
    assert text.endswith(EOF)
    found: Expected = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            labels = tuple(sample.labels.items())
            stamp = sample.timestamp
            assert stamp is not None
            assert stamp.nsec == 0, "a window start is a whole second"
            points = found.setdefault((family.name, labels), {})
            assert stamp.sec not in points, "a window exported twice"
            points[stamp.sec] = sample.value
    return found


def backfill(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["backfill", *args])
    return code, capsys.readouterr().err


def test_every_stored_window_of_every_series_is_exported_with_its_start_as_timestamp(
    filled: FilledStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "history.om"
    code, err = backfill(capsys, f"--config.file={filled.config_file}", f"--out={out}")
    assert code == 0, err
    assert parse_export(out.read_text()) == filled.expected
    assert f"wrote {filled.samples} samples of {len(filled.expected)} series" in err
    assert f"promtool tsdb create-blocks-from openmetrics {out}" in err


def test_each_family_appears_once_and_each_series_in_time_order(
    filled: FilledStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "history.om"
    assert backfill(capsys, f"--config.file={filled.config_file}", f"--out={out}")[0] == 0
    lines = out.read_text().splitlines()
    types = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
    seen: list[str] = []
    last_ts: dict[str, int] = {}
    for line in lines:
        if line.startswith("#"):
            continue
        series, _, ts = line.rsplit(" ", 2)
        if not seen or seen[-1] != series:
            assert series not in seen, f"{series} is split in two runs"
            seen.append(series)
        assert int(ts) > last_ts.get(series, 0)
        last_ts[series] = int(ts)


Shape = dict[str, tuple[str, set[tuple[tuple[tuple[str, str], ...], float]]]]
"""``{family: (HELP, {(sorted labels, value)})}``."""


def _shape(families: Iterable[Metric], prefix: str) -> Shape:
    return {
        family.name: (
            family.documentation,
            {(tuple(sorted(s.labels.items())), s.value) for s in family.samples},
        )
        for family in families
        if family.name.startswith(prefix) and "timestamp" not in family.name and family.samples
    }


def _live(data: CollectorInput, prefix: str) -> Shape:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgoraCollector(lambda: data))
    return _shape(text_families(generate_latest(registry).decode()), prefix)


def _exported(families: list[Family], prefix: str) -> Shape:
    stream = io.StringIO()
    write_openmetrics(stream, families)
    return _shape(text_string_to_metric_families(stream.getvalue()), prefix)


def _live_input(series: list[Series], windows: StoreSnapshot, **more: Any) -> CollectorInput:
    return CollectorInput(
        now=NOW,
        series=series,
        budgets={},
        windows=windows,
        windows_missed_total=0,
        stats=RuntimeStats().snapshot(),
        mode=Mode.LATEST,
        **more,
    )


def test_realtime_families_labels_and_help_match_what_the_live_metrics_endpoint_shows(
    tmp_path: Path,
) -> None:
    series = expand_series(settings_from(small_config("http://127.0.0.1:9", tmp_path)))
    with Store(tmp_path / "state", clock=FakeClock(NOW)) as store:
        for n, one in enumerate(series):
            rows = [WindowRow(int(NOW) - 20, 0.25 + n, uid) for uid in one.uids or (None,)]
            store.commit_poll(one.key, rows, cursor=int(NOW))
        snapshot = store.snapshot()
    live = _live(_live_input(series, snapshot), "agora_realtime_")
    assert len(live) == 6
    assert _exported(realtime_families(series, snapshot), "agora_") == live


def test_daily_families_labels_help_and_units_match_what_the_live_metrics_endpoint_shows(
    tmp_path: Path,
) -> None:
    settings = settings_from(small_insight_config("http://127.0.0.1:9", tmp_path))
    insight = expand_insight_series(settings)
    points = {one.key: {int(NOW) - 86400: 2.5 + n} for n, one in enumerate(insight)}
    state = InsightState(series=tuple(insight), shown=newest_points(insight, points))
    live = _live(_live_input([], StoreSnapshot(), insight=state), "agora_daily_")
    assert len(live) == 9
    assert _exported(insight_families(insight, points), "agora_") == live


def test_since_and_until_keep_windows_starting_in_the_half_open_range(
    filled: FilledStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since, until = filled.first_ts + 600, filled.last_ts - 600
    out = tmp_path / "range.om"
    code, err = backfill(
        capsys,
        f"--config.file={filled.config_file}",
        f"--out={out}",
        f"--since={since}",
        f"--until={until}",
    )
    assert code == 0, err
    wanted = {
        key: {ts: value for ts, value in points.items() if since <= ts < until}
        for key, points in filled.expected.items()
    }
    assert parse_export(out.read_text()) == {key: pts for key, pts in wanted.items() if pts}


def test_an_empty_store_writes_a_valid_file_and_says_there_is_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    Store(tmp_path / "state", clock=FakeClock(NOW)).close()
    out = tmp_path / "empty.om"
    code, err = backfill(
        capsys, f"--config.file={write_config(tmp_path / 'a.yml', config)}", f"--out={out}"
    )
    assert code == 0
    assert out.read_text() == EOF
    assert "the store holds nothing for the configured series" in err
    assert "'# EOF'" in err


def test_a_time_range_with_nothing_in_it_says_what_the_store_holds(
    filled: FilledStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.om"
    code, err = backfill(
        capsys, f"--config.file={filled.config_file}", f"--out={out}", "--since=1h"
    )
    assert code == 0
    assert out.read_text() == EOF
    assert "nothing stored starts between" in err
    assert "the store holds" in err


def test_a_missing_store_is_an_error_naming_the_path_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = small_config("http://127.0.0.1:9", tmp_path / "nowhere")
    out = tmp_path / "x.om"
    code, err = backfill(
        capsys, f"--config.file={write_config(tmp_path / 'a.yml', config)}", f"--out={out}"
    )
    assert code == 2
    assert str(tmp_path / "nowhere" / DB_NAME) in err
    assert not out.exists()
    assert not (tmp_path / "nowhere").exists(), "a read-only export must not create the state dir"


def test_the_export_reads_while_the_daemon_holds_the_store_open_and_writing(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW)
    settings = settings_from(small_config("http://127.0.0.1:9", tmp_path / "state"))
    users = expand_series(settings)[0]
    with Store(settings.state_dir, clock=clock) as store:
        store.commit_poll(users.key, [WindowRow(int(NOW) - 600, 5.0)], cursor=int(NOW))
        writer = sqlite3.connect(settings.state_dir / DB_NAME, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # the daemon in the middle of a commit
            snapshot = read_history(settings.state_dir).windows
            writer.execute("ROLLBACK")
        finally:
            writer.close()
        assert dict(snapshot[users.key].values[None]) == {int(NOW) - 600: 5.0}
        clock.advance(30 * 86400)  # the export must not prune what the daemon keeps
        read_history(settings.state_dir)
    with sqlite3.connect(settings.state_dir / DB_NAME) as conn:
        assert conn.execute("SELECT count(*) FROM windows").fetchone() == (1,)


def test_series_no_longer_configured_are_left_out_and_counted(
    filled: FilledStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {**filled.config, "apps": [dict(filled.config["apps"][0])]}
    config["apps"][0]["realtime"] = {"usage": ["userCount"], "quality": []}
    out = tmp_path / "fewer.om"
    code, err = backfill(
        capsys, f"--config.file={write_config(tmp_path / 'a.yml', config)}", f"--out={out}"
    )
    assert code == 0, err
    exported = parse_export(out.read_text())
    assert {family for family, _ in exported} == {"agora_realtime_users"}
    assert "5 series in the store are no longer configured" in err


def test_out_dash_writes_to_stdout(filled: FilledStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", f"--config.file={filled.config_file}", "--out=-"]) == 0
    captured = capsys.readouterr()
    assert parse_export(captured.out) == filled.expected
    assert "to stdout" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "--out=FILE", id="without --out"),
        pytest.param(["--out=x.om", "--since=yesterday"], "--since=yesterday", id="a bad since"),
        pytest.param(["--out=x.om", "--until=2026-01-01T00:00"], "time zone", id="a naive until"),
        pytest.param(["--out=x.om", "--since=1h", "--until=2h"], "earlier", id="since after until"),
    ],
)
def test_malformed_flags_are_usage_errors_naming_the_flag(
    filled: FilledStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = backfill(capsys, f"--config.file={filled.config_file}", *args)
    assert code == 2
    assert message in err
    assert not (tmp_path / "x.om").exists()


def test_backfill_flags_on_another_command_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--out=x.om"]) == 2
    assert "backfill" in capsys.readouterr().err


def test_an_unwritable_output_is_a_runtime_error_naming_the_file(
    filled: FilledStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing-dir" / "x.om"
    code, err = backfill(capsys, f"--config.file={filled.config_file}", f"--out={out}")
    assert code == 1
    assert f"cannot write {out}" in err


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "history.om"
    out.write_text("previous export\n")

    def render(stream: io.TextIOBase) -> None:
        stream.write("# HELP half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_file(str(out), render)  # type: ignore[arg-type]
    assert out.read_text() == "previous export\n"
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90m", NOW - 5400, id="minutes ago"),
        pytest.param("1h30m", NOW - 5400, id="a compound duration ago"),
        pytest.param("2d", NOW - 172800, id="days ago"),
        pytest.param("2025-11-24T16:00:00Z", 1_764_000_000.0, id="RFC 3339 in UTC"),
        pytest.param("2025-11-25T00:00:00+08:00", 1_764_000_000.0, id="RFC 3339 with offset"),
        pytest.param("1764000000", 1_764_000_000.0, id="Unix seconds"),
    ],
)
def test_times_are_a_duration_ago_an_rfc_3339_time_or_unix_seconds(
    text: str, expected: float
) -> None:
    assert parse_when(text, now=NOW, flag="--since") == expected


def test_values_keep_full_precision_and_nan_and_infinities_are_spelled_as_openmetrics_wants() -> (
    None
):
    family = Family("agora_x", 'Help with "quotes" and a \\ backslash.')
    family.add((("cname", 'a"b\\c'),), {20: 0.1 + 0.2, 40: math.nan, 60: math.inf, 80: -math.inf})
    stream = io.StringIO()
    summary = write_openmetrics(stream, [family], time_range=TimeRange(until=100))
    text = stream.getvalue()
    assert 'agora_x{cname="a\\"b\\\\c"} 0.30000000000000004 20\n' in text
    assert " NaN 40\n" in text
    assert " +Inf 60\n" in text
    assert " -Inf 80\n" in text
    assert '# HELP agora_x Help with \\"quotes\\" and a \\\\ backslash.\n' in text
    assert (summary.samples, summary.first_ts, summary.last_ts) == (4, 20, 80)
    parsed = list(text_string_to_metric_families(text))
    assert parsed[0].samples[0].value == 0.1 + 0.2


def test_a_request_without_out_is_refused_before_the_store_is_read(tmp_path: Path) -> None:
    settings = settings_from(small_config("http://127.0.0.1:9", tmp_path / "nowhere"))
    with pytest.raises(UsageError):
        run_backfill(settings, BackfillRequest(out=None), clock=FakeClock(NOW))


@pytest.fixture(autouse=True)
def _no_leftover_temporaries(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.rglob(".*.tmp")), "a temporary output file was left behind"


@pytest.mark.parametrize(
    ("age_s", "warned"),
    [
        pytest.param(600, True, id="ten minutes old is warned about"),
        pytest.param(4 * 3600, False, id="four hours old is not"),
    ],
)
def test_a_newest_sample_under_three_hours_old_brings_a_note_about_double_samples(
    tmp_path: Path, age_s: int, warned: bool
) -> None:
    settings = settings_from(small_config("http://127.0.0.1:9", tmp_path / "state"))
    users = expand_series(settings)[0]
    with Store(settings.state_dir, clock=FakeClock(NOW)) as store:
        store.commit_poll(users.key, [WindowRow(int(NOW) - age_s, 7.0)], cursor=int(NOW))
    stderr = io.StringIO()
    request = BackfillRequest(out=str(tmp_path / "h.om"))
    assert run_backfill(settings, request, clock=FakeClock(NOW), stderr=stderr) == 0
    assert ("--until" in stderr.getvalue()) is warned


def test_a_plain_backfill_runs_beside_a_live_daemon_and_fetch_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_simulator() as sim:
        config = small_insight_config(sim.base_url, tmp_path / "state")
        config_file = write_config(tmp_path / "agora.yml", config)
        out = tmp_path / "live.om"
        with running_app(config) as app:
            wait_until(app.source.is_ready, timeout_s=30, what="the daemon's first poll round")
            code, err = backfill(capsys, f"--config.file={config_file}", f"--out={out}")
            assert code == 0, err
            assert parse_export(out.read_text())
            code, err = backfill(capsys, f"--config.file={config_file}", f"--out={out}", "--fetch")
            assert code == 2
            assert "without --fetch" in err
