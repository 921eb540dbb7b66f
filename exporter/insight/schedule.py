"""Pure timing for Data Insights: the frame to ask for, when passes run, which days are late.

Days are never computed: every time here is derived from a ``ts`` the API
gave. A point ``P`` covers ``[P, P + period)`` and is published ``delay``
after it ends, so the point after the newest stored one is expected at
``newest + 2 * period + delay``.
"""

from __future__ import annotations

import math

from exporter.agora.limits import DAY, HOUR, MINUTE, Limits
from exporter.catalog.insight import Granularity
from exporter.insight.plan import LATE_WINDOW_S, RETRY_AFTER_S, SLACK_S

REREAD_S = 2 * DAY
"""Agora recomputes a day up to two days later: each pass re-reads that far back."""
GRID_TOLERANCE_S = 600
"""How late a pass may run after its grid point and still keep the next one."""
CLOCK_MARGIN_S = 5 * MINUTE
"""How far inside the data delay a frame ends: a clock of ours up to this much ahead
of Agora's costs no latency refusal, and no point is lost (it is under a period)."""


def insight_frame(newest_ts: int | None, now: float, limits: Limits) -> tuple[int, int]:
    """``[start, end]`` (both inclusive) for one request, inside the reference's limits
    read strictly ("ensure that" ``end < now - delay`` and ``end - start < longest
    query``; ``start > now - horizon``).

    It ends ``CLOCK_MARGIN_S`` inside the data delay and starts two days before the
    newest stored point (so recomputed days replace old values), never reaching
    back the whole longest query nor within an hour of the data horizon. Without a
    stored point: the longest frame the plan allows.
    """
    end = frame_end(now, limits)
    earliest = min(end, earliest_start(end, now, limits))
    if newest_ts is None:
        return earliest, end
    return max(earliest, min(newest_ts - REREAD_S, end)), end


def frame_end(now: float, limits: Limits) -> int:
    """The latest ``end`` a frame asks for at ``now``: ``CLOCK_MARGIN_S`` before ``now - delay``.

    No published point is left out: the newest one starts a whole period (an
    hour at least) before ``now - delay``.
    """
    return math.floor(now) - limits.delay_s - CLOCK_MARGIN_S


def earliest_start(end: int, now: float, limits: Limits) -> int:
    """The earliest ``start`` a frame ending at ``end`` may ask for at ``now``: shorter than
    the longest query by a second, and an hour inside the data horizon."""
    return max(end - limits.max_span_s + 1, math.floor(now) - limits.horizon_s + HOUR)


def expected_next_at(newest_ts: int, granularity: Granularity, delay_s: int) -> int:
    """When the point after ``newest_ts`` should be published."""
    return newest_ts + 2 * granularity.seconds + delay_s


def is_late(newest_ts: int | None, delay_s: int, now: float) -> bool:
    """True when the day after ``newest_ts`` should have been published by now,
    for up to ``LATE_WINDOW_S`` (after that the regular passes keep asking).

    A series with no stored day is never late: the API may simply have
    nothing for it (the Web SDK reports no audio freeze rate).
    """
    if newest_ts is None:
        return False
    expected = expected_next_at(newest_ts, Granularity.DAY, delay_s) + SLACK_S
    return expected <= now < expected + LATE_WINDOW_S


def next_pass_at(
    *, last_pass_at: float | None, newest_day_ts: int | None, interval_s: int, delay_s: int
) -> float | None:
    """When the next regular pass of a budget runs (None: at once).

    Once a day is known, passes sit on a grid ``interval_s`` apart that puts
    one ``SLACK_S`` after the next day's expected publication. The next is the
    first grid point at least ``interval_s`` after the last pass, less
    ``GRID_TOLERANCE_S`` (a pass that ran a little after its grid point must
    not push the next one a whole interval back). The ledger holds the budget
    whatever the timing.
    """
    if last_pass_at is None:
        return None
    earliest = last_pass_at + interval_s
    if newest_day_ts is None or interval_s <= 0:
        return earliest
    earliest -= min(GRID_TOLERANCE_S, interval_s // 4)
    anchor = expected_next_at(newest_day_ts, Granularity.DAY, delay_s) + SLACK_S
    steps = math.ceil((earliest - anchor) / interval_s - 1e-9)
    return float(anchor + steps * interval_s)


def retry_at(*, last_attempt_at: float | None, next_regular: float | None) -> float | None:
    """When late days are asked for again, or None when the next regular pass comes first."""
    if last_attempt_at is None:
        return None
    at = last_attempt_at + RETRY_AFTER_S
    if next_regular is not None and at >= next_regular:
        return None
    return at
