"""The HTTP server itself: garbage on the wire never takes it down.

That scrapers share one rendering per change of state is the exposition
cache's promise, tested in test_exposition.py and test_exposition_http.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.serving.server import MetricsServer, Routes


@pytest.fixture(scope="module")
def plain() -> Iterator[MetricsServer]:
    routes = Routes(
        metrics=lambda accept, encoding: (b"", {}), status_page=lambda: "", is_ready=lambda: True
    )
    server = MetricsServer(routes, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@settings(max_examples=60, deadline=None)
@given(
    garbage=st.binary(max_size=300)
    | st.builds(
        lambda method, path, header: f"{method} {path} HTTP/1.1\r\n{header}\r\n\r\n".encode(),
        st.sampled_from(["GET", "POST", "BREW", "get", ""]),
        st.text(max_size=20),
        st.sampled_from(
            ["Content-Length: x", "Content-Length: -5", "Content-Length: 99999999", ""]
        ),
    )
)
def test_garbage_on_the_wire_never_takes_the_server_down(
    plain: MetricsServer, garbage: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", plain.port), timeout=5) as sock:
        sock.sendall(garbage)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass  # a reset is a fine answer to garbage
    answer = httpx.get(f"http://127.0.0.1:{plain.port}/-/healthy", timeout=10)
    assert answer.status_code == 200
