"""Step 2 of a Call Inspector cycle: which calls are inspected, given what the searches found.

A call the search says has finished gets an end; calls of channels no longer
watched and calls whose last window was shown ``linger_s`` ago are forgotten
(their series disappear); a call a complete search should have found but did
not is done; new ongoing calls fill the free places up to ``max_calls``,
longest-running first, and the rest are counted as skipped.
"""

from __future__ import annotations

from dataclasses import replace

from exporter.agora import CallSummary
from exporter.calls.frames import Frame
from exporter.calls.plan import CallTarget
from exporter.store.calls import CallTable, TrackedCall

Listed = dict[str, CallSummary]
"""The calls the searches of a cycle found, by call ID."""
Covered = list[tuple[str | None, Frame]]
"""The frames searched completely, with the channel searched (None: every channel)."""


def choose_calls(
    calls: CallTable,
    target: CallTarget,
    listed: Listed,
    covered: Covered,
    *,
    now: float,
    linger_s: float,
    forget_others: bool,
) -> int:
    """Update the inspected calls of ``target``; returns how many new calls did not fit."""
    tracked = calls.tracked(target.appid)
    gone, updates, kept = [], [], 0
    for call in tracked:
        watched = not target.channels or call.cname in target.channels
        if not watched:
            if forget_others:
                gone.append(call.key)
            continue
        if call.done_at is not None and now - call.done_at >= linger_s:
            gone.append(call.key)
            continue
        kept += 1
        found = listed.get(call.call_id)
        if found is not None and found.finished and not call.finished:
            end = found.destroyed_ts if found.destroyed_ts is not None else int(now)
            updates.append(replace(call, finished=True, destroyed_ts=end))
        elif found is None and call.done_at is None and _covered(call, covered):
            updates.append(replace(call, done_at=now))  # the API no longer lists it
    calls.forget(gone)
    calls.upsert(updates)
    known = {call.call_id for call in tracked}
    new = sorted(
        (c for c in listed.values() if not c.finished and c.call_id not in known),
        key=lambda c: (c.created_ts, c.call_id),
    )
    free = max(0, target.max_calls - kept)
    calls.upsert(TrackedCall(target.appid, c.call_id, c.cname, c.created_ts) for c in new[:free])
    return max(0, len(new) - free)


def _covered(call: TrackedCall, covered: Covered) -> bool:
    """True when a complete search covered the call's start (so it should have been found)."""
    return any(
        frame.start <= call.created_ts < frame.end and cname in (None, call.cname)
        for cname, frame in covered
    )
