"""``kill -9`` after Agora got its 200 and before the alert was forwarded: the restarted
exporter still delivers it, to a real Alertmanager, exactly once.

The exporter runs as its own process (``python -m exporter``, the daemon with its
simulator-backed config and the alerts section). Its Alertmanager address first
points at a socket that takes connections and never answers, so the forwarder
is stuck mid-post when the process is killed; a real Alertmanager then takes
that port, and the exporter is started again on the same state directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.console.queue import DB_FILE
from tests.configs import small_config
from tests.conftest import MakeSimulator
from tests.console.alertmanager import Alertmanager
from tests.console.conftest import TOKEN, callback
from tests.daemon_helpers import free_port, wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def _exporter(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={config}",
                "--web.listen-address=127.0.0.1:0",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def _listening(url: str) -> bool:
    try:
        return httpx.post(url.rsplit("/", 1)[0] + "/", timeout=1).status_code == 403
    except httpx.TransportError:
        return False


def test_an_alert_stored_before_a_kill_9_reaches_alertmanager_once_after_the_restart(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = make_simulator(clock=time.time)
    am_port, alerts_port = free_port(), free_port()
    config = small_config(simulator.base_url, tmp_path / "state")
    config["alerts"] = {
        "enabled": True,
        "token": TOKEN,
        "listen_address": f"127.0.0.1:{alerts_port}",
        "alertmanagers": [f"http://127.0.0.1:{am_port}"],
    }
    config_file = tmp_path / "agora.yml"
    config_file.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{alerts_port}/agora/alerts/{TOKEN}"
    fields = callback("Crash project")
    silent = socket.create_server(("127.0.0.1", am_port), backlog=16)  # never accepts
    with _exporter(config_file, tmp_path / "exporter.log") as first:
        wait_until(lambda: _listening(url), timeout_s=30, what="the alert listener")
        assert httpx.post(url, json=fields, timeout=5).json() == {"status": "accepted"}
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    silent.close()
    assert (tmp_path / "state" / DB_FILE).is_file()
    (tmp_path / "am").mkdir()
    alertmanager = Alertmanager(tmp_path / "am", port=am_port)
    try:
        assert alertmanager.alerts(project="Crash project") == []
        with _exporter(config_file, tmp_path / "exporter.log"):
            wait_until(
                lambda: len(alertmanager.alerts(project="Crash project")) == 1,
                timeout_s=30,
                what="the alert stored before the kill",
            )
            again = httpx.post(url, json=fields, timeout=5).json()
            assert again == {"status": "duplicate"}  # Agora's resend, after the crash
            marker = callback("Crash project", cname="marker")
            assert httpx.post(url, json=marker, timeout=5).status_code == 200
            wait_until(
                lambda: bool(alertmanager.webhook.firing(cname="marker")),
                timeout_s=10,
                what="the marker's notification",
            )
        (alert,) = alertmanager.alerts(project="Crash project", cname="lobby")
        assert alert["annotations"]["summary"] == "video freeze rate≥85%"
        assert len(alertmanager.webhook.firing(project="Crash project", cname="lobby")) == 1
        assert TOKEN not in (tmp_path / "exporter.log").read_text()  # the path is never logged
    finally:
        alertmanager.close()
