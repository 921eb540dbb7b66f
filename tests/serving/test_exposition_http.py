"""/metrics of the composed app over HTTP: the cached exposition, content negotiation, gzip.

The app is built with a fake clock and its scheduler left off, so the store
changes only when the test commits; every answer is compared with the app's
registry rendered afresh at the same instant. The process section is checked
against a daemon running as a process of its own.
"""

from __future__ import annotations

import gzip
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import App, build_app
from exporter.catalog.own import PROCESS_METRICS
from exporter.serving.runtime import read_revision
from exporter.store.data import WindowRow
from tests.configs import settings_from, small_config, write_config
from tests.daemon_helpers import free_port, wait_until
from tests.fakes import FakeClock, render_afresh

T0 = 1_700_000_000
OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    clock = FakeClock(T0 + 3600)
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    built = build_app(settings_from(config), clock=clock, host="127.0.0.1", port=0)
    for one in built.plan.series:
        rows = [
            WindowRow(T0 + 20 * step, float(step), uid)
            for step in range(180)
            for uid in (one.uids or (None,))
        ]
        built.store.commit_poll(one.key, rows, cursor=T0 + 3600)
    built.server.start()  # the scheduler stays off: nothing polls
    try:
        yield built
    finally:
        built.stop()


def _get(app: App, method: str = "GET", **headers: str) -> httpx.Response:
    # httpx would ask for gzip by default; every test says what it accepts
    headers.setdefault("Accept-Encoding", "identity")
    url = f"http://127.0.0.1:{app.port}/metrics"
    return httpx.request(method, url, headers=headers, timeout=10)


def _fresh(app: App, accept: str, encoding: str = "") -> tuple[bytes, dict[str, str]]:
    return render_afresh(app.source.collector_input, accept, encoding)


@pytest.mark.parametrize(
    "accept", ["", "text/plain", OPENMETRICS], ids=["no Accept", "text", "OpenMetrics first"]
)
def test_metrics_over_http_is_the_registry_rendered_afresh(app: App, accept: str) -> None:
    answer = _get(app, Accept=accept)
    body, headers = _fresh(app, accept)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == headers["Content-Type"]
    assert answer.content == body
    assert int(answer.headers["Content-Length"]) == len(body)


def test_gzip_is_negotiated_and_decodes_to_the_same_bytes(app: App) -> None:
    with httpx.stream(
        "GET",
        f"http://127.0.0.1:{app.port}/metrics",
        headers={"Accept": OPENMETRICS, "Accept-Encoding": "gzip"},
        timeout=10,
    ) as answer:
        raw = b"".join(answer.iter_raw())
        assert answer.headers["Content-Encoding"] == "gzip"
        assert int(answer.headers["Content-Length"]) == len(raw)
    assert gzip.decompress(raw) == _fresh(app, OPENMETRICS)[0]


def test_head_announces_the_length_of_the_body_a_get_sends(app: App) -> None:
    head = _get(app, "HEAD")
    assert head.content == b""
    assert int(head.headers["Content-Length"]) == len(_get(app).content)


def test_a_commit_and_a_window_boundary_reach_the_next_scrape(app: App) -> None:
    before = _get(app).content
    one = app.plan.series[0]
    app.store.commit_poll(one.key, [WindowRow(T0 + 3600, 1234.0)], cursor=T0 + 3620)
    after_commit = _get(app).content
    assert after_commit != before
    assert after_commit == _fresh(app, "")[0]
    assert isinstance(app.clock, FakeClock)
    app.clock.advance(20)
    after_boundary = _get(app).content
    assert after_boundary != after_commit
    assert after_boundary == _fresh(app, "")[0]


def test_the_process_section_is_served_with_the_rest(app: App) -> None:
    body = _get(app).text
    for metric in PROCESS_METRICS:
        assert f"\n# TYPE {metric.name} {metric.kind}\n" in body
    assert body.encode() == _fresh(app, "")[0]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, float]]:
    """``agora-exporter`` as a process of its own (polling nothing), its port and start time."""
    config = write_config(tmp_path / "agora.yml", small_config("http://127.0.0.1:9", tmp_path))
    port, log = free_port(), tmp_path / "daemon.log"
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("AGORA_EXPORTER_")}
    spawned = time.time()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environ,
        )
    try:
        wait_until(lambda: _healthy(port), timeout_s=60, what="the daemon serving")
        yield process, port, spawned
    except BaseException:
        print(log.read_text(errors="replace"))
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _scrape(port: int) -> dict[str, tuple[dict[str, str], float]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        sample.name: (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(("process_", "python_", "agora_exporter_build"))
    }


def _resident_bytes(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    [line] = [one for one in status.splitlines() if one.startswith("VmRSS:")]
    return float(line.split()[1]) * 1024


def test_a_running_daemon_serves_its_own_process_metrics(
    daemon: tuple[subprocess.Popen[bytes], int, float],
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: the process_* families are absent")
    process, port, spawned = daemon
    first = _scrape(port)
    resident = _resident_bytes(process.pid)
    values = {name: value for name, (_, value) in first.items()}
    assert {metric.name for metric in PROCESS_METRICS} <= set(values)
    # the daemon's own process, not the test's: started when it was spawned
    assert spawned - 2 <= values["process_start_time_seconds"] <= time.time()
    assert 0.5 * resident <= values["process_resident_memory_bytes"] <= 2 * resident
    assert values["process_virtual_memory_bytes"] >= values["process_resident_memory_bytes"]
    assert (
        0 < values["process_cpu_seconds_total"] <= (time.time() - spawned) * (os.cpu_count() or 1)
    )
    assert values["process_open_fds"] >= 3  # stdin, stdout, stderr at least
    assert values["process_max_fds"] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    info, _ = first["python_info"]
    assert info["version"] == platform.python_version()
    build, _ = first["agora_exporter_build_info"]
    assert build["revision"] == read_revision()  # this source tree's, as the daemon runs it
    time.sleep(1.1)
    later = _scrape(port)
    assert later["process_cpu_seconds_total"][1] >= values["process_cpu_seconds_total"]
    assert later["process_start_time_seconds"] == first["process_start_time_seconds"]
