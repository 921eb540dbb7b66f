"""Fakes shared by the tests: a clock that only moves when told to, and waits on it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


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
