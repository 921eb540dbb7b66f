"""One poll of one series: cursor -> query -> ledger -> client -> store.

Every upstream failure is contained here: a poll returns a ``PollResult`` and
never raises, so neither the scheduler nor a scrape can be killed by the API.
The ledger entry is written before a request leaves, so a crash at any point
never lets the next run overspend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from exporter.agora import AgoraError, RealtimeResult
from exporter.agora.limits import Endpoint
from exporter.quota.send import Request, Verdict, send
from exporter.quota.series_poller import PollStatus, SeriesPoller
from exporter.realtime.series import Series
from exporter.store import StateDirError, WindowRow
from exporter.timing.windows import WINDOW_S, QueryRange, query_range, shrink_span

log = logging.getLogger(__name__)

SHORT_WAIT_S = 10.0
BACKFILL_MARGIN_S = WINDOW_S


@dataclass(frozen=True)
class PollResult:
    status: PollStatus
    windows: int = 0
    retry_at: float | None = None
    error: str | None = None
    frame: QueryRange | None = None
    """The range the API answered for (FETCHED only)."""
    busy_ts: int | None = None
    """Start of the newest window in the answer with a value above 0 (None: none)."""
    first_busy_ts: int | None = None
    """Start of the oldest such window."""


class Poller(SeriesPoller):
    """Polls series; thread-safe (the scheduler runs series in parallel)."""

    def poll(self, series: Series) -> PollResult:
        """Fetch every window due for ``series``; never raises."""
        try:
            result = self._poll(series)
        except StateDirError as error:
            log.error(
                "state store failed while polling",
                extra={"series": series.key, "appid": series.appid, "error": str(error)},
            )
            result = PollResult(PollStatus.FAILED, error=str(error))
            self._record(series.key, series.appid, "store_error", str(error))
        except Exception as error:  # a bug must cost one poll, never the schedule
            log.exception(
                "polling failed unexpectedly",
                extra={"series": series.key, "appid": series.appid},
            )
            result = PollResult(PollStatus.FAILED, error=f"internal error: {type(error).__name__}")
            self._record(series.key, series.appid, "internal_error", result.error)
        return result

    def _poll(self, series: Series) -> PollResult:
        now = self._context.clock()
        paused = self._paused(series.appid, now)
        if paused is not None:
            return PollResult(PollStatus.PAUSED, retry_at=paused)
        cursor = self._context.store.cursor(series.key)
        wanted = self._wanted(series, cursor, now)
        if wanted is None:
            return PollResult(PollStatus.NOTHING_DUE)
        if wanted.end <= wanted.start:
            self._context.store.commit_poll(
                series.key, [], cursor=wanted.start, missed_windows=wanted.missed_windows
            )
            return PollResult(PollStatus.NOTHING_DUE)
        return self._fetch(series, wanted, cursor)

    def _wanted(self, series: Series, cursor: int | None, now: float) -> QueryRange | None:
        """The range a poll at ``now`` asks for, from ``cursor``."""
        limits = self._context.limits[series.budget]
        # A first poll backfills from one window inside the horizon's edge: at the
        # edge itself, the second the request spends on its way (or a server clock
        # a little ahead) would push its start out, costing a refusal, a retry and
        # a window counted missed on every fresh start.
        margin = BACKFILL_MARGIN_S if cursor is None else 0
        return query_range(
            cursor,
            now,
            delay_s=limits.delay_s,
            horizon_s=limits.horizon_s - margin,
            max_span_s=limits.max_span_s,
        )

    def _inside_horizon(self, series: Series, cursor: int | None, frame: QueryRange) -> QueryRange:
        """``frame`` as it may leave now: a wait for the ledger or a back-off may have let
        its oldest windows fall out of the horizon, which the API would refuse (a
        request spent). Those windows are given up (counted missed, as a later poll
        would count them) and the rest asked for; the end stays."""
        now_wanted = self._wanted(series, cursor, self._context.clock())
        if now_wanted is None or now_wanted.start <= frame.start or now_wanted.start >= frame.end:
            return frame
        return QueryRange(now_wanted.start, frame.end, now_wanted.missed_windows)

    def _fetch(self, series: Series, wanted: QueryRange, cursor: int | None) -> PollResult:
        request = Request(
            budget=series.budget,
            label=series.endpoint.label,
            frame=wanted,
            call=lambda frame: self._request(series, frame),
            describe=series.describe(),
            max_wait_s=SHORT_WAIT_S,
            shrink=shrink_range,
            refresh=lambda frame: self._inside_horizon(series, cursor, frame),
        )
        sent = send(self._context, request)
        if sent.verdict is Verdict.ANSWERED and sent.answer is not None:
            return self._commit(series, sent.frame, sent.answer)
        status, retry_at, error = self._unanswered(
            series.key, series.appid, series.describe(), sent
        )
        return PollResult(status, retry_at=retry_at, error=error)

    def _request(self, series: Series, wanted: QueryRange) -> RealtimeResult:
        if series.endpoint is Endpoint.REALTIME_USAGE:
            return self._context.client.realtime_usage(
                appid=series.appid,
                product_type=series.product_type,
                metric=series.metric,
                start_ts=wanted.start,
                end_ts=wanted.end,
                cname=series.cname,
            )
        return self._context.client.realtime_quality(
            appid=series.appid,
            product_type=series.product_type,
            metric=series.metric,
            start_ts=wanted.start,
            end_ts=wanted.end,
            cname=series.cname,
            uids=list(series.uids) or None,
        )

    def _commit(self, series: Series, wanted: QueryRange, result: RealtimeResult) -> PollResult:
        wanted_uids = set(series.uids)
        rows = [
            WindowRow(ts=row.ts, value=row.value, uid=row.uid if series.uids else None)
            for row in result.rows
            if wanted.start <= row.ts < wanted.end
            and row.ts % WINDOW_S == 0
            and (not series.uids or row.uid in wanted_uids)
        ]
        # The API answered for the whole range: windows it left out are honest gaps.
        self._context.store.commit_poll(
            series.key, rows, cursor=wanted.end, missed_windows=wanted.missed_windows
        )
        self._succeeded(series.key, series.appid)
        busy = [row.ts for row in rows if row.value > 0]
        return PollResult(
            PollStatus.FETCHED,
            windows=len(rows),
            frame=wanted,
            busy_ts=max(busy, default=None),
            first_busy_ts=min(busy, default=None),
        )

    def skip_quiet(self, series: Series, until: int) -> None:
        """Move a paused series' cursor up to ``until`` without fetching or counting a miss.

        Its group had no users up to ``until`` (its ``userCount`` said so), so
        there is nothing to fetch before it; when users come back, the series
        resumes from there and its first poll fetches the windows since.
        """
        cursor = self._context.store.cursor(series.key)
        if cursor is not None and cursor < until:
            self._context.store.commit_poll(series.key, [], cursor=until)


def shrink_range(error: AgoraError, wanted: QueryRange) -> QueryRange | None:
    """Shrink a range the API refused by one window on the side it complained of."""
    problem = getattr(error, "problem", None)
    span = shrink_span(problem, wanted.start, wanted.end, step=WINDOW_S, unit=WINDOW_S)
    if span is None:
        return None
    start, end = span
    missed = wanted.missed_windows + (start - wanted.start) // WINDOW_S
    return QueryRange(start=start, end=end, missed_windows=missed)
