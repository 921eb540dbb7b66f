"""/metrics of the composed app over HTTP: the cached exposition, content negotiation, gzip.

The app is built with a fake clock and its scheduler left off, so the store
changes only when the test commits; every answer is compared with the app's
registry rendered afresh at the same instant.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exporter.app import App, build_app
from exporter.store.data import WindowRow
from tests.configs import settings_from, small_config
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
