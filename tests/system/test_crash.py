"""Crash safety: ``kill -9`` at random points of poll cycles, sixty times over.

Exporter processes (forked by ``tests/crash_worker.py`` from a zygote, so each
costs milliseconds) poll the simulator back to back on an accelerated clock
(1 real second = 100 s), each killed with SIGKILL at a random moment: while
opening the store, or a random few milliseconds into a round of polls, where
it is writing the ledger, waiting for an answer or committing windows. After
every kill the next exporter takes over the same state_dir. At the end:

* the database passes ``PRAGMA integrity_check``;
* every request that reached the simulator had a ledger entry written before
  it left, and the ledger holds at most one entry per kill for a request that
  never left (nothing forgotten, nothing double-counted);
* the ledger never allowed more than the plan's 10 requests in any sliding
  minute, and the simulator refused nothing;
* every series holds exactly the simulator's windows from its first cursor up
  to its last: none lost, none invented, none missed.

Also here: an unusable state_dir is a clear error at start (exit 2), a second
exporter is refused even after ``agora-exporter.lock`` is deleted (two real
processes: the lock on the database file itself keeps it out), and a state_dir
that fills up at run time is a log line and ``agora_up 0``, never a crash or a
stream of requests. Deleting, emptying or corrupting the database, and starting
over, are in ``test_state_dir.py``.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml

from exporter.agora.limits import Budget
from exporter.app import App, build_app
from exporter.cli.main import main
from exporter.quota.series_poller import PollStatus as Status
from exporter.scheduling.planner import make_plan
from exporter.simulator import Simulator
from exporter.store import DB_NAME, Store
from exporter.store.lock import LOCK_NAME, StateDirLock
from exporter.timing.windows import WINDOW_S, floor_window
from tests.configs import settings_from, small_config
from tests.crash_worker import fast_clock
from tests.daemon_helpers import APPID, CUSTOMER_ID, SECRET, named, scrape
from tests.fakes import FakeClock

KILLS = 60
SPEED = 100.0
PER_MINUTE = 10
SIM0 = 1_764_000_000.0  # mid-day UTC: the simulated day never rolls over
ROOT = Path(__file__).resolve().parents[2]


class Zygote:
    """The forking process of ``tests.crash_worker``, and its output as a queue of lines."""

    def __init__(self, spec_file: Path, log: Path) -> None:
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", str(spec_file)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def expect(self, prefix: str, timeout_s: float = 30) -> str:
        """The next line starting with ``prefix`` (lines before it are skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {prefix!r} line from the crash worker; see its log")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line
            if line.startswith("reaped") and prefix != "reaped":
                raise AssertionError(f"a worker died on its own: {line}; see its log")

    def close(self) -> None:
        try:
            self.send("quit")
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            self._log.close()


@contextmanager
def zygote(spec: dict[str, Any], directory: Path) -> Iterator[Zygote]:
    spec_file = directory / "spec.json"
    spec_file.write_text(json.dumps(spec))
    forker = Zygote(spec_file, directory / "workers.log")
    try:
        yield forker
    finally:
        forker.close()


def _kill_one(forker: Zygote, rng: random.Random) -> None:
    """Fork an exporter and SIGKILL it at a random point of its start or of a poll round."""
    forker.send("fork")
    pid = int(forker.expect("pid").split()[1])
    if rng.random() < 0.15:
        time.sleep(rng.uniform(0, 0.03))  # while it opens the store and loads the ledger
    else:
        for _ in range(rng.randint(1, 2)):
            forker.expect("cycle")
        time.sleep(rng.uniform(0, 0.015))  # somewhere in a round of polls (~10-20 ms)
    os.kill(pid, signal.SIGKILL)
    reaped = forker.expect("reaped")
    assert reaped == f"reaped {pid} -9", reaped


def _seed_cursors(config: dict[str, Any], clock: Any) -> dict[str, int]:
    """Start every series at a recent window, so no poll reaches the horizon's edge."""
    settings = settings_from(config)
    start = floor_window(clock()) - 10 * WINDOW_S
    cursors = {}
    with Store(settings.state_dir, clock=clock) as store:
        for one in make_plan(settings).series:
            store.commit_poll(one.key, [], cursor=start)
            cursors[one.key] = start
    return cursors


@pytest.mark.slow
def test_sixty_kill_9s_mid_poll_lose_no_window_and_forget_no_request(tmp_path: Path) -> None:
    spec = {"sim0": SIM0, "real0": time.time(), "speed": SPEED}
    clock = fast_clock(spec)
    # The simulator allows two more per minute than the ledger: clocks of two
    # processes and a loopback hop apart must not look like an overspend.
    with Simulator(
        plan="enterprise",
        customer_id=CUSTOMER_ID,
        customer_secret=SECRET,
        seed=13,
        clock=clock,
        quota={Budget.REALTIME: {"per_minute": PER_MINUTE + 2}},
    ) as sim:
        config = small_config(sim.base_url, tmp_path / "state")
        spec["config"] = config
        first_cursors = _seed_cursors(config, clock)
        rng = random.Random(20240607)
        with zygote(spec, tmp_path) as forker:
            for _ in range(KILLS):
                _kill_one(forker, rng)
        arrivals = sorted(entry.at for entry in sim.requests())
        refused = sim.refused()
        truth = sim.traffic
    state = tmp_path / "state"
    _assert_database_intact(state / DB_NAME)
    ledger = _ledger(state / DB_NAME)
    assert len(arrivals) >= KILLS, "the workers did poll between kills"
    for index, arrived in enumerate(arrivals):
        assert bisect.bisect_right(ledger, arrived) >= index + 1, "a request left unrecorded"
    assert len(ledger) - len(arrivals) <= KILLS, "more ledger entries than requests and kills"
    for index, at in enumerate(ledger):
        assert index - bisect.bisect_right(ledger, at - 60) + 1 <= PER_MINUTE
    assert refused == []
    with Store(state, clock=clock) as store:
        snapshot = store.snapshot()
        assert snapshot.windows_missed_total == 0
        for one in make_plan(settings_from(config)).series:
            cursor = store.cursor(one.key)
            assert cursor is not None
            assert cursor > first_cursors[one.key], f"{one.describe()} never advanced"
            data = snapshot.get(one.key)
            stored = {} if data is None else {uid: dict(v) for uid, v in data.values.items()}
            for uid in one.uids or (None,):
                expected = {}
                for ts in range(first_cursors[one.key], cursor, WINDOW_S):
                    value = truth.realtime(APPID, one.product_type, one.metric, ts, one.cname, uid)
                    if value is not None:
                        expected[ts] = float(value)
                assert stored.get(uid, {}) == expected, (one.describe(), uid)
    with StateDirLock(state):
        pass  # the kernel dropped the last worker's lock with it


def _assert_database_intact(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()


def _ledger(path: Path) -> list[float]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT at FROM ledger ORDER BY at").fetchall()
    conn.close()
    return [float(at) for (at,) in rows]


# --- an unusable state_dir -----------------------------------------------------------


def _config_file(tmp_path: Path, state_dir: Path) -> Path:
    path = tmp_path / "agora.yml"
    path.write_text(yaml.safe_dump(small_config("http://127.0.0.1:9", state_dir)))
    return path


def test_a_state_dir_that_is_a_file_stops_the_start_with_a_message_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    code = main([f"--config.file={_config_file(tmp_path, blocker / 'state')}"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(blocker) in err
    assert "not a directory" in err or "is a file" in err


def test_a_second_exporter_on_the_same_state_dir_is_refused_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    with StateDirLock(state):
        code = main([f"--config.file={_config_file(tmp_path, state)}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"another agora-exporter (pid {os.getpid()}) is already running" in err
    assert str(state) in err


@pytest.mark.slow
def test_a_second_exporter_is_refused_even_after_the_lock_file_is_deleted(tmp_path: Path) -> None:
    spec = {"sim0": SIM0, "real0": time.time(), "speed": SPEED}
    clock = fast_clock(spec)
    state = tmp_path / "state"
    with Simulator(
        plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET, seed=13, clock=clock
    ) as sim:
        spec["config"] = small_config(sim.base_url, state)
        config_file = tmp_path / "agora.yml"
        config_file.write_text(yaml.safe_dump(spec["config"]))
        with zygote(spec, tmp_path) as forker:
            forker.send("fork")
            first = int(forker.expect("pid").split()[1])
            forker.expect("cycle")  # the first exporter is polling
            (state / LOCK_NAME).unlink()
            second = subprocess.run(
                [sys.executable, "-m", "exporter", f"--config.file={config_file}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            forker.expect("cycle")  # and goes on polling
            os.kill(first, signal.SIGKILL)
            forker.expect("reaped")
    assert second.returncode == 2, second.stderr
    assert f"another agora-exporter (pid {first}) is already running" in second.stderr
    assert str(state) in second.stderr
    with Store(state, clock=clock):
        pass  # the kernel dropped the first one's lock with it


BREAKAGES = [
    pytest.param(
        ("PRAGMA query_only = 1", "PRAGMA query_only = 0", "it is not writable"),
        id="a state_dir turning read-only",
    ),
    pytest.param(
        ("PRAGMA max_page_count = {pages}", "PRAGMA max_page_count = 1073741823", "disk is full"),
        id="a state_dir filling up",
    ),
]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_state_dir_failing_at_run_time_is_a_log_line_and_agora_up_0_never_a_crash_or_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, breakage: tuple[str, str, str]
) -> None:
    caplog.set_level(logging.ERROR)
    clock = FakeClock(SIM0)
    with Simulator(
        plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET, seed=5, clock=clock
    ) as sim:
        settings = settings_from(small_config(sim.base_url, tmp_path))
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0)
        app.server.start()
        try:
            _break_and_recover(app, sim, clock, breakage)
        finally:
            app.stop()
    lines = [f"{r.getMessage()}: {getattr(r, 'error', '')}" for r in caplog.records]
    said = [line for line in lines if breakage[2] in line]
    assert said, "a clear log line says what is wrong"
    assert all(str(tmp_path) in line for line in said), "and where"


def _break_and_recover(
    app: App, sim: Simulator, clock: FakeClock, breakage: tuple[str, str, str]
) -> None:
    assert {app.poller.poll(one).status for one in app.plan.series} == {Status.FETCHED}
    clock.advance(3000)  # most of an hour of windows to store: more than the free pages hold
    conn = cast(sqlite3.Connection, app.store._conn)  # no real full disk in a test
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(breakage[0].format(pages=pages))
    sent = len(sim.requests())
    failed = None
    for one in app.plan.series:  # what the scheduler would do at the next interval
        failed = app.poller.poll(one)
        if failed.status is not Status.FETCHED:
            break
    assert failed is not None
    assert failed.status is Status.FAILED
    assert failed.retry_at is None, "no retry before the next interval"
    assert len(sim.requests()) - sent <= len(app.plan.series), "at most one try per poll"
    assert named(scrape(app.port), "agora_up") == {(("appid", APPID),): 0.0}
    assert "store_error" in httpx.get(f"http://127.0.0.1:{app.port}/", timeout=10).text
    conn.execute(breakage[1])
    results = [app.poller.poll(one) for one in app.plan.series]
    assert {result.status for result in results} == {Status.FETCHED}
    assert named(scrape(app.port), "agora_up") == {(("appid", APPID),): 1.0}
