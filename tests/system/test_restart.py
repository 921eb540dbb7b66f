"""kill -9 and restart: nothing fetched is lost and the quota is never overspent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from exporter.agora.limits import Budget
from tests.configs import small_config
from tests.daemon_helpers import APPID, free_port, live_simulator, named, scrape, wait_until

LOW_QUOTA = {"per_minute": 3, "per_day": 1440}


@contextmanager
def exporter_process(config_file: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The exporter as a real process; its log goes to a file shown if the test fails."""
    log_path = config_file.with_suffix(f".{port}.{time.monotonic_ns()}.log")
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={config_file}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            yield process
        except BaseException:
            print(log_path.read_text(errors="replace"))
            raise
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _realtime_samples(port: int) -> dict[str, float]:
    samples = scrape(port)
    return {
        name: value for (name, _), value in samples.items() if name.startswith("agora_realtime_")
    }


def test_kill_9_then_restart_serves_from_the_store_and_never_overspends(tmp_path: Path) -> None:
    config = small_config("", tmp_path / "state", quota={"realtime": LOW_QUOTA})
    app = config["apps"][0]
    app["realtime"] = {"usage": ["userCount", "channelCount"], "quality": ["audioFreezeRate"]}
    with live_simulator() as sim:
        sim.set_quota(Budget.REALTIME, **LOW_QUOTA)
        config["agora"]["base_url"] = sim.base_url
        config_file = tmp_path / "agora.yml"
        config_file.write_text(yaml.safe_dump(config))
        port = free_port()
        with exporter_process(config_file, port) as first:
            wait_until(lambda: _ready(port), timeout_s=90, what="the first exporter to be ready")
            wait_until(
                lambda: (
                    len(named(scrape(port), "agora_realtime_newest_window_timestamp_seconds")) == 3
                ),
                timeout_s=30,
                what="all three series fetched",
            )
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        sent_before = len(sim.requests())
        assert sent_before >= 3
        with exporter_process(config_file, port):
            wait_until(lambda: _ready(port), timeout_s=90, what="the restarted exporter")
            samples = scrape(port)
            newest = named(samples, "agora_realtime_newest_window_timestamp_seconds")
            assert len(newest) == 3, "windows fetched before the kill are served at once"
            used = named(samples, "agora_exporter_quota_used")
            assert used[(("budget", "realtime"), ("period", "day"))] >= sent_before
            assert used[(("budget", "realtime"), ("period", "minute"))] >= 3
            # Its first poll comes due at once; the ledger must hold it back.
            wait_until(lambda: len(sim.requests()) > sent_before, timeout_s=90, what="a poll")
            assert named(scrape(port), "agora_up") == {(("appid", APPID),): 1.0}
        assert sim.refused() == []
