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
    """One call search: the calls its pages returned, and what they did not reach."""

    calls: list[CallSummary]
    complete: bool
    unreached: int = 0


def search_calls(
    fetcher: CallFetcher, appid: str, cname: str | None, frame: Frame, pages: int
) -> Search:
    """Up to ``pages`` pages of 100 calls, newest first."""
    calls: dict[str, CallSummary] = {}
    total = 0
    for page_no in range(1, pages + 1):
        page = fetcher.list_page(appid, cname, frame, page_no)
        total = page.total_size
        calls.update((call.call_id, call) for call in page.calls)
        if page.has_more and page_no == 1:
            log.warning(
                "call search matched more calls than the API returns; "
                "watch fewer or quieter channels to see every call",
                extra={"appid": appid, "cname": cname, "matched": total},
            )
        if not page.calls or page_no * PAGE_SIZE >= total:
            return Search(list(calls.values()), complete=True)
    return Search(list(calls.values()), complete=False, unreached=total - pages * PAGE_SIZE)


def call_sessions(
    fetcher: CallFetcher,
    appid: str,
    call: TrackedCall,
    frame: Frame,
    *,
    cap: int,
    page_size: int = PAGE_SIZE,
) -> tuple[list[CallSession], int]:
    """The sessions overlapping the frame in the API's order, at most ``cap``; and how many."""
    found: dict[str, SessionInfo] = {}
    total, page_no = 0, 1
    while True:
        page = fetcher.session_page(appid, call.call_id, frame, page_no, page_size)
        total = max(total, page.total_size)
        found.update((s.sid, s) for s in page.sessions if s.sid not in found)
        if not page.sessions or len(found) >= min(total, cap):
            break
        page_no += 1
    kept = [_session(s) for s in list(found.values())[:cap]]
    return kept, max(total, len(found))


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
        for series in fetcher.metrics(appid, call.call_id, frame, batch):
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
