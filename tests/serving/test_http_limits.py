"""The request-head budget: hostile clients cost bounded memory, threads and time.

Each test replays an attack of issue 18 (loopback only, bounded loops) and
checks the bound: header floods, slow drips, request smuggling, echoes in
error pages. The memory and thread counts come from a server in a process of
its own (``tests.serving.limits_server``), read from /proc.
"""

from __future__ import annotations

import logging
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest

from exporter.cli.logs import LogfmtFormatter
from exporter.serving.http_limits import HttpLimits, without_paths
from exporter.serving.server import MetricsServer, Routes
from tests.daemon_helpers import wait_until
from tests.serving.limits_server import status

MIB = 1024  # /proc reports KiB
HEAD_TIMEOUT_S = 0.5
"""The head deadline of the in-process servers: short, so a test waits little for it."""


def _routes(reload: Callable[[], None] | None = None) -> Routes:
    return Routes(
        metrics=lambda accept, encoding: (b"up 1\n", {"Content-Type": "text/plain"}),
        status_page=lambda: "<p>status</p>",
        is_ready=lambda: True,
        reload=reload,
    )


@contextmanager
def serving(routes: Routes | None = None, **limits: Any) -> Iterator[MetricsServer]:
    server = MetricsServer(
        routes or _routes(),
        host="127.0.0.1",
        port=0,
        limits=HttpLimits(**{"head_timeout_s": HEAD_TIMEOUT_S, **limits}),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[MetricsServer]:
    with serving() as started:
        yield started


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes (a reset ends it too)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:
            pass
    return received


def statuses(answer: bytes) -> list[int]:
    """The status of each answer in ``answer`` (our bodies never hold a status line)."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


@contextmanager
def own_process(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.serving.limits_server", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
            yield process, port
        finally:
            process.kill()


# --- row 1: header floods ------------------------------------------------------------


def _flood(port: int, answers: list[bytes]) -> None:
    """98 headers of 65,000 bytes: each within the stdlib's own per-line and count limits."""
    line = b"X-Flood-%02d: " + b"a" * 64_987 + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n")
            for number in range(98):
                sock.sendall(line % number)
            sock.sendall(b"\r\n")
        except OSError:
            pass  # refused halfway: the server closed on us
        try:
            answers.append(sock.recv(64))
        except OSError:
            answers.append(b"reset")


def test_a_header_flood_of_40_connections_leaves_peak_memory_within_20_mib_of_idle() -> None:
    with own_process() as (process, port):
        idle = status(process.pid)["VmRSS"]
        answers: list[bytes] = []
        floods = [threading.Thread(target=_flood, args=(port, answers)) for _ in range(40)]
        for flood in floods:
            flood.start()
        for flood in floods:
            flood.join(timeout=60)
        peak = status(process.pid)["VmHWM"]
        healthy = httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=10).status_code
    assert len(answers) == 40
    assert all(a.startswith(b"HTTP/1.1 431 ") or a == b"reset" for a in answers), answers
    assert peak - idle < 20 * MIB, f"peak {peak} KiB against {idle} KiB idle"
    assert healthy == 200


def test_a_head_beyond_the_byte_budget_is_431_and_the_connection_closes(
    server: MetricsServer,
) -> None:
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 40_000 + b"\r\n\r\n"
    answer = exchange(server.port, head)
    assert statuses(answer) == [431]


def test_a_head_just_within_the_byte_budget_is_served(server: MetricsServer) -> None:
    filler = b"X-Fill: " + b"f" * 30_000 + b"\r\n"
    answer = exchange(
        server.port, b"GET /metrics HTTP/1.1\r\n" + filler + b"Connection: close\r\n\r\n"
    )
    assert statuses(answer) == [200]


# --- row 8: slow drips and the connection cap ---------------------------------------------


