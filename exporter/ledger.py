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

from exporter.clock import Clock, system_clock
from exporter.plans import DAY, Budget, Limits
from exporter.quota import next_free_slot
from exporter.store import Store

PER_SECOND_MARGIN_S = 0.05
"""Requests rationed per second leave this much late, so network jitter cannot
put two of them into one of the API's seconds."""

Sleep = Callable[[float], bool]
"""Waits up to the given seconds; returns False when the daemon is stopping."""


def make_sleep(stopping: threading.Event) -> Sleep:
    """A Sleep that ends early, returning False, once ``stopping`` is set."""

    def sleep(seconds: float) -> bool:
        return not stopping.wait(seconds)

    return sleep


def free_slot(sent: list[float], now: float, limits: Limits) -> float:
    """The ledger's next free slot, with a margin on a per-second limit."""
    slot = next_free_slot(sent, now, limits)
    cap = limits.per_second
    if cap and len(sent) >= cap and math.isfinite(slot):
        slot = max(slot, sent[-cap] + 1.0 + PER_SECOND_MARGIN_S)
    return slot


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
            slot = free_slot(self._store.request_times(budget.value, now - DAY), now, limits)
            if slot <= now:
                self._store.record_request(budget.value, endpoint, now)
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
