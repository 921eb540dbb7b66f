"""A real Alertmanager for the Console alert tests (Debian's ``prometheus-alertmanager``).

``Alertmanager(directory)`` writes a config routing every alert, one group per
alert, to a webhook in the test (so a test can count the notifications, not
only read the API), starts the binary on a free loopback port, waits until it
is ready, and stops it by its PID. ``restart()`` starts it again on the same
port and storage, as after an outage.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.daemon_helpers import free_port

BINARY = "prometheus-alertmanager"


def binary() -> str:
    found = shutil.which(BINARY)
    if found is None:
        pytest.fail(
            f"{BINARY} is missing: install Debian's prometheus-alertmanager (make test does)"
        )
    return found


class Webhook:
    """Alertmanager's notifications, as a webhook receiver on loopback collects them."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        lock = threading.Lock()
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def firing(self, **labels: str) -> list[dict[str, Any]]:
        """Every firing alert notified so far whose labels include ``labels``."""
        found = []
        for notification in list(self.notifications):
            for alert in notification["alerts"]:
                matches = all(alert["labels"].get(k) == v for k, v in labels.items())
                if alert["status"] == "firing" and matches:
                    found.append(alert)
        return found

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Alertmanager:
    """One Alertmanager process; ``url`` is its base URL."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook = Webhook()
        config = {
            "route": {
                "receiver": "hook",
                "group_by": ["..."],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "hook", "webhook_configs": [{"url": self.webhook.url}]},
            ],
        }
        (directory / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=5.0)
        self.start()

    def start(self) -> None:
        log = (self.directory / "alertmanager.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary(),
                f"--config.file={self.directory / 'alertmanager.yml'}",
                f"--storage.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"alertmanager exited: see {self.directory}/alertmanager.log")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("alertmanager did not become ready within 20 s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()  # by its PID: this process only
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """The API's alerts (not resolved ones) whose labels include ``labels``."""
        filters = [f'{name}="{value}"' for name, value in labels.items()]
        answer = self.client.get("/api/v2/alerts", params={"filter": filters})
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found

    def close(self) -> None:
        self.stop()
        self.client.close()
        self.webhook.close()
