"""When each series of one budget runs next: a queue of due times, and the start-up order. Pure.

A :class:`DueQueue` holds at most one due time per series; its budget's timer
takes the due ones off in order. :func:`first_runs` says when each series
runs first after a start or a change of its interval.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence

from exporter.realtime.series import Series
from exporter.scheduling.planner import PollPlan


class DueQueue:
    """Series keys by due time; setting a key again replaces its due time."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, tuple[float, int]] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def due_of(self, key: str) -> float | None:
        found = self._due.get(key)
        return None if found is None else found[0]

    def set(self, key: str, due: float) -> None:
        entry = (due, next(self._order))
        self._due[key] = entry
        heapq.heappush(self._heap, (*entry, key))

    def remove(self, key: str) -> None:
        self._due.pop(key, None)

    def next_due(self) -> float | None:
        """The earliest due time (None: empty)."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[str, float]]:
        """Every key due at ``now`` (with its due time), earliest first; they leave the queue."""
        found: list[tuple[str, float]] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return found
            due, _, key = heapq.heappop(self._heap)
            del self._due[key]
            found.append((key, due))

    def items(self) -> list[tuple[str, float]]:
        """Every key and its due time, earliest first."""
        return sorted(((key, due) for key, (due, _) in self._due.items()), key=lambda i: i[1])

    def _drop_stale(self) -> None:
        while self._heap:
            due, order, key = self._heap[0]
            if self._due.get(key) == (due, order):
                return
            heapq.heappop(self._heap)


def catch_up_delay(order: int, per_minute: int) -> float:
    """Delay of the ``order``-th stale series at start: the first minute's
    allowance goes at once, the rest follow as the sliding minute frees."""
    if order < per_minute:
        return order * 0.2
    return 60.0 + (order - per_minute) * 60.0 / per_minute


def first_runs(
    series: Sequence[Series],
    plan: PollPlan,
    *,
    now: float,
    is_stale: Callable[[Series], bool],
    due: Callable[[Series], float | None] | None = None,
) -> dict[str, float]:
    """When each series first runs: stale ones at once, paced by the per-minute
    limit; with ``due`` (when a series' cursor says its next poll is due; None:
    never polled) the others then, or without it at their phase in the stagger
    of their interval."""
    runs: dict[str, float] = {}
    stale_seen: dict[str, int] = {}
    phases: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for one in series:
        interval = plan.timing_of(one).interval_s
        sizes[interval] = sizes.get(interval, 0) + 1
    for one in series:
        budget = plan.budgets[one.budget]
        interval = plan.timing_of(one).interval_s
        phase = phases.get(interval, 0)
        phases[interval] = phase + 1
        wanted = None if due is None else due(one)
        overdue = due is not None and (wanted is None or wanted <= now)  # None: never polled
        if is_stale(one) or overdue:
            order = stale_seen.get(one.budget.value, 0)
            stale_seen[one.budget.value] = order + 1
            runs[one.key] = now + catch_up_delay(order, budget.limits.minute_capacity)
        elif wanted is not None:
            runs[one.key] = wanted
        else:
            runs[one.key] = now + phase * interval / sizes[interval]
    return runs


def spread_slots(series: Sequence[Series], plan: PollPlan, *, now: float) -> dict[str, float]:
    """Each series' regular slot, the series of one interval spread evenly over it.

    A fresh start catches every series up within minutes; were their regular
    slots to follow from that, series of one interval would stay bunched and
    fall due together, beyond the per-minute limit, every interval after.
    """
    groups: dict[int, list[Series]] = {}
    for one in series:
        groups.setdefault(plan.timing_of(one).interval_s, []).append(one)
    return {
        one.key: now + phase * interval / len(members)
        for interval, members in groups.items()
        for phase, one in enumerate(members)
    }


def regular_slots(
    series: Sequence[Series],
    plan: PollPlan,
    runs: dict[str, float],
    *,
    now: float,
    caught_up: Callable[[str], bool],
    due: Callable[[Series], float | None],
) -> dict[str, float]:
    """Each series' regular slot after its first run ``runs[key]``: a series caught up
    at start (never polled, overdue, or ``caught_up``) takes a slot spread over its
    interval, its catch-up an extra poll before it; the others run on from their first."""
    spread = spread_slots(series, plan, now=now)
    slots = {}
    for one in series:
        wanted = due(one)
        catching_up = caught_up(one.key) or wanted is None or wanted <= now
        slots[one.key] = max(runs[one.key], spread[one.key]) if catching_up else runs[one.key]
    return slots


def next_slot(slot: float, served: float, interval_s: int, now: float) -> float:
    """A series' next regular poll after one that was due at ``served``.

    The regular poll moves the slot on by one interval, or to ``now`` when it
    overran that (missed slots coalesce into one poll); a retry before the slot
    leaves it where it was.
    """
    if served < slot:
        return slot
    return max(slot + interval_s, now)


def next_due(slot: float, retry_at: float | None, now: float, *, earliest_s: float) -> float:
    """When a series runs next: its slot, or a retry the poll asked for before it."""
    if retry_at is None:
        return slot
    return min(slot, max(retry_at, now + earliest_s))
