"""The paging loops of a cycle: one search, one call's sessions, their newest samples.

Stateless helpers over a :class:`CallFetcher`; the inspector decides what to
ask for and keeps the counts.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

from exporter.agora import CallSummary, MetricSeries, SessionInfo
from exporter.calls.fetch import CallFetcher
from exporter.calls.frames import Frame
from exporter.calls.plan import PAGE_SIZE, SIDS_PER_REQUEST
from exporter.catalog.calls import is_known
from exporter.store.calls import CallSample, CallSession, TrackedCall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Search:
    """One call search: the calls it listed, the frame it searched, what it left out."""

    calls: list[CallSummary]
    frame: Frame
    """The frame searched: the one asked for, or smaller after a refusal."""
    complete: bool
    unreached: int = 0
    """Calls the page allowance left out, as far as the API counted them."""
    capped: bool = False
    """The API matched more calls than it returned (``has_more``) and narrowing could not
    list them all (the page allowance ran out, or one second held more calls than a
    search returns): at least one call may be left out."""


def search_calls(
    fetcher: CallFetcher, appid: str, cname: str | None, frame: Frame, pages: int
) -> Search:
    """Every call created in ``frame`` (newest first), in at most ``pages`` requests.

    One search returns at most so many calls (Agora's cap; the reference does
    not say how many), newest first, in pages of 100, and ``has_more`` says it
    matched more. Those are older than the oldest returned, or started in the
    same second, so the search is narrowed to ``[start, oldest + 1)`` and sent
    again (the calls of that second come twice and are kept once), until one
    is complete or the pages run out. A second holding every call a search
    returned may hold more that no search can list: the next part leaves it
    out, and the search is not complete.
    """
    calls: dict[str, CallSummary] = {}
    part, page_no, oldest = frame, 1, frame.end
    unreached, more, lost = 0, True, False  # more: nothing listed yet
    for sent in range(pages):
        page, asked = fetcher.list_page(appid, cname, part, page_no, shrink=sent == 0)
        if sent == 0:
            frame = part = asked
        calls.update((call.call_id, call) for call in page.calls)
        oldest = min([oldest, *(call.created_ts for call in page.calls)])
        unreached = max(0, page.total_size - page_no * PAGE_SIZE) if page.calls else 0
        more = page.has_more
        if unreached:
            page_no += 1
            continue
        if not more:
            break
        if oldest < part.end - 1:
            end = oldest + 1
        else:  # every call listed started in the part's last second: it may hold more
            end, lost = part.end - 1, True
        if end <= part.start:
            break
        part, page_no, oldest = Frame(part.start, end), 1, end
    capped = more or lost
    if capped:
        log.warning(
            "call search matched more calls than its pages could list; "
            "watch fewer or quieter channels to see every call",
            extra={"appid": appid, "cname": cname, "listed": len(calls)},
        )
    complete = not (unreached or capped)
    return Search(list(calls.values()), frame, complete, unreached, capped)


def call_sessions(
    fetcher: CallFetcher,
    appid: str,
    call: TrackedCall,
    frame: Frame,
    *,
    cap: int,
    page_size: int = PAGE_SIZE,
) -> tuple[list[CallSession], int, Frame]:
    """The sessions overlapping the frame in the API's order, at most ``cap``; how many
    there are; and the frame they were asked for (smaller after a refusal)."""
    found: dict[str, SessionInfo] = {}
    total, page_no = 0, 1
    while True:
        page, frame = fetcher.session_page(
            appid, call.call_id, frame, page_no, page_size, shrink=page_no == 1
        )
        total = max(total, page.total_size)
        found.update((s.sid, s) for s in page.sessions if s.sid not in found)
        if not page.sessions or len(found) >= min(total, cap):
            break
        page_no += 1
    kept = [_session(s) for s in list(found.values())[:cap]]
    return kept, max(total, len(found)), frame


@dataclass
class Samples:
    """The newest sample of each series, and the unknown metric IDs met on the way."""

    samples: list[CallSample]
    unknown: Counter[int] = field(default_factory=Counter)


def call_samples(
    fetcher: CallFetcher, appid: str, call: TrackedCall, frame: Frame, sessions: list[CallSession]
) -> Samples:
    """The sessions' newest samples in the frame (their older ones where nothing is new)."""
    sids = [session.sid for session in sessions]
    wanted = set(sids)
    newest: dict[tuple[str, int, int], CallSample] = {}
    unknown: Counter[int] = Counter()
    for start in range(0, len(sids), SIDS_PER_REQUEST):
        batch = sids[start : start + SIDS_PER_REQUEST]
        answer, _ = fetcher.metrics(appid, call.call_id, frame, batch)
        for series in answer:
            if series.sid not in wanted:
                continue
            if not is_known(series.mid):
                unknown[series.mid] += 1
                continue
            sample = _newest(series, frame)
            if sample is not None:
                newest[(sample.sid, sample.mid, sample.peer_uid)] = sample
    for old in call.samples:
        if old.sid in wanted:
            newest.setdefault((old.sid, old.mid, old.peer_uid), old)
    return Samples([newest[key] for key in sorted(newest)], unknown)


def _session(info: SessionInfo) -> CallSession:
    return CallSession(
        sid=info.sid,
        uid=info.uid,
        join_ts=info.join_ts,
        leave_ts=info.leave_ts,
        finished=info.finished,
        platform=info.platform or "",
        network=info.network or "",
        device_type=info.device_type or "",
        sdk_version=info.sdk_version or "",
    )


def _newest(series: MetricSeries, frame: Frame) -> CallSample | None:
    points = [
        (ts, value)
        for ts, value in series.points
        if frame.start <= ts <= frame.end and math.isfinite(value)
    ]
    if not points:
        return None
    ts, value = max(points)
    return CallSample(series.sid, series.mid, series.peer_uid, ts, value)
