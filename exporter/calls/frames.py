"""Pure timing for the Call Inspector: which frame each request asks for.

Call searches take ``[start, end)`` on the calls' start times; the next search
starts at the oldest call still ongoing (so its end is seen), or where this
one ended. Sessions and metrics take ``[start, end]`` (both ends included);
the next frame of a call starts one second after this one ended, so no
sample is fetched twice. Every frame ends ``delay`` before now (the API
refuses anything later), starts inside the data horizon (with a minute to
spare) and is shorter than the plan's longest query.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.agora.limits import Limits
from exporter.store.calls import TrackedCall

HORIZON_MARGIN_S = 60


@dataclass(frozen=True)
class Frame:
    start: int
    end: int


def _latest_end(now: float, limits: Limits) -> int:
    """The last second the API serves at ``now`` (it refuses an end within the delay)."""
    return math.floor(now) - limits.delay_s - 1


def _earliest_start(end: int, now: float, limits: Limits) -> int:
    """The first second a query ending at ``end`` may start at: one query long at most,
    and inside the data horizon with a minute to spare."""
    horizon = math.floor(now) - limits.horizon_s + HORIZON_MARGIN_S
    return max(end - (limits.max_span_s - 1), horizon)


def list_frame(cursor: int | None, now: float, limits: Limits) -> Frame | None:
    """The next call search: from the cursor (first search: as far back as one query
    reaches) to ``delay`` before now; None when nothing new can be asked yet."""
    end = _latest_end(now, limits)
    earliest = _earliest_start(end, now, limits)
    start = earliest if cursor is None else max(cursor, earliest)
    return Frame(start, end) if start < end else None


def next_list_cursor(
    frame: Frame, *, ongoing_since: Iterable[int], oldest_seen: int | None = None
) -> int:
    """Where the next search starts: at the oldest ongoing call, else at this frame's end.

    A search cut short by the page allowance (``oldest_seen``: the oldest call
    its pages reached; results come newest first) gives up the calls it did not
    reach, once: the next search starts no earlier than the oldest call seen.
    """
    floor = frame.start if oldest_seen is None else max(frame.start, oldest_seen)
    return max(floor, min([frame.end, *ongoing_since]))


def details_frame(call: TrackedCall, now: float, limits: Limits, first_span_s: int) -> Frame | None:
    """The next sessions-and-metrics frame of a call; None when nothing is due.

    The first frame reaches back ``first_span_s`` (one cycle: only the newest
    sample of each series is shown), later ones start at the call's cursor
    (or later, when the data before has left the API's reach). A finished
    call's frames stop at its end; None for a finished call means nothing of
    it is left to fetch.
    """
    end = _latest_end(now, limits)
    if call.finished and call.destroyed_ts is not None:
        end = min(end, call.destroyed_ts)
    earliest = max(_earliest_start(end, now, limits), call.created_ts)
    start = (
        max(call.cursor, earliest) if call.cursor is not None else max(end - first_span_s, earliest)
    )
    return Frame(start, end) if start <= end else None


def is_done(call: TrackedCall) -> bool:
    """True once every window of a finished call has been fetched."""
    return (
        call.finished
        and call.destroyed_ts is not None
        and call.cursor is not None
        and call.cursor > call.destroyed_ts
    )
