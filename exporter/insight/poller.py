"""One insight request per series: frame -> ledger -> client -> store; never raises.

Each request asks for the frame from two days before the newest stored point
to just inside the data delay (:func:`~exporter.insight.schedule.insight_frame`,
within the reference's limits read strictly), so new days arrive and recomputed
days replace old values in the same answer. A frame the API still refuses is
shrunk once (:func:`shrink_frame`) and sent again, by the one request path.
Every request, retries and the peak-name fallback included, is recorded in the
ledger before it leaves, so the insight budgets hold across restarts.

Peak metrics: the reference spells them ``peakCurrentUsers`` and
``peakCurrentChannels``, other Agora docs ``peakConcurrent*``. The poller
sends the spelling the API last accepted (the reference's at first); a 400
for it is retried once with the other spelling, which is then remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter.agora import (
    AgoraClient,
    AgoraError,
    BadRequestError,
    InsightResult,
    WindowProblem,
)
from exporter.agora.limits import DAY, Limits
from exporter.catalog.insight import INSIGHT_METRICS
from exporter.insight.schedule import insight_frame
from exporter.insight.series import InsightSeries
from exporter.quota.send import Request, Verdict, send
from exporter.quota.series_poller import PollStatus, SeriesPoller
from exporter.store import StateDirError

log = logging.getLogger(__name__)

Frame = tuple[int, int]
"""An insight request's ``[start, end]`` (the API includes both ends)."""

MAX_SLOT_WAIT_S = 75.0
"""Wait this long at most for the ledger (a per-minute limit frees within 60 s)."""


@dataclass(frozen=True)
class InsightPollResult:
    status: PollStatus
    points: int = 0
    retry_at: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class PassResult:
    """What one pass did; ``retry_at`` is set when quota stopped it early."""

    results: dict[str, InsightPollResult] = field(default_factory=dict)
    retry_at: float | None = None


def other_spelling(metric: str, sent: str) -> str | None:
    """The spelling to try after ``sent`` was rejected (None: there is no other)."""
    known = INSIGHT_METRICS.get(metric)
    names = (metric, *known.alt_names) if known is not None else (metric,)
    others = [name for name in names if name != sent]
    return others[0] if others else None


@dataclass
class Spelling:
    """The name requests send for ``metric``; a 400 switches it once to the other spelling."""

    metric: str
    name: str
    describe: str
    switched: bool = False

    def switch(self, error: AgoraError) -> bool:
        """After ``error``: True when there is another spelling to try (now ``name``)."""
        other = other_spelling(self.metric, self.name)
        if self.switched or not isinstance(error, BadRequestError) or other is None:
            return False
        log.info(
            "the API rejected the metric name; trying the other spelling",
            extra={
                "request": self.describe,
                "metric": self.metric,
                "rejected": self.name,
                "trying": other,
                "error": str(error),
            },
        )
        self.name, self.switched = other, True
        return True


def shrink_frame(error: AgoraError, frame: Frame, limits: Limits) -> Frame | None:
    """A frame the API should accept after refusing ``frame``, on the side it complained
    of: for latency the end moves back by the delay (Agora's clock is behind ours by
    more than the frame's margin); for the horizon or the length the start moves a
    day later. None when nothing of the frame would be left."""
    start, end = frame
    if getattr(error, "problem", None) is WindowProblem.LATENCY:
        end -= limits.delay_s
    else:
        start += DAY
    return (start, end) if start <= end else None


def request_insight(
    client: AgoraClient, series: InsightSeries, name: str, frame: Frame
) -> InsightResult:
    """Send one insight request for ``series`` (its metric spelt ``name``) over ``frame``."""
    start, end = frame
    if series.product_type is None:
        return client.insight_usage(
            appid=series.appid,
            metric=name,
            start_ts=start,
            end_ts=end,
            granularity=series.granularity.value,
        )
    return client.insight_quality(
        appid=series.appid,
        metric=name,
        start_ts=start,
        end_ts=end,
        product_type=series.product_type,
        granularity=series.granularity.value,
    )


class InsightPoller(SeriesPoller):
    """Polls insight series; thread-safe."""

    def run_pass(self, series: Sequence[InsightSeries]) -> PassResult:
        """Poll each series once, in order; stop when the quota says so."""
        results: dict[str, InsightPollResult] = {}
        for one in series:
            result = self.poll(one)
            results[one.key] = result
            if result.status is PollStatus.DEFERRED:
                return PassResult(results, retry_at=result.retry_at)
        return PassResult(results)

    def poll(self, series: InsightSeries) -> InsightPollResult:
        """Fetch the series' frame once (plus retries and the name fallback); never raises."""
        try:
            return self._poll(series)
        except StateDirError as error:
            log.error(
                "state store failed while polling",
                extra={"series": series.key, "appid": series.appid, "error": str(error)},
            )
            self._record(series.key, series.appid, "store_error", str(error))
            return InsightPollResult(PollStatus.FAILED, error=str(error))

    def _poll(self, series: InsightSeries) -> InsightPollResult:
        context = self._context
        now = context.clock()
        paused = self._paused(series.appid, now)
        if paused is not None:
            return InsightPollResult(PollStatus.PAUSED, retry_at=paused)
        limits = context.limits[series.budget]
        insight = context.store.insight
        frame = insight_frame(insight.newest_ts(series.key), now, limits)
        spelling = Spelling(
            series.metric, insight.name_for(series.metric) or series.metric, series.describe()
        )
        request = Request(
            budget=series.budget,
            label=series.endpoint.label,
            frame=frame,
            call=lambda frame: request_insight(context.client, series, spelling.name, frame),
            describe=series.describe(),
            max_wait_s=MAX_SLOT_WAIT_S,
            shrink=lambda error, frame: shrink_frame(error, frame, limits),
            retry_once=spelling.switch,
        )
        sent = send(context, request)
        if sent.verdict is Verdict.ANSWERED and sent.answer is not None:
            return self._commit(series, spelling.name, *sent.frame, sent.answer)
        status, retry_at, error = self._unanswered(
            series.key, series.appid, series.describe(), sent
        )
        return InsightPollResult(status, retry_at=retry_at, error=error)

    def _commit(
        self, series: InsightSeries, name: str, start: int, end: int, answer: InsightResult
    ) -> InsightPollResult:
        points = [(p.ts, p.value) for p in answer.points if start <= p.ts <= end]
        self._context.store.insight.commit(series.key, points)
        if name != (self._context.store.insight.name_for(series.metric) or series.metric):
            log.info(
                "the API accepts another name for the metric; remembering it",
                extra={"metric": series.metric, "accepted_name": name},
            )
            self._context.store.insight.remember_name(series.metric, name)
        self._succeeded(series.key, series.appid)
        return InsightPollResult(PollStatus.FETCHED, points=len(points))
