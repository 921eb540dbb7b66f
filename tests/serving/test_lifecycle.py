"""The lifecycle endpoint /-/reload: off unless ``--web.enable-lifecycle``, as in
Prometheus, and behind the web config's basic auth when it sets users (issue 18, row 4).
SIGHUP reloads either way (tests/system/test_reload.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import build_app
from exporter.serving.server import MetricsServer, Routes
from exporter.serving.web.config import WebConfigError, WebConfigWatcher, load_web_config
from tests.configs import settings_from, small_config
from tests.daemon_helpers import free_port, live_simulator, wait_until
from tests.tls_certs import bcrypt_hash

USER, PASSWORD = "operator", "Reload-8d1f"


@pytest.mark.parametrize(
    ("enabled", "status"),
    [
        pytest.param(False, 404, id="off by default: 404"),
        pytest.param(True, 200, id="with enable_lifecycle: reloaded"),
    ],
)
def test_the_app_serves_reload_only_when_the_lifecycle_is_enabled(
    tmp_path: Path, enabled: bool, status: int
) -> None:
    with live_simulator() as sim:
        settings = settings_from(small_config(sim.base_url, tmp_path / "state"))
        app = build_app(
            settings,
            host="127.0.0.1",
            port=0,
            reload_settings=lambda: settings,
            enable_lifecycle=enabled,
        )
        app.server.start()
        try:
            answer = httpx.post(f"http://127.0.0.1:{app.port}/-/reload", timeout=10)
        finally:
            app.stop()
    assert answer.status_code == status


@contextmanager
def _exporter(tmp_path: Path, *flags: str) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"]
    with (
        (tmp_path / "exporter.log").open("wb") as log,
        subprocess.Popen([*argv, *flags], stdout=subprocess.DEVNULL, stderr=log) as process,
    ):
        base = f"http://127.0.0.1:{port}"
        try:

            def up() -> bool:
                assert process.poll() is None, (tmp_path / "exporter.log").read_text()
                try:
                    return httpx.get(base + "/-/healthy", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(up, timeout_s=30, what="the exporter to serve")
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.parametrize(
    ("flags", "answer"),
    [
        pytest.param((), (404, "Not found.\n"), id="without the flag reload is a 404"),
        pytest.param(("--web.enable-lifecycle",), (200, "Reloaded.\n"), id="with it, reloaded"),
    ],
)
def test_the_command_line_flag_turns_reload_on(
    tmp_path: Path, flags: tuple[str, ...], answer: tuple[int, str]
) -> None:
    with _exporter(tmp_path, *flags) as base:
        reload = httpx.post(base + "/-/reload", timeout=30)
    assert (reload.status_code, reload.text) == answer


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[MetricsServer, list[str]]]:
    """A server with reload on and a web config with one user."""
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: bcrypt_hash(PASSWORD)}}))
    reloads: list[str] = []
    routes = Routes(
        metrics=lambda accept, encoding: (b"", {}),
        status_page=lambda: "",
        is_ready=lambda: True,
        reload=lambda: reloads.append("reloaded"),
    )
    server = MetricsServer(routes, host="127.0.0.1", port=0, web=WebConfigWatcher(web))
    server.start()
    try:
        yield server, reloads
    finally:
        server.stop()


def test_reload_needs_the_web_configs_basic_auth(guarded: tuple[MetricsServer, list[str]]) -> None:
    server, reloads = guarded
    url = f"http://127.0.0.1:{server.port}/-/reload"
    anonymous = httpx.post(url, timeout=10).status_code
    wrong = httpx.post(url, auth=(USER, "guess"), timeout=10).status_code
    assert reloads == [], "nothing reloads without the password"
    right = httpx.post(url, auth=(USER, PASSWORD), timeout=10).status_code
    assert (anonymous, wrong, right) == (401, 401, 200)
    assert reloads == ["reloaded"]


def test_a_web_config_cannot_exclude_reload_from_auth(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "basic_auth_users": {USER: bcrypt_hash(PASSWORD)},
                "auth_excluded_paths": ["/-/healthy", "/-/reload"],
            }
        )
    )
    with pytest.raises(WebConfigError, match="auth_excluded_paths: /-/reload changes the exporter"):
        load_web_config(web)
