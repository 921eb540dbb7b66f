"""The HTTP server itself: one rendering of /metrics per change of state, and
garbage on the wire never takes it down."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.serving.server import MetricsServer, Routes


class CountingCollector:
    """A collector that says how often it was asked."""

    def __init__(self) -> None:
        self.collected = 0

    def collect(self) -> Iterable[Metric]:
        self.collected += 1
        yield GaugeMetricFamily("renderings", "How often /metrics was rendered.", self.collected)


@pytest.fixture
def counted() -> Iterator[tuple[MetricsServer, CountingCollector, list[int]]]:
    collector = CountingCollector()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    version = [0]
    routes = Routes(
        registry=registry,
        status_page=lambda: "",
        is_ready=lambda: True,
        metrics_version=lambda: version[0],
    )
    server = MetricsServer(routes, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server, collector, version
    finally:
        server.stop()


def test_scrapes_share_one_rendering_until_the_state_changes(
    counted: tuple[MetricsServer, CountingCollector, list[int]],
) -> None:
    server, collector, version = counted
    url = f"http://127.0.0.1:{server.port}/metrics"
    with httpx.Client(timeout=10, headers={"Accept-Encoding": "identity"}) as http:
        first = [http.get(url).text for _ in range(5)]
        assert collector.collected == 1
        assert len(set(first)) == 1
        version[0] += 1
        assert "renderings 2.0" in http.get(url).text
        openmetrics = http.get(url, headers={"Accept": "application/openmetrics-text"})
        gzipped = http.get(url, headers={"Accept-Encoding": "gzip"})
    assert collector.collected == 4, "each format and encoding is rendered once per state"
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert gzipped.headers["Content-Encoding"] == "gzip"


@pytest.fixture(scope="module")
def plain() -> Iterator[MetricsServer]:
    routes = Routes(registry=CollectorRegistry(), status_page=lambda: "", is_ready=lambda: True)
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
