"""What the exporter knows about its own work: requests, outcomes, app health.

Fed by the client's ``on_request`` hook and by the poller; read by the
collector and the status page through ``snapshot()``. Counters live in memory
(a restart resets them, as Prometheus counters may); the ledger that guards
the quota lives in the store.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RECENT_ERRORS = 20


@dataclass(frozen=True)
class DurationHistogram:
    """Cumulative-ready bucket counts for one endpoint."""

    bucket_counts: tuple[int, ...]
    count: int
    total_s: float


@dataclass(frozen=True)
class ErrorEntry:
    at: float
    where: str
    outcome: str
    message: str


@dataclass(frozen=True)
class SeriesStatus:
    """The last poll of one series, for the status page."""

    last_poll_at: float | None = None
    last_outcome: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class StatsSnapshot:
    requests: dict[tuple[str, str], int]
    durations: dict[str, DurationHistogram]
    up: dict[str, bool]
    series: dict[str, SeriesStatus]
    recent_errors: tuple[ErrorEntry, ...]
    polls_completed: int


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    count: int = 0
    total_s: float = 0.0


class RuntimeStats:
    """Thread-safe tallies; every method is cheap and never raises."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = {}
        self._durations: dict[str, _Histogram] = {}
        self._up: dict[str, bool] = {}
        self._series: dict[str, SeriesStatus] = {}
        self._errors: deque[ErrorEntry] = deque(maxlen=RECENT_ERRORS)
        self._polls_completed = 0
        self._version = 0

    @property
    def version(self) -> int:
        """Bumped by every change: /metrics reuses its rendering while it stays the same."""
        return self._version

    def preset_requests(self, *, endpoints: Iterable[str], outcomes: Iterable[str]) -> None:
        """Start every (endpoint, outcome) counter at 0, so ``increase()`` in an
        alert sees the very first failure after a restart."""
        outcomes = tuple(outcomes)
        with self._lock:
            for endpoint in endpoints:
                for outcome in outcomes:
                    self._requests.setdefault((endpoint, outcome), 0)
            self._version += 1

    def record_request(self, *, endpoint: str, outcome: str, duration_s: float) -> None:
        """One HTTP request to Agora (the app feeds this from the client's hook)."""
        label = endpoint
        with self._lock:
            self._version += 1
            key = (label, outcome)
            self._requests[key] = self._requests.get(key, 0) + 1
            histogram = self._durations.setdefault(label, _Histogram())
            index = bisect.bisect_left(DURATION_BUCKETS, duration_s)
            if index < len(DURATION_BUCKETS):
                histogram.buckets[index] += 1
            histogram.count += 1
            histogram.total_s += duration_s

    def record_poll(
        self, *, series_key: str, appid: str, at: float, outcome: str, error: str | None = None
    ) -> None:
        """One finished poll (after its retries): success sets the app up, failure down."""
        with self._lock:
            self._version += 1
            self._series[series_key] = SeriesStatus(at, outcome, error)
            self._up[appid] = error is None
            self._polls_completed += 1
            if error is not None:
                self._errors.append(ErrorEntry(at, series_key, outcome, error))

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                requests=dict(self._requests),
                durations={
                    label: DurationHistogram(tuple(h.buckets), h.count, h.total_s)
                    for label, h in self._durations.items()
                },
                up=dict(self._up),
                series=dict(self._series),
                recent_errors=tuple(self._errors),
                polls_completed=self._polls_completed,
            )