def _drip(
    port: int, count: int, head_timeout_s: float, pid: int
) -> tuple[Counter[bytes], float, int]:
    """``count`` connections each sending a header line every 0.25 s and never the end of
    the head. The first answer of each, the longest any stayed open, and the peak threads."""
    picker = selectors.DefaultSelector()
    opened: dict[socket.socket, float] = {}
    answers: dict[socket.socket, bytes] = {}
    lasted: list[float] = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n")
        sock.setblocking(False)
        opened[sock], answers[sock] = time.monotonic(), b""
        picker.register(sock, selectors.EVENT_READ)
    peak, dripped_at, give_up = 0, 0.0, time.monotonic() + head_timeout_s + 30
    while opened and time.monotonic() < give_up:  # a bound on the loop, not an assertion
        peak = max(peak, status(pid)["Threads"])
        for key, _ in picker.select(0.05):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(4096)
            except OSError:
                chunk = b""
            answers[sock] += chunk
            if not chunk:
                lasted.append(time.monotonic() - opened.pop(sock))
                picker.unregister(sock)
                sock.close()
        if time.monotonic() - dripped_at >= 0.25:
            dripped_at = time.monotonic()
            for sock in opened:
                with suppress(OSError):
                    sock.send(b"X-Drip: 1\r\n")
    for sock in opened:
        sock.close()
    assert not opened, f"{len(opened)} connections still open"
    return Counter(answer[:12] for answer in answers.values()), max(lasted), peak


def test_1000_slow_drip_connections_are_refused_or_closed_by_the_head_deadline() -> None:
    limits = HttpLimits(head_timeout_s=2.0)
    with own_process(f"--head-timeout={limits.head_timeout_s}") as (process, port):
        answers, longest, peak_threads = _drip(port, 1000, limits.head_timeout_s, process.pid)
        healthy = httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=10).status_code
    assert answers[b"HTTP/1.1 503"] == 1000 - limits.max_connections
    assert answers[b"HTTP/1.1 408"] == limits.max_connections
    # The deadline runs from the accept; 1 s more for the accept queue and this loop's turns.
    assert longest < limits.head_timeout_s + 1.0
    assert peak_threads <= limits.max_connections + 3  # main, accept loop, and one spare
    assert healthy == 200


def test_beyond_the_connection_cap_a_clear_503_and_no_thread() -> None:
    with serving(max_connections=2, head_timeout_s=30.0) as server:
        holders = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        for holder in holders:
            holder.sendall(b"GET /metrics HTTP/1.1\r\n")  # an unfinished head holds its thread
        wait_until(lambda: server.connections == 2, timeout_s=10, what="two held threads")
        refused = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
        for holder in holders:
            holder.close()
        wait_until(lambda: server.connections == 0, timeout_s=10, what="the holders to go")
        served = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    assert refused.status_code == 503
    assert refused.text == "Too many open connections; try again shortly.\n"
    assert refused.headers["Retry-After"] == "1"
    assert served.status_code == 200


def test_a_silent_connection_gets_408_once_the_head_deadline_passes(server: MetricsServer) -> None:
    answer = exchange(server.port, b"GET /metrics HTTP/1.1\r\n")  # read until it closes
    assert statuses(answer) == [408]


def test_keep_alive_serves_request_after_request_and_closes_when_idle() -> None:
    with serving(idle_timeout_s=0.5) as server, httpx.Client(timeout=10) as client:
        base = f"http://127.0.0.1:{server.port}"
        answers = [client.get(base + "/metrics").status_code for _ in range(3)]
        kept = server.connections
        wait_until(lambda: server.connections == 0, timeout_s=10, what="the idle close")
        after = client.get(base + "/-/healthy").status_code  # httpx opens a new one
    assert answers == [200, 200, 200]
    assert kept == 1, "three requests on one kept-alive connection"
    assert after == 200


# --- row 11: framing, the Server header, echoes and logs ----------------------------------


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(
            b"POST /-/healthy HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"1c\r\nGET /metrics HTTP/1.1\r\n\r\n\r\n0\r\n\r\n",
            id="Transfer-Encoding chunked, with a request smuggled in its body",
        ),
        pytest.param(
            b"POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"Content-Length: 30\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n\r\n",
            id="two different Content-Lengths",
        ),
        pytest.param(
            b"POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
            b"hello",
            id="the same Content-Length twice",
        ),
        pytest.param(
            b"POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            id="a Content-Length that is not a number",
        ),
    ],
)
def test_ambiguous_framing_is_400_and_nothing_after_it_is_read_as_a_request(
    server: MetricsServer, head: bytes
) -> None:
    assert statuses(exchange(server.port, head)) == [400]


