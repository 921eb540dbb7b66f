"""One insight request per series: frame -> ledger -> client -> store; never raises.

Each request asks for the frame from two days before the newest stored point
to now (:func:`~exporter.insight.schedule.insight_frame`), so new days arrive
and recomputed days replace old values in the same answer. Every request,
retries and the peak-name fallback included, is recorded in the ledger before
it leaves, so the insight budgets hold across restarts.

Peak metrics: the reference spells them ``peakCurrentUsers`` and
``peakCurrentChannels``, other Agora docs ``peakConcurrent*``. The poller
sends the spelling the API last accepted (the reference's at first); a 400
for it is retried once with the other spelling, which is then remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.agora import (
    AgoraError,
    BadRequestError,
    InsightResult,
    RetryAction,
    WindowProblem,
)
from exporter.agora.limits import DAY, Limits
from exporter.catalog.metrics import INSIGHT_METRICS
from exporter.insight.schedule import insight_frame
from exporter.insight.series import InsightSeries
from exporter.quota.retry import (
    AUTH_PAUSE_S,
    BACKOFF_S,
    DAILY_LIMIT_PAUSE_S,
    RATE_LIMIT_PAUSE_S,
    SeriesPoller,
)
from exporter.store import StateDirError

log = logging.getLogger(__name__)

MAX_SLOT_WAIT_S = 75.0
"""Wait this long at most for the ledger (a per-minute limit frees within 60 s)."""


class InsightStatus(StrEnum):
    FETCHED = "fetched"
    DEFERRED = "deferred"
    FAILED = "failed"
    PAUSED = "paused"


@dataclass(frozen=True)
class InsightPollResult:
    status: InsightStatus
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


class InsightPoller(SeriesPoller):
    """Polls insight series; thread-safe."""

    def run_pass(self, series: Sequence[InsightSeries]) -> PassResult:
        """Poll each series once, in order; stop when the quota says so."""
        results: dict[str, InsightPollResult] = {}
        for one in series:
            result = self.poll(one)
            results[one.key] = result
            if result.status is InsightStatus.DEFERRED:
                return PassResult(results, retry_at=result.retry_at)
        return PassResult(results)

    def poll(self, series: InsightSeries) -> InsightPollResult:
        """Fetch the series' frame once (plus retries and the name fallback); never raises."""
        try:
            return self._poll(series)
        except StateDirError as error:
            log.error("state store failed while polling %s: %s", series.describe(), error)
            self._record(series.key, series.appid, "store_error", str(error))
            return InsightPollResult(InsightStatus.FAILED, error=str(error))

    def _poll(self, series: InsightSeries) -> InsightPollResult:
        now = self._clock()
        paused = self._paused(series.appid, now)
        if paused is not None:
            return InsightPollResult(InsightStatus.PAUSED, retry_at=paused)
        limits = self._limits[series.budget]
        start, end = insight_frame(self._store.insight.newest_ts(series.key), now, limits)
        name = self._store.insight.name_for(series.metric) or series.metric
        backoffs, fallback_left, window_fixed = list(BACKOFF_S), True, False
        while True:
            if self._stopping.is_set():  # shutting down: no new request leaves
                return InsightPollResult(InsightStatus.DEFERRED, error="the exporter is stopping")
            slot = self._ledger.take(
                series.budget,
                series.endpoint.label,
                self._limits[series.budget],
                max_wait_s=MAX_SLOT_WAIT_S,
            )
            if slot is not None:
                return InsightPollResult(InsightStatus.DEFERRED, retry_at=slot)
            try:
                answer = self._request(series, name, start, end)
            except BadRequestError as error:
                other = other_spelling(series.metric, name) if fallback_left else None
                if other is None:
                    return self._failed(series, error)
                log.info(
                    "%s: the API rejected %s (%s); trying %s", series.describe(), name, error, other
                )
                name, fallback_left = other, False
                continue
            except AgoraError as error:
                backoff = error.retry is RetryAction.BACKOFF and backoffs
                if backoff and self._sleep(backoffs.pop(0)):
                    continue
                if error.retry is RetryAction.FIX_WINDOW and not window_fixed:
                    start, end = _fixed_frame(error, start, end, limits)
                    window_fixed = True
                    continue
                return self._failed(series, error)
            return self._commit(series, name, start, end, answer)

    def _request(self, series: InsightSeries, name: str, start: int, end: int) -> InsightResult:
        if series.product_type is None:
            return self._client.insight_usage(
                appid=series.appid,
                metric=name,
                start_ts=start,
                end_ts=end,
                granularity=series.granularity.value,
            )
        return self._client.insight_quality(
            appid=series.appid,
            metric=name,
            start_ts=start,
            end_ts=end,
            product_type=series.product_type,
            granularity=series.granularity.value,
        )

    def _commit(
        self, series: InsightSeries, name: str, start: int, end: int, answer: InsightResult
    ) -> InsightPollResult:
        points = [(p.ts, p.value) for p in answer.points if start <= p.ts <= end]
        self._store.insight.commit(series.key, points)
        if name != (self._store.insight.name_for(series.metric) or series.metric):
            log.info("the API accepts %s as %s; remembering it", series.metric, name)
            self._store.insight.remember_name(series.metric, name)
        self._paused_until.pop(series.appid, None)
        self._record(series.key, series.appid, "success")
        return InsightPollResult(InsightStatus.FETCHED, points=len(points))

    def _failed(self, series: InsightSeries, error: AgoraError) -> InsightPollResult:
        now = self._clock()
        status, retry_at = InsightStatus.FAILED, None
        if error.retry is RetryAction.NEXT_SLOT:
            status, retry_at = InsightStatus.DEFERRED, now + RATE_LIMIT_PAUSE_S
        elif error.retry is RetryAction.NEXT_DAY:
            status, retry_at = InsightStatus.DEFERRED, now + DAILY_LIMIT_PAUSE_S
        elif error.retry is RetryAction.STOP:
            self._paused_until[series.appid] = now + AUTH_PAUSE_S
        log.warning("%s: %s", series.describe(), error)
        self._record(series.key, series.appid, error.outcome, str(error))
        return InsightPollResult(status, retry_at=retry_at, error=str(error))


def _fixed_frame(error: AgoraError, start: int, end: int, limits: Limits) -> tuple[int, int]:
    """A frame the API should accept after refusing ``[start, end]``: shorter by a day
    on the side it complained of (the end moves back by the delay for latency)."""
    problem = getattr(error, "problem", None)
    if problem is WindowProblem.LATENCY:
        return start, max(start, end - limits.delay_s)
    return min(end, start + DAY), end
