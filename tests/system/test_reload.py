"""Reload and shutdown: SIGHUP and POST /-/reload re-read the config and replan,
keeping cursors and the ledger, and reject a bad config keeping the old one;
SIGTERM lets the requests in flight finish, starts none, and exits 0."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.agora.limits import Budget
from exporter.app import App, ReloadError, build_app
from exporter.quota.series_poller import PollStatus as Status
from exporter.settings import load_settings
from exporter.simulator import Fault, Simulator
from exporter.store import Store
from tests.configs import small_config
from tests.daemon_helpers import CUSTOMER_ID, SECRET, free_port, named, scrape, wait_until
from tests.fakes import FakeClock

T0 = 1_764_000_000.0


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def reloadable_app(
    tmp_path: Path, change: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[tuple[App, Simulator, Path, dict[str, Any]]]:
    """The real app on a fake clock, reading its config from a file it can re-read."""
    clock = FakeClock(T0)
    with Simulator(
        plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET, seed=9, clock=clock
    ) as sim:
        config = small_config(sim.base_url, tmp_path / "state")
        if change is not None:
            change(config)
        path = _write(tmp_path / "agora.yml", config)

        def load() -> Any:
            return load_settings(path, environ={})

        app = build_app(
            load(),
            clock=clock,
            host="127.0.0.1",
            port=0,
            reload_settings=load,
            enable_lifecycle=True,  # POST /-/reload (--web.enable-lifecycle)
        )
        app.server.start()
        try:
            yield app, sim, path, config
        finally:
            app.stop()


def _poll_all(app: App) -> set[Status]:
    return {app.poller.poll(one).status for one in app.plan.series}


def _equal_weights(config: dict[str, Any]) -> None:
    """Every series weighs the same: one interval per budget, as before weights."""
    config["apps"][0]["realtime"]["weights"] = dict.fromkeys(
        ["userCount", "channelCount", "audioFreezeRate", "videoFreezeRate"], 1
    )
    config["apps"][0]["realtime"]["scope_weights"] = {"channel": 1, "user": 1}


def test_a_reload_replans_and_keeps_every_cursor_window_and_ledger_entry(tmp_path: Path) -> None:
    with reloadable_app(tmp_path, _equal_weights) as (app, _, path, config):
        assert _poll_all(app) == {Status.FETCHED}
        cursors = {one.key: app.store.cursor(one.key) for one in app.plan.series}
        windows = {key: app.store.snapshot().get(key) for key in cursors}
        sent = app.store.ledger.times(Budget.REALTIME.value, 0)
        bigger = copy.deepcopy(config)
        bigger["apps"][0]["realtime"]["quality"] = ["audioFreezeRate", "videoFreezeRate"]
        bigger["agora"]["headroom"] = 0.2
        _write(path, bigger)
        app.reload()
        assert len(app.plan.series) == 9
        assert app.settings.agora.headroom == 0.2
        oldest_shown = app.clock() - app.plan.memory_s  # the lag grew: memory reaches further
        for key, cursor in cursors.items():
            assert app.store.cursor(key) == cursor
            before, after = windows[key], app.store.snapshot().get(key)
            assert before is not None
            assert after is not None
            for uid, kept in before.values.items():
                assert dict(kept).items() <= dict(after.values[uid]).items()
                assert min(after.values[uid]) < max(oldest_shown, min(kept))
        assert app.store.ledger.times(Budget.REALTIME.value, 0) == sent
        jobs = {job["id"] for job in app.scheduler.jobs()}
        assert {one.key for one in app.plan.series} <= jobs
        assert app.source.plan is app.plan is app.scheduler.plan
        interval = named(scrape(app.port), "agora_exporter_poll_interval_seconds")
        assert interval == {(("budget", "realtime"),): 680.0}  # 9 series at 80 % of 1,440


def _next_runs(app: App) -> dict[str, Any]:
    """Each series' and periodic job's next run (insight ticks aside: a tick that finds no
    pass due sends nothing, and a reload ticks at once for series new to the plan)."""
    return {
        job["id"]: job["next_run"]
        for job in app.scheduler.jobs()
        if not str(job["id"]).startswith("insight:")
    }


def test_ten_reloads_spend_no_request_and_keep_every_next_run(tmp_path: Path) -> None:
    with Simulator(plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET) as sim:
        config = small_config(sim.base_url, tmp_path / "state")
        config["apps"][0]["insight"] = {"enabled": True}
        config["apps"][0]["calls"] = {"enabled": True, "max_calls": 2, "max_sessions_per_call": 2}
        path = _write(tmp_path / "agora.yml", config)

        def load() -> Any:
            return load_settings(path, environ={})

        app = build_app(load(), host="127.0.0.1", port=0, reload_settings=load)
        app.start()
        try:
            calls, insight = app.calls, app.insight
            assert calls is not None
            assert insight is not None
            wait_until(
                lambda: (
                    app.source.first_round_done.is_set()
                    and calls.state().last_cycle_at is not None
                    and not any(insight.running(budget) for budget in insight.budgets)
                ),
                timeout_s=60,
                what="the first round, insight pass and call cycle",
            )
            sent = len(sim.requests())
            before = _next_runs(app)
            assert all(when is not None for when in before.values()), "nothing is running"
            for _ in range(10):
                app.reload()
            assert _next_runs(app) == before
            wait_until(
                lambda: insight.running(Budget.INSIGHT_USAGE) is False,
                timeout_s=30,
                what="the ticks the reloads caused",
            )
            time.sleep(2)  # room for a wrongly rescheduled poll or cycle to go out
            due = min(when.timestamp() for when in before.values())
            assert time.time() < due, "the window checked holds no poll that was due anyway"
            assert len(sim.requests()) == sent
        finally:
            app.stop()


def _invalid_plan(config: dict[str, Any]) -> None:
    config["agora"]["plan"] = "gold"


def _infeasible(config: dict[str, Any]) -> None:
    config["apps"][0]["realtime"]["channels"] = [
        {"cname": f"room-{n}", "uids": [1, 2]} for n in range(20)
    ]


def _moved_state_dir(config: dict[str, Any]) -> None:
    config["state_dir"] = config["state_dir"] + "-elsewhere"


@pytest.mark.parametrize(
    ("breaking", "says"),
    [
        pytest.param(_invalid_plan, "agora.plan", id="an invalid value is rejected naming the key"),
        pytest.param(_infeasible, "drop", id="a config that cannot be polled is rejected"),
        pytest.param(_moved_state_dir, "state_dir cannot change", id="a new state_dir is refused"),
        pytest.param(None, "not valid YAML", id="a broken YAML file is rejected"),
    ],
)
def test_a_bad_new_config_is_rejected_and_the_old_one_stays_in_force(
    tmp_path: Path, breaking: Callable[[dict[str, Any]], None] | None, says: str
) -> None:
    with reloadable_app(tmp_path) as (app, _, path, config):
        before = (app.settings, app.plan, sorted(job["id"] for job in app.scheduler.jobs()))
        if breaking is None:
            path.write_text("agora: [broken\n")
        else:
            bad = copy.deepcopy(config)
            breaking(bad)
            _write(path, bad)
        with pytest.raises(ReloadError, match=says):
            app.reload()
        assert (app.settings, app.plan, sorted(job["id"] for job in app.scheduler.jobs())) == before
        assert _poll_all(app) == {Status.FETCHED}


def test_a_reload_with_the_right_secret_ends_the_pause_and_polls_at_once(tmp_path: Path) -> None:
    def wrong_secret(config: dict[str, Any]) -> None:
        config["agora"]["customer_secret"] = "an-old-secret"

    with reloadable_app(tmp_path, wrong_secret) as (app, sim, path, config):
        assert _poll_all(app) == {Status.FAILED, Status.PAUSED}
        config["agora"]["customer_secret"] = SECRET
        _write(path, config)
        app.reload()
        assert _poll_all(app) == {Status.FETCHED}
        assert sim.refused()[-1].http_status == 401
        assert sim.requests()[-1].success


def test_post_reload_answers_200_or_500_with_the_reason_and_get_is_not_allowed(
    tmp_path: Path,
) -> None:
    with reloadable_app(tmp_path) as (app, _, path, config):
        base = f"http://127.0.0.1:{app.port}/-/reload"
        good = httpx.post(base, timeout=10)
        bad_config = copy.deepcopy(config)
        _invalid_plan(bad_config)
        _write(path, bad_config)
        bad = httpx.post(base, timeout=10)
        got = httpx.get(base, timeout=10)
    assert (good.status_code, good.text) == (200, "Reloaded.\n")
    assert bad.status_code == 500
    assert "failed to reload config" in bad.text
    assert "agora.plan" in bad.text
    assert SECRET not in bad.text
    assert got.status_code == 405


# --- the real process: signals ---------------------------------------------------------


@contextmanager
def exporter(config_file: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={config_file}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def _serving(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_serving(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    def up() -> bool:
        assert process.poll() is None, f"the exporter exited: {log.read_text()}"
        return _serving(port)

    wait_until(up, timeout_s=30, what="the exporter to serve")


def _interval(port: int) -> float | None:
    found = named(scrape(port), "agora_exporter_poll_interval_seconds")
    return found.get((("budget", "realtime"),))


def test_sighup_reloads_a_bad_one_is_logged_and_ignored_and_a_second_daemon_is_refused(
    tmp_path: Path,
) -> None:
    with Simulator(plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET) as sim:
        config = small_config(sim.base_url, tmp_path / "state")
        _equal_weights(config)
        path = _write(tmp_path / "agora.yml", config)
        port, log = free_port(), tmp_path / "exporter.log"
        with exporter(path, port, log) as process:
            _wait_serving(process, port, log)
            assert _interval(port) == 400.0
            second = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    f"--config.file={path}",
                    "--web.listen-address=127.0.0.1:0",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 2
            assert f"another agora-exporter (pid {process.pid}) is already running" in second.stderr
            config["apps"][0]["realtime"]["quality"] = ["audioFreezeRate", "videoFreezeRate"]
            _write(path, config)
            process.send_signal(signal.SIGHUP)
            wait_until(lambda: _interval(port) == 600.0, timeout_s=30, what="the new plan")
            path.write_text("agora: [broken\n")
            process.send_signal(signal.SIGHUP)
            wait_until(
                lambda: "reload failed" in log.read_text(), timeout_s=30, what="the reload error"
            )
            assert _interval(port) == 600.0
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    text = log.read_text()
    assert 'msg="configuration reloaded" series_count=9' in text
    assert "previous configuration stays in force" in text
    assert SECRET not in text


def test_sigterm_lets_the_requests_in_flight_finish_starts_no_other_and_exits_0(
    tmp_path: Path,
) -> None:
    with Simulator(plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET) as sim:
        sim.faults.inject(Fault.SLOW, times=100, delay_s=2.0)
        config = small_config(sim.base_url, tmp_path / "state")
        path = _write(tmp_path / "agora.yml", config)
        port, log = free_port(), tmp_path / "exporter.log"
        with exporter(path, port, log) as process:
            # Four pollers wait on slow answers; the last two series queue behind them.
            wait_until(lambda: sim.faults.pending() <= 96, timeout_s=30, what="4 requests out")
            process.send_signal(signal.SIGTERM)
            in_flight = 100 - sim.faults.pending()
            assert process.wait(timeout=30) == 0, log.read_text()
        answered = sim.requests()
    assert in_flight == 4
    assert 100 - sim.faults.pending() == in_flight, "no request started after SIGTERM"
    assert len(answered) == in_flight
    with Store(tmp_path / "state") as store:
        fetched = [key for key in store.snapshot() if store.cursor(key) is not None]
    assert len(fetched) == in_flight, "each answer in flight was stored before the exit"
    text = log.read_text()
    assert 'msg="received a signal; shutting down" signal=SIGTERM' in text
    assert "stopped" in text
    assert os.path.exists(tmp_path / "state" / "agora-exporter.lock")
