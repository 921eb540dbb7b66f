"""A state directory that cannot be swapped silently, and a start over that cannot overspend.

* Deleting or emptying the database under a running exporter is loud: every
  poll records ``store_error``, ``agora_up`` is 0, one critical log line names
  the file, and no request leaves (counted at the simulator). The restart is
  refused until ``--state.reset``.
* A zero-length or corrupted database stops the start (exit code 2, the path
  and the fix) without ``--state.reset``, and a real exporter process starts
  with it.
* After a start over, an exporter polling as fast as the ledger lets it stays,
  for the next 24 h, within the plan's budget as the API counts it (the
  simulator's request log), although the ledger of the day before was lost.

A second exporter refused after ``agora-exporter.lock`` is deleted is in
``test_crash.py`` (it shares the crash worker).
"""

from __future__ import annotations

import bisect
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.agora.limits import DAY, Budget, Plan, limits_for
from exporter.app import build_app
from exporter.cli.main import main
from exporter.quota.series_poller import PollStatus as Status
from exporter.simulator import Simulator
from exporter.store import DB_NAME, StateDirError, Store, WindowRow
from exporter.store.startover import CREATED_NAME
from exporter.timing.windows import WINDOW_S
from tests.configs import settings_from, small_config
from tests.daemon_helpers import APPID, CUSTOMER_ID, SECRET, free_port, named, scrape, wait_until
from tests.fakes import FakeClock, FakeSleep

SIM0 = 1_764_000_000.0  # 16:00 UTC: the lost part of the day is 16 h long
ROOT = Path(__file__).resolve().parents[2]
PLAN_INTERVAL_S = 400
"""The plan's interval for small_config's 6 series on Enterprise (docs/quota-and-replay.md)."""
REALTIME = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
assert REALTIME is not None
assert REALTIME.per_minute is not None


def _simulator(clock: FakeClock) -> Simulator:
    return Simulator(
        plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET, seed=5, clock=clock
    )


# --- the database deleted or emptied while running -----------------------------------


def _delete(path: Path) -> None:
    path.unlink()


def _empty(path: Path) -> None:
    os.truncate(path, 0)


def _checkpoint(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.mark.parametrize("swap", [_delete, _empty], ids=["deleted", "emptied"])
def test_a_database_deleted_or_emptied_while_running_stops_every_request_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, swap: Callable[[Path], None]
) -> None:
    caplog.set_level(logging.WARNING)
    clock = FakeClock(SIM0)
    state = tmp_path / "state"
    with _simulator(clock) as sim:
        settings = settings_from(small_config(sim.base_url, state))
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0)
        app.server.start()
        try:
            assert {app.poller.poll(one).status for one in app.plan.series} == {Status.FETCHED}
            assert named(scrape(app.port), "agora_up") == {(("appid", APPID),): 1.0}
            _checkpoint(state / DB_NAME)  # as a long run has: its pages in the file, not the WAL
            swap(state / DB_NAME)
            sent = len(sim.requests())
            for _ in range(3):  # three intervals of polls
                clock.advance(PLAN_INTERVAL_S)
                failed = [app.poller.poll(one) for one in app.plan.series]
                assert {result.status for result in failed} == {Status.FAILED}
            assert len(sim.requests()) == sent, "no request left after the file went"
            assert named(scrape(app.port), "agora_up") == {(("appid", APPID),): 0.0}
            assert "store_error" in httpx.get(f"http://127.0.0.1:{app.port}/", timeout=10).text
        finally:
            app.stop()
    loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(loud) == 1, "one critical line, not one per poll"
    assert getattr(loud[0], "path", None) == str(state / DB_NAME)
    with pytest.raises(StateDirError, match=r"--state\.reset") as refused:
        build_app(settings, clock=clock, host="127.0.0.1", port=0)
    assert str(state / DB_NAME) in str(refused.value)
    again = build_app(settings, clock=clock, host="127.0.0.1", port=0, reset_state=True)
    try:
        assert again.store.started_over
        assert len(again.store.ledger.times("realtime", clock() - DAY)) == REALTIME.per_day
    finally:
        again.stop()


# --- a zero-length or corrupted database at start -------------------------------------


def _zero_length(path: Path) -> None:
    os.truncate(path, 0)


def _random_last_page(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size - 4096)
        file.write(random.Random(18).randbytes(4096))


@pytest.mark.slow
@pytest.mark.parametrize(
    "breakage", [_zero_length, _random_last_page], ids=["zero-length", "random last page"]
)
def test_a_broken_database_stops_the_start_until_state_reset_and_then_a_real_process_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: Callable[[Path], None]
) -> None:
    state = tmp_path / "state"
    with Store(state, clock=FakeClock(SIM0)) as store:
        store.ledger.record("realtime", "realtime_usage", SIM0 - 60)
        for n in range(20):
            rows = [WindowRow(ts=int(SIM0) - 3600 + 20 * i, value=1.0) for i in range(180)]
            store.commit_poll(f"series-{n}", rows, cursor=int(SIM0))
    breakage(state / DB_NAME)
    config_file = tmp_path / "agora.yml"
    config_file.write_text(yaml.safe_dump(small_config("http://127.0.0.1:9", state)))
    code = main([f"--config.file={config_file}"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(state / DB_NAME) in err
    assert "--state.reset" in err
    port = free_port()
    log = tmp_path / "exporter.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={config_file}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--state.reset",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until(lambda: _healthy(port), timeout_s=60, what="the exporter serving")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "starting over" in log.read_text()
    assert "started over at" in (state / CREATED_NAME).read_text()
    assert list(state.glob(f"{DB_NAME}.broken-*")) or breakage is _zero_length


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# --- a start over never overspends ----------------------------------------------------


@pytest.mark.slow
def test_after_a_start_over_an_eager_exporter_stays_within_the_budget_the_api_counts(
    tmp_path: Path,
) -> None:
    clock = FakeClock(SIM0 - 12 * 3600)
    state = tmp_path / "state"
    with _simulator(clock) as sim:
        settings = settings_from(small_config(sim.base_url, state))
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0, sleep=FakeSleep(clock))
        try:  # 12 h at the plan's pace, then the ledger is lost
            while clock() < SIM0:
                for one in app.plan.series:
                    app.poller.poll(one)
                clock.advance(PLAN_INTERVAL_S)
        finally:
            app.stop()
        lost = len(sim.requests())
        _zero_length(state / DB_NAME)
        app = build_app(
            settings,
            clock=clock,
            host="127.0.0.1",
            port=0,
            sleep=FakeSleep(clock),
            reset_state=True,
        )
        try:  # 24 h polling every series at every window: as fast as the ledger lets it
            while clock() < SIM0 + DAY:
                for one in app.plan.series:
                    app.poller.poll(one)
                clock.advance(WINDOW_S)
        finally:
            app.stop()
        arrivals = sorted(entry.at for entry in sim.requests())
        refused = sim.refused()
    assert refused == []
    assert lost >= 600, "the lost day had spent a good part of the budget"
    per_utc_day = Counter(int(at // DAY) for at in arrivals)  # how the API counts a day
    assert max(per_utc_day.values()) <= REALTIME.per_day
    for index, at in enumerate(arrivals):
        assert index - bisect.bisect_right(arrivals, at - 60) + 1 <= REALTIME.per_minute
    after = arrivals[lost:]
    assert len(after) >= REALTIME.per_day - 60, "a ramp, not a stall: about a day's worth"
    first_hour = bisect.bisect_right(after, SIM0 + 3600)
    assert first_hour <= REALTIME.per_day / 24 + 1, "no faster than the day spread evenly"
