"""Fakes shared by the tests: a clock that only moves when told to, waits on it, and the
reference rendering of /metrics."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from exporter.serving.collector import AgoraCollector, CollectorInput


class FakeClock:
    """A settable clock; callable like ``time.time``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = float(now)

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now


@dataclass
class FakeSleep:
    """Waits that cost no real time: they move the fake clock and are remembered."""

    clock: FakeClock
    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        return True


def render_afresh(
    source: Callable[[], CollectorInput], accept: str = "", accept_encoding: str = ""
) -> tuple[bytes, dict[str, str]]:
    """The reference /metrics: prometheus_client's own encoder over a fresh registry.

    The exposition cache must serve exactly these bytes (tests compare the two).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgoraCollector(source))
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)
    headers = {"Content-Type": content_type}
    if gzip_accepted(accept_encoding):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return body, headers
