"""Running the simulator alone: ``python -m exporter.simulator``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from exporter.simulator.cli import main
from tests.conftest import APPID


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_simulator_serves_until_a_signal(stop_signal: signal.Signals) -> None:
    command = [sys.executable, "-m", "exporter.simulator", "--port=0", "--seed=3"]
    command += ["--customer-id=cli", "--customer-secret=s3cret", "--plan=premium"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            now = int(time.time())
            params: dict[str, Any] = {
                "startTs": now - 600,
                "endTs": now - 60,
                "appid": APPID,
                "productType": "Native",
                "metric": "userCount",
            }
            path = "/beta/realtime/usage/by_time_20sec"
            with httpx.Client(base_url=base_url, verify=False, timeout=10) as client:
                assert client.get(path, params=params).status_code == 401
                body = client.get(path, params=params, auth=("cli", "s3cret")).json()
            assert body["code"] == 200
            assert len(body["data"]) == 27
            process.send_signal(stop_signal)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_secret_without_a_customer_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port=0", "--customer-secret=s"]) == 2
    assert "--customer-id" in capsys.readouterr().err


def test_an_unknown_plan_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port=0", "--plan=gold"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
