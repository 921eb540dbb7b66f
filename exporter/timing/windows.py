"""Pure maths of Agora's 20-second windows, cursors and query ranges.

The real-time API answers in 20 s windows aligned to the epoch. Its reference
says: the window containing ``startTs`` is included, the one containing
``endTs`` is not; ``endTs`` must be earlier than ``now - delay`` and
``startTs`` later than ``now - horizon`` (both strict), and
``endTs - startTs`` shorter than the maximum span. Everything here keeps to
window boundaries so that a range asked for is exactly the windows stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_S = 20


def floor_window(t: float) -> int:
    """Start of the window containing ``t``."""
    return math.floor(t / WINDOW_S) * WINDOW_S


def ceil_window(t: float) -> int:
    """First window start at or after ``t``."""
    return math.ceil(t / WINDOW_S) * WINDOW_S


def newest_complete_end(now: float, delay_s: int) -> int:
    """The latest aligned ``endTs`` the API accepts at ``now``.

    ``endTs`` must be strictly before ``now - delay``; the window that contains
    ``endTs`` is excluded, so an aligned end loses nothing.
    """
    return floor_window(math.ceil(now) - delay_s - 1)


def oldest_available_start(now: float, horizon_s: int) -> int:
    """The earliest aligned ``startTs`` the API accepts (strictly after now - horizon)."""
    return ceil_window(math.floor(now) - horizon_s + 1)


@dataclass(frozen=True)
class QueryRange:
    """One request's time frame, and what had to be given up to fit it."""

    start: int
    end: int
    missed_windows: int

    @property
    def windows(self) -> int:
        return (self.end - self.start) // WINDOW_S


def query_range(
    cursor: int | None,
    now: float,
    *,
    delay_s: int,
    horizon_s: int,
    max_span_s: int,
) -> QueryRange | None:
    """The next range to ask for a series whose next needed window is ``cursor``.

    A series never fetched (``cursor`` None) starts at the oldest window still
    available, so the first poll backfills the whole horizon. Windows older
    than the horizon are counted as missed. The end is clamped so the span stays
    strictly below ``max_span_s``; the remaining windows wait for the next poll.
    Returns None when no complete window is due yet.
    """
    oldest = oldest_available_start(now, horizon_s)
    end = newest_complete_end(now, delay_s)
    start = oldest if cursor is None else max(cursor, oldest)
    missed = 0 if cursor is None else max(0, (oldest - cursor) // WINDOW_S)
    longest_end = start + floor_window(max_span_s - 1)
    end = min(end, longest_end)
    if end <= start:
        return None if missed == 0 else QueryRange(start=start, end=start, missed_windows=missed)
    return QueryRange(start=start, end=end, missed_windows=missed)


def replay_window(now: float, lag_s: float) -> int:
    """The window a replaying series shows at scrape time ``now``."""
    return floor_window(now - lag_s)


def shrink_span(
    problem: str | None, start: int, end: int, *, step: int, unit: int = 0
) -> tuple[int, int] | None:
    """``[start, end)`` after the API refused it; None when nothing is left.

    ``problem`` is the refusal's kind: ``"latency"`` moves the end ``step`` back,
    ``"range"`` the start ``step`` on; any other keeps the older half (in whole
    ``unit``s and at least one, when ``unit`` is set).
    """
    if problem == "latency":
        end -= step
    elif problem == "range":
        start += step
    else:
        half = (end - start) // 2
        end = start + (max(unit, half // unit * unit) if unit else half)
    return (start, end) if start < end else None
