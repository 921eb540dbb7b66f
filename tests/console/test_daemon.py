"""The bridge in the daemon: its families on /metrics (only while enabled), switched on,
moved and off by a reload, and the demo's simulator posting Console alerts that reach
a real Alertmanager."""

from __future__ import annotations

import copy
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.app import App, build_app
from exporter.cli.demo import DEMO_APPID, DEMO_PROJECT, Demo, demo_overrides
from exporter.console import ConsoleBridge
from exporter.serving.console_view import REJECT_REASONS
from exporter.simulator import Simulator
from tests.configs import settings_from, small_config
from tests.console.alertmanager import Alertmanager
from tests.console.conftest import TOKEN, callback
from tests.daemon_helpers import free_port, live_simulator, named, scrape, wait_until

pytestmark = pytest.mark.slow
PREFIX = "agora_exporter_console_alerts_"


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with live_simulator() as running:
        yield running


def _app(config: dict[str, Any]) -> App:
    return build_app(settings_from(config), host="127.0.0.1", port=0)


def _reload(app: App, config: dict[str, Any]) -> None:
    """SIGHUP with ``config`` as the file's new content."""
    app.reload_settings = lambda: settings_from(config)
    app.reload()


def _bridge(app: App) -> ConsoleBridge:
    bridge = app.source.console
    assert isinstance(bridge, ConsoleBridge)
    return bridge


def _families(app: App) -> set[str]:
    return {name for name, _ in scrape(app.port) if name.startswith(PREFIX)}


def _answers(port: int) -> bool:
    try:
        httpx.post(f"http://127.0.0.1:{port}/", timeout=2)
    except httpx.TransportError:
        return False
    return True


def _with_alerts(config: dict[str, Any], **alerts: Any) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    changed["alerts"] = {"enabled": True, "token": TOKEN, **alerts}
    changed["apps"][0]["project"] = "Demo project"
    return changed


def test_console_families_are_on_metrics_only_while_alerts_are_enabled(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = small_config(simulator.base_url, tmp_path / "state")
    nowhere = f"http://127.0.0.1:{free_port()}"  # no Alertmanager: posts fail and are kept
    enabled = _with_alerts(config, listen_address="127.0.0.1:0", alertmanagers=[nowhere])
    app = _app(config)
    app.start()
    try:
        assert _families(app) == set()
        _reload(app, enabled)
        samples = scrape(app.port)
        rejected = named(samples, PREFIX + "rejected_total")
        assert {dict(labels)["reason"] for labels in rejected} == set(REJECT_REASONS)
        assert named(samples, PREFIX + "forwarded_total") == {(("alertmanager", nowhere),): 0.0}
        assert httpx.post(_bridge(app).local_url() or "", json=callback("Demo project")).is_success
        wait_until(
            lambda: bool(
                named(scrape(app.port), PREFIX + "forward_failures_total").get(
                    (("alertmanager", nowhere),)
                )
            ),
            timeout_s=10,
            what="a failed post",
        )
        samples = scrape(app.port)
        assert named(samples, PREFIX + "accepted_total")[(("kind", "metric"),)] == 1.0
        assert named(samples, PREFIX + "queue_depth") == {(): 1.0}
        assert named(samples, PREFIX + "active") == {(): 1.0}
        (when,) = named(samples, PREFIX + "last_alert_timestamp_seconds").items()
        assert when[0] == (("project", "Demo project"),)
        assert abs(when[1] - time.time()) < 60
        port = _bridge(app).port
        assert port is not None
        _reload(app, config)
        assert _families(app) == set()
        assert not _answers(port)
    finally:
        app.stop()


def test_a_reload_moves_the_listener_and_keeps_it_when_the_new_port_is_taken(
    simulator: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = small_config(simulator.base_url, tmp_path / "state")
    first, second = free_port(), free_port()
    app = _app(_with_alerts(config, listen_address=f"127.0.0.1:{first}"))
    app.start()
    try:
        assert _answers(first)
        _reload(app, _with_alerts(config, listen_address=f"127.0.0.1:{second}"))
        assert _answers(second)
        assert not _answers(first)
        with socket.create_server(("127.0.0.1", 0)) as taken:
            busy = taken.getsockname()[1]
            with caplog.at_level(logging.ERROR, logger="exporter.console"):
                _reload(app, _with_alerts(config, listen_address=f"127.0.0.1:{busy}"))
        assert "the previous one stays" in caplog.text
        assert _answers(second)
        assert _bridge(app).port == second
    finally:
        app.stop()
    assert not _answers(second)


def test_the_demo_simulator_posts_console_alerts_that_reach_alertmanager(
    alertmanager: Alertmanager, tmp_path: Path
) -> None:
    with Simulator(plan="enterprise", seed=42) as simulator:
        overrides = demo_overrides(simulator.base_url, tmp_path / "state")
        overrides["alerts"].update(enabled=True, alertmanagers=[alertmanager.url])
        app = build_app(settings_from(overrides), host="127.0.0.1", port=0)
        app.start()
        try:
            sender = Demo(simulator, overrides).connect(app)
            assert sender is not None
            now = time.time()
            (incident, *_) = simulator.traffic.incidents(DEMO_APPID, int(now) - 6 * 3600, int(now))
            triggered = sender.tick(now=incident.start + 120)  # inside an incident
            assert triggered
            assert all(payload in sender.sent for payload in triggered)
            wait_until(
                lambda: bool(alertmanager.alerts(project=DEMO_PROJECT, appid=DEMO_APPID)),
                timeout_s=5,
                what="the demo's Console alerts in Alertmanager",
            )
        finally:
            app.stop()
