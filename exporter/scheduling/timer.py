"""One timer per budget: a thread that sleeps until its queue's earliest due series.

It hands every due series to ``dispatch`` (which only queues work for the poll
workers) and sleeps again. It reads the injected clock and never sleeps more
than :data:`MAX_SLEEP_S` at a time, so a clock that jumps (a fake one in tests,
a suspended machine) is noticed within that; :meth:`BudgetTimer.wake` cuts a
sleep short when an earlier series was queued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from exporter.scheduling.queue import DueQueue
from exporter.timing.clock import Clock

MAX_SLEEP_S = 1.0


class BudgetTimer:
    """The timer of one budget's :class:`DueQueue`; ``condition`` guards the queue."""

    def __init__(
        self,
        name: str,
        queue: DueQueue,
        *,
        condition: threading.Condition,
        dispatch: Callable[[str, float], None],
        clock: Clock,
    ) -> None:
        self.queue = queue
        self._condition = condition
        self._dispatch = dispatch
        self._clock = clock
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=f"timer-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue again now (call holding ``condition``)."""
        self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        with self._condition:
            while not self._stopped:
                now = self._clock()
                due = self.queue.pop_due(now)
                for key, when in due:
                    self._dispatch(key, when)
                if due:
                    continue
                earliest = self.queue.next_due()
                wait = MAX_SLEEP_S if earliest is None else min(MAX_SLEEP_S, earliest - now)
                self._condition.wait(max(wait, 0.0))