def test_a_body_within_its_content_length_is_read_and_the_next_request_served(
    server: MetricsServer,
) -> None:
    requests = (
        b"POST /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert statuses(exchange(server.port, requests)) == [405, 200]


def test_the_server_header_names_the_program_and_no_python_version(
    server: MetricsServer,
) -> None:
    answer = httpx.get(f"http://127.0.0.1:{server.port}/-/healthy", timeout=10)
    assert answer.headers["Server"] == "agora-exporter"


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        pytest.param(b"GET /<script>x</script> HTTP/1.x<b>", 400, id="a bad version"),
        pytest.param(b"BREW /<script>x</script> HTTP/1.1", 501, id="an unknown method"),
        pytest.param(b"GET /<script>x</script> HTTP/2.0", 505, id="HTTP/2 in HTTP/1 clothes"),
        pytest.param(b"GET /a /b /<script> HTTP/1.1", 400, id="too many words"),
    ],
)
def test_an_error_answer_never_echoes_the_request(
    server: MetricsServer, request_line: bytes, status: int
) -> None:
    answer = exchange(server.port, request_line + b"\r\nHost: x\r\n\r\n")
    assert statuses(answer) == [status]
    assert b"script" not in answer
    assert b"BREW" not in answer


def test_control_bytes_of_a_request_line_reach_the_log_escaped(
    server: MetricsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter.serving")
    exchange(server.port, b"GET /\x1b[2J\x07 HTTP/1.1\r\nConnection: close\r\n\r\n")
    wait_until(
        lambda: any(r.getMessage() == "http request" for r in caplog.records),
        timeout_s=10,
        what="the request in the log",
    )
    lines = [LogfmtFormatter().format(record) for record in caplog.records]
    logged = next(line for line in lines if 'msg="http request"' in line)
    assert "\x1b" not in logged
    assert "\x07" not in logged
    assert 'request="GET /\\x1b[2J\\x07 HTTP/1.1"' in logged
    assert "status=404" in logged


def test_a_failed_reload_answers_the_reason_without_file_paths_and_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def reload() -> None:
        raise RuntimeError(
            "config file /etc/agora/private/agora.yml is not valid YAML at line 3; "
            "agora.plan: given 'gold' (conf.d/agora.yml line 2)"
        )

    with serving(_routes(reload)) as server:
        answer = httpx.post(f"http://127.0.0.1:{server.port}/-/reload", timeout=10)
    assert answer.status_code == 500
    assert answer.text == (
        "failed to reload config: config file [path] is not valid YAML at line 3; "
        "agora.plan: given 'gold' ([path] line 2)\n"
    )
    logged = [r for r in caplog.records if r.getMessage().startswith("reload via /-/reload")]
    assert "/etc/agora/private/agora.yml" in logged[0].__dict__["error"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("config file /tmp/x/agora.yml not found", "config file [path] not found"),
        (
            "web config /etc/web.yml: tls_server_config: ...",
            "web config [path]: tls_server_config: ...",
        ),
        ("state_dir cannot change (/var/a -> ./b/c)", "state_dir cannot change ([path] -> [path])"),
        ("see ~/conf/agora.yml.", "see [path]."),
        ("in conf.d/web.yml line 2", "in [path] line 2"),
        ("must be true/false, not 3", "must be true/false, not 3"),
        (
            "base_url https://api.agora.io/dev/v1 refused",
            "base_url https://api.agora.io/dev/v1 refused",
        ),
        ("POST /-/reload failed", "POST /-/reload failed"),
    ],
)
def test_without_paths_hides_file_names_and_keeps_urls_and_words(text: str, shown: str) -> None:
    assert without_paths(text) == shown
