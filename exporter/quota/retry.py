"""What every poller shares: the retry policy, and the real-time and insight pollers' plumbing.

A failed request is tried again after each of BACKOFF_S when its error says
a retry may succeed at once; otherwise the error's :class:`RetryAction` says
how long its budget (rate or daily limit) or its app (refused credentials)
is left alone: PAUSE_S.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from exporter.agora import AgoraClient, RetryAction
from exporter.agora.limits import Budget, Limits
from exporter.quota.ledger import Ledger, Sleep, make_sleep
from exporter.quota.request_stats import RuntimeStats
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock

BACKOFF_S = (1.0, 3.0, 6.0)
"""Waits before the second, third and fourth try of a request that may succeed at once."""
PAUSE_S = {
    RetryAction.NEXT_SLOT: 60.0,  # a rate limit: the next minute
    RetryAction.NEXT_DAY: 3600.0,  # the daily limit: look again in an hour
    RetryAction.STOP: 300.0,  # refused credentials: the app waits for a reload
}
AUTH_PAUSE_S = PAUSE_S[RetryAction.STOP]
RATE_LIMIT_PAUSE_S = PAUSE_S[RetryAction.NEXT_SLOT]
DAILY_LIMIT_PAUSE_S = PAUSE_S[RetryAction.NEXT_DAY]


class SeriesPoller:
    """The collaborators of a poller of series, the limits in force and the apps paused."""

    def __init__(
        self,
        *,
        client: AgoraClient,
        store: Store,
        limits: Mapping[Budget, Limits],
        stats: RuntimeStats,
        clock: Clock = system_clock,
        sleep: Sleep | None = None,
        stopping: threading.Event | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._limits = dict(limits)
        self._stats = stats
        self._clock = clock
        self._stopping = stopping or threading.Event()
        self._sleep = sleep or make_sleep(self._stopping)
        self._ledger = ledger or Ledger(store=store, clock=clock, sleep=self._sleep)
        self._paused_until: dict[str, float] = {}

    def set_limits(self, limits: Mapping[Budget, Limits]) -> None:
        self._limits = dict(limits)

    def clear_pauses(self) -> None:
        """End every app's pause after refused credentials (new ones were loaded)."""
        self._paused_until.clear()

    def _paused(self, appid: str, now: float) -> float | None:
        """Until when ``appid`` is paused, or None."""
        until = self._paused_until.get(appid, 0.0)
        return until if now < until else None

    def _record(
        self, key: str, appid: str, outcome: str, error: str | None = None, at: float | None = None
    ) -> None:
        """One finished poll, for the self-metrics and the status page (``at``: now)."""
        when = self._clock() if at is None else at
        self._stats.record_poll(series_key=key, appid=appid, at=when, outcome=outcome, error=error)
