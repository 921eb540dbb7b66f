"""``backfill --fetch``: the Data Insights history the plan still holds, inside the ledger.

The daemon keeps about a week of points per insight series and asks only for
what is new; the API keeps 14 (Premium) or 30 (Enterprise) days. For every
configured insight series this fetches the days before what is already known
(the store's oldest point, or how far earlier runs got), back to the plan's
horizon less an hour (as the daemon's frames), in frames a second shorter than
the plan's longest query: newest first, one frame per series in turn, so each
run extends every series' history backwards without gaps. What it fetched is kept in
``state_dir/insight-history.json`` (:mod:`exporter.backfill.history`) after each
frame, so an interrupted or budget-limited run loses nothing and the next run
continues where it stopped.

Budget: every request is recorded in the store's ledger before it leaves (as
``backfill:<endpoint>``) and waits for the per-minute limit as the daemon's do.
On top of that, backfills spend at most what the daemon's plan leaves of each
daily budget in any 24 h: ``per_day - planned per day - backfill requests of
the last 24 h``, so the daemon's own passes always fit; frames that do not fit
are reported, for a later run.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from exporter.agora import AgoraClient, AgoraError, InsightResult, RetryAction
from exporter.agora.limits import DAY, HOUR, Budget, Limits
from exporter.backfill.history import FetchedHistory
from exporter.backfill.reader import ledger_counts
from exporter.insight.plan import INSIGHT_BUDGETS
from exporter.insight.poller import Frame as InsightFrame
from exporter.insight.poller import Spelling, request_insight
from exporter.insight.schedule import frame_end
from exporter.insight.series import InsightSeries
from exporter.quota.context import PollContext
from exporter.quota.send import Request, Verdict, send
from exporter.scheduling.planner import PollPlan
from exporter.store import Store
from exporter.timing.clock import Clock

BACKFILL_PREFIX = "backfill:"
RATE_LIMIT_WAIT_S = 60.0
MAX_SLOT_WAIT_S = 75.0
"""Wait this long at most for the ledger (a per-minute limit frees within 60 s)."""

Progress = Callable[[str], None]
Sleep = Callable[[float], None]


def _waits(sleep: Sleep) -> Callable[[float], bool]:
    """A backfill's sleep never stops early (Ctrl-C interrupts it instead)."""

    def wait(seconds: float) -> bool:
        sleep(seconds)
        return True

    return wait


@dataclass(frozen=True)
class Frame:
    """One request: a series over ``[start, end]`` (the API includes both ends)."""

    series: InsightSeries
    start: int
    end: int


def history_frames(
    series: Sequence[InsightSeries],
    stored: Mapping[str, Mapping[int, float]],
    fetched: FetchedHistory,
    limits: Mapping[Budget, Limits],
    now: float,
) -> list[Frame]:
    """The frames still missing, per series from its oldest known point back to the horizon.

    Newest first within a series; series take turns (every series' first frame,
    then every second frame, ...), so a budget-limited run spreads evenly.
    """
    per_series: list[list[Frame]] = []
    for one in series:
        budget_limits = limits.get(one.budget)
        if budget_limits is None:
            continue
        earliest = int(now) - (budget_limits.horizon_s - HOUR)
        known = []
        points = stored.get(one.key)
        if points:
            known.append(min(points))
        if one.key in fetched.back_to:
            known.append(fetched.back_to[one.key])
        # Inside the reference's strict limits, as the daemon's frames: ending before
        # now - delay, each shorter than the longest query.
        end = min(min(known, default=int(now) + 1) - 1, frame_end(now, budget_limits))
        frames = []
        while end >= earliest:
            start = max(earliest, end - budget_limits.max_span_s + 1)
            frames.append(Frame(one, start, end))
            end = start - 1
        per_series.append(frames)
    turns = itertools.zip_longest(*per_series)
    return [frame for turn in turns for frame in turn if frame is not None]


def ledger_endpoint(series: InsightSeries) -> str:
    """What a backfill request is recorded as in the ledger's endpoint column."""
    return BACKFILL_PREFIX + series.endpoint.label


def allowances(plan: PollPlan, state_dir: Path, now: float) -> dict[Budget, int]:
    """Requests a run may send per insight budget without crowding out the daemon's plan.

    The daily limit less the daemon's planned requests per day and less what
    backfills sent in the last 24 h (their ledger entries say ``backfill:``).
    """
    found: dict[Budget, int] = {}
    for budget in INSIGHT_BUDGETS:
        budget_plan = plan.budgets.get(budget)
        if budget_plan is None:
            continue
        counts = ledger_counts(state_dir, budget=budget.value, since=now - DAY)
        backfilled = sum(n for name, n in counts.items() if name.startswith(BACKFILL_PREFIX))
        planned = math.ceil(budget_plan.requests_per_day - 1e-9)
        found[budget] = max(0, budget_plan.limits.per_day - planned - backfilled)
    return found


