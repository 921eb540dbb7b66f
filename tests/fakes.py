"""Fakes shared by the tests: a clock that only moves when told to."""

from __future__ import annotations

import threading


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
