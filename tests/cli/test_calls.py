"""``agora-exporter calls``: ongoing calls and a per-user quality table, in the terminal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.agora.limits import DAY, Endpoint
from exporter.cli.calls import run_calls
from exporter.cli.main import main
from exporter.settings import Settings, load_settings
from exporter.simulator import Simulator
from exporter.store import Store
from exporter.store.lock import StateDirLock
from tests.configs import settings_from as daemon_settings
from tests.configs import small_config
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET, MakeSimulator
from tests.daemon_helpers import live_simulator
from tests.fakes import FakeClock, FakeSleep

UID_ROW = re.compile(r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+\d+(\.\d)?/\d+(\.\d)?\s")


def _settings(sim: Simulator, state_dir: Path, **calls: Any) -> Settings:
    config = {
        "agora": {
            "base_url": sim.base_url,
            "customer_id": CUSTOMER_ID,
            "customer_secret": CUSTOMER_SECRET,
            "plan": "enterprise",
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "insight": {"enabled": False},
                "calls": {"max_calls": 3, **calls},
            }
        ],
    }
    return load_settings(None, environ={}, overrides=config)


def _run(settings: Settings, clock: FakeClock, cname: str | None = None) -> tuple[int, str]:
    said: list[str] = []

    sleep = FakeSleep(clock)

    code = run_calls(settings, cname=cname, say=said.append, clock=clock, sleep=sleep)
    return code, "\n".join(said)


def test_it_prints_the_ongoing_calls_and_a_quality_row_per_user(
    simulator: Simulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    code, text = _run(_settings(simulator, tmp_path), fake_clock)
    assert code == 0
    assert re.search(rf"app {APPID}: \d+ ongoing calls found", text)
    assert "CHANNEL" in text
    assert "CALL ID" in text
    rows = [line for line in text.splitlines() if UID_ROW.match(line)]
    assert rows, text
    with Store(tmp_path, clock=fake_clock) as store:
        sent = sum(len(store.ledger.times(b, fake_clock() - DAY)) for b in store.ledger.budgets())
        for call in store.calls.tracked():
            assert call.call_id in text
    assert sent == len(simulator.requests()) > 0
    assert f"fetched now with {sent} requests" in text


def test_a_second_run_fetches_only_what_is_new(
    simulator: Simulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    settings = _settings(simulator, tmp_path)
    _run(settings, fake_clock)
    first = {e.params["call_id"]: int(e.params["end_ts"]) for e in _metrics(simulator)}
    fake_clock.advance(120)
    code, _ = _run(settings, fake_clock)
    assert code == 0
    again = [e for e in _metrics(simulator) if e.params["call_id"] in first][len(first) :]
    assert again
    for entry in again:
        assert int(entry.params["start_ts"]) == first[entry.params["call_id"]] + 1


def _metrics(sim: Simulator) -> list[Any]:
    return [e for e in sim.requests() if e.path == Endpoint.CALL_METRICS.value]


def test_cname_narrows_the_search_to_one_channel(
    simulator: Simulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    code, text = _run(_settings(simulator, tmp_path), fake_clock, cname="lobby")
    assert code == 0
    searches = [e for e in simulator.requests() if e.path == Endpoint.CALL_LISTS.value]
    assert searches
    assert all(e.params.get("cname") == "lobby" for e in searches)
    assert "in channel lobby" in text
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("01234567 ")]
    assert all(cname == "lobby" for cname in listed)


def test_beside_a_running_exporter_it_reads_the_store_and_spends_nothing(
    simulator: Simulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    settings = _settings(simulator, tmp_path)
    _run(settings, fake_clock)
    spent = len(simulator.requests())
    with Store(tmp_path, clock=fake_clock) as store:
        inspected = [call.call_id for call in store.calls.tracked()]
    with StateDirLock(tmp_path):  # as the daemon holds it
        code, text = _run(settings, fake_clock)
    assert code == 0
    assert len(simulator.requests()) == spent
    assert "read from the running exporter's store (no quota spent)" in text
    assert inspected
    assert all(call_id in text for call_id in inspected)


def test_beside_an_exporter_that_inspects_nothing_it_says_how_to_turn_calls_on(
    simulator: Simulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    with StateDirLock(tmp_path):
        code, text = _run(_settings(simulator, tmp_path), fake_clock)
    assert code == 0
    assert "calls: {enabled: true}" in text
    assert simulator.requests() == []


def test_refused_credentials_fail_with_the_reason(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator(customer_secret="another-secret")
    code, text = _run(_settings(sim, tmp_path), fake_clock)
    assert code == 1
    assert "last error:" in text
    assert CUSTOMER_SECRET not in text


def test_the_cli_subcommand_runs_against_a_live_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_simulator() as sim:
        config = small_config(sim.base_url, tmp_path / "state")
        config["apps"][0]["calls"] = {"max_calls": 2}
        daemon_settings(config)  # valid
        path = tmp_path / "agora.yml"
        path.write_text(yaml.safe_dump(config))
        code = main(["calls", f"--config.file={path}", "--cname=lobby"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Call Inspector in channel lobby, fetched now with" in out


def test_cname_belongs_to_the_calls_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--cname=lobby"]) == 2
    assert "--cname goes with calls" in capsys.readouterr().err
