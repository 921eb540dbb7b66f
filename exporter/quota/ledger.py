"""The gate every request to Agora passes: record it in the ledger, or say when.

One ``Ledger`` serves every poller of a process (real-time, insight, calls,
backfill), so two threads can never both take the last free slot of a budget.
The ledger entry is written before the request leaves; a crash right after
still counts it, so a restart never overspends.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from exporter.agora.limits import DAY, Budget, Limits
from exporter.quota.rules import periods, used_since
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock

PER_SECOND_MARGIN_S = 0.05
PERIOD_MARGIN_S = 1.0
"""Requests leave this much after the ledger's window frees (a little less for
per-second limits): the API counts a request when it arrives, a moment after
the ledger wrote it, so a request sent exactly as the oldest one leaves the
window could still find it there on the server's side."""


Sleep = Callable[[float], bool]
"""Waits up to the given seconds; returns False when the daemon is stopping."""


def make_sleep(stopping: threading.Event) -> Sleep:
    """A Sleep that ends early, returning False, once ``stopping`` is set."""

    def sleep(seconds: float) -> bool:
        return not stopping.wait(seconds)

    return sleep


def free_slot(sent: list[float], now: float, limits: Limits) -> float:
    """The ledger's next free slot: every period's window must have room even
    when stretched by its margin (``sent`` ascending)."""
    earliest = now
    for name, length, cap in periods(limits):
        if cap <= 0:
            return math.inf
        margin = PER_SECOND_MARGIN_S if name == "second" else PERIOD_MARGIN_S
        if used_since(sent, now - length - margin) >= cap:
            earliest = max(earliest, sent[-cap] + length + margin)
    return earliest


class Ledger:
    """Thread-safe: takes slots for requests, waiting briefly when one frees soon."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock = system_clock,
        sleep: Sleep | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sleep = sleep or make_sleep(threading.Event())
        self._lock = threading.Lock()

    def try_take(self, budget: Budget, endpoint: str, limits: Limits) -> float | None:
        """Record one request now if every period allows it (None), else the free slot."""
        with self._lock:
            now = self._clock()
            slot = free_slot(self._store.ledger.times(budget.value, now - DAY), now, limits)
            if slot <= now:
                self._store.ledger.record(budget.value, endpoint, now)
                return None
            return slot

    def take(
        self,
        budget: Budget,
        endpoint: str,
        limits: Limits,
        *,
        max_wait_s: float,
        on_wait: Callable[[float], None] | None = None,
    ) -> float | None:
        """Record one request, waiting up to ``max_wait_s`` for a slot.

        Returns None once recorded; otherwise the time the next slot frees
        (when it is further off than ``max_wait_s``, or the daemon is stopping).
        """
        while True:
            slot = self.try_take(budget, endpoint, limits)
            if slot is None:
                return None
            wait = slot - self._clock()
            if wait > max_wait_s:
                return slot
            if on_wait is not None:
                on_wait(wait)
            if not self._sleep(max(wait, 0.0)):
                return slot