@dataclass
class FetchReport:
    """What a run fetched and what it did not (the points themselves go to the history)."""

    total: int
    sent: Counter[Budget] = field(default_factory=Counter)
    fetched: int = 0
    failed: list[str] = field(default_factory=list)
    left: list[Frame] = field(default_factory=list)
    stopped: dict[Budget, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(self.sent.values())


class HistoryFetcher:
    """Fetches frames through the ledger; ``report`` holds what is done even if interrupted."""

    def __init__(
        self,
        *,
        client: AgoraClient,
        store: Store,
        limits: Mapping[Budget, Limits],
        allowance: Mapping[Budget, int],
        history: FetchedHistory,
        save: Callable[[FetchedHistory], None],
        clock: Clock,
        sleep: Sleep,
        progress: Progress,
    ) -> None:
        self._context = PollContext.build(
            client=client, store=store, limits=limits, clock=clock, sleep=_waits(sleep)
        )
        self._allowance = dict(allowance)
        self._history = history
        self._save = save
        self._broken: set[str] = set()
        self._sleep = sleep
        self._progress = progress
        self.report = FetchReport(total=0)

    def run(self, frames: Sequence[Frame]) -> FetchReport:
        self.report = FetchReport(total=len(frames))
        for frame in frames:
            stopped = frame.series.budget in self.report.stopped
            if stopped or frame.series.key in self._broken:
                self.report.left.append(frame)
            else:
                self._fetch(frame)
        return self.report

    def _fetch(self, frame: Frame) -> None:
        one = frame.series
        name = self._context.store.insight.name_for(one.metric) or one.metric
        spelling = Spelling(one.metric, name, _describe(frame))
        rate_waits = 1
        while True:
            sent = send(self._context, self._request(frame, spelling))
            self.report.sent[one.budget] += sent.requests
            if sent.verdict is Verdict.ANSWERED and sent.answer is not None:
                self._keep(frame, spelling.name, sent.answer)
                return
            if sent.error is None:
                self.report.stopped[one.budget] = self._no_slot(one.budget, sent.retry_at)
                self.report.left.append(frame)
                return
            if sent.error.retry is RetryAction.NEXT_SLOT and rate_waits:
                rate_waits -= 1
                self._progress(f"rate limited; waiting {RATE_LIMIT_WAIT_S:.0f} s")
                self._sleep(RATE_LIMIT_WAIT_S)
                continue
            self._give_up(frame, sent.error)
            return

    def _request(self, frame: Frame, spelling: Spelling) -> Request[InsightFrame, InsightResult]:
        one = frame.series
        budget = one.budget
        return Request(
            budget=budget,
            label=ledger_endpoint(one),
            frame=(frame.start, frame.end),
            call=lambda span: request_insight(self._context.client, one, spelling.name, span),
            describe=_describe(frame),
            max_wait_s=MAX_SLOT_WAIT_S,
            retry_once=spelling.switch,
            on_wait=lambda wait: self._progress(
                f"waiting {wait:.0f} s for {budget}'s per-minute limit"
            ),
            allowance=self._allowance.get(budget, 0) - self.report.sent[budget],
        )

    def _no_slot(self, budget: Budget, retry_at: float | None) -> str:
        """Why a frame was not sent: the run's allowance is spent, or the ledger is full."""
        if retry_at is None:
            allowed = self._allowance.get(budget, 0)
            return (
                f"the {allowed} requests the daemon's plan leaves free on {budget} today are spent"
            )
        wait = retry_at - self._context.clock()
        return f"the ledger has no free request on {budget} for {wait:.0f} s"

    def _give_up(self, frame: Frame, error: AgoraError) -> None:
        budget = frame.series.budget
        if error.retry in (RetryAction.NEXT_DAY, RetryAction.NEXT_SLOT):
            self.report.stopped[budget] = f"the API refused for quota ({error})"
            self.report.left.append(frame)
        elif error.retry is RetryAction.STOP:
            for one in INSIGHT_BUDGETS:
                self.report.stopped.setdefault(one, f"the API refused access ({error})")
            self.report.left.append(frame)
        else:
            self._failed(frame, error)

    def _failed(self, frame: Frame, error: AgoraError) -> None:
        # Older frames of this series wait for the next run: history stays gapless.
        self.report.failed.append(f"{_describe(frame)}: {error}")
        self._broken.add(frame.series.key)

    def _keep(self, frame: Frame, name: str, answer: InsightResult) -> None:
        one = frame.series
        points = {p.ts: p.value for p in answer.points if frame.start <= p.ts <= frame.end}
        self._history.add(one.key, frame.start, points)
        self._save(self._history)
        self.report.fetched += 1
        insight = self._context.store.insight
        if name != (insight.name_for(one.metric) or one.metric):
            insight.remember_name(one.metric, name)
        done = self.report.fetched + len(self.report.failed)
        self._progress(
            f"[{done}/{self.report.total}] {_describe(frame)}: {len(points)} points "
            f"({self.report.sent[one.budget]} of {self._allowance.get(one.budget, 0)} "
            f"requests allowed on {one.budget})"
        )


def _describe(frame: Frame) -> str:
    return f"{frame.series.describe()} {_day(frame.start)}..{_day(frame.end)}"


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
