"""Pure timing for the Call Inspector: which frame each request asks for.

Call searches take ``[start, end)`` on the calls' start times; the next search
starts at the oldest call still ongoing (so its end is seen), or where this
one ended. Sessions and metrics take ``[start, end]`` (both ends included);
the next frame of a call starts one second after this one ended, so no
sample is fetched twice.

Every frame keeps the reference's "ensure that" rules strictly, with room to
spare for a clock that runs a little ahead of Agora's: it ends before ``now -
delay`` by ``LATENCY_MARGIN_S``, starts after ``now - horizon`` by
``HORIZON_MARGIN_S`` and is shorter than the plan's longest query
(``end - start < longest``). A frame the API refuses all the same is shrunk
once on the side it complained of (:func:`shrink_frame`) and sent again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.agora import AgoraError
from exporter.agora.limits import Limits
from exporter.store.calls import TrackedCall
from exporter.timing.windows import shrink_span

HORIZON_MARGIN_S = 60
"""A frame starts this long after the oldest second the API serves."""
LATENCY_MARGIN_S = 10
"""A frame ends this long before the newest second the API serves (``now - delay``)."""
SHRINK_S = 20
"""How far a refused frame's edge moves (the end back for latency, the start on for range):
one real-time window, as the real-time poller shrinks; with the margins, a clock up to
30 s ahead of Agora's costs one refusal per frame, never a frame."""


@dataclass(frozen=True)
class Frame:
    start: int
    end: int


def _latest_end(now: float, limits: Limits) -> int:
    """The last second a frame may end at: ``end < now - delay`` with the margin to spare."""
    return math.floor(now) - limits.delay_s - LATENCY_MARGIN_S


def _earliest_start(end: int, now: float, limits: Limits) -> int:
    """The first second a query ending at ``end`` may start at: shorter than one query
    (``end - start < longest``), and inside the data horizon with a minute to spare."""
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


def shrink_frame(error: AgoraError, frame: Frame) -> Frame | None:
    """The frame to send once more after the API refused ``frame``; None: nothing left.

    Latency: the end moves ``SHRINK_S`` back (the rest is asked next cycle, the
    cursors follow the frame sent). Range: the start moves ``SHRINK_S`` on
    (what lay before is out of reach anyway). Length: the older half is kept,
    so the cursors leave nothing out. Both kinds of frame must stay non-empty.
    """
    span = shrink_span(getattr(error, "problem", None), frame.start, frame.end, step=SHRINK_S)
    return None if span is None else Frame(*span)


def is_done(call: TrackedCall) -> bool:
    """True once every window of a finished call has been fetched."""
    return (
        call.finished
        and call.destroyed_ts is not None
        and call.cursor is not None
        and call.cursor > call.destroyed_ts
    )
