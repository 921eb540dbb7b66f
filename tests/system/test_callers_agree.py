"""The fault matrix's promise: the four callers of ``send`` agree on what a fault means.

The real-time poller, the insight poller, the Call Inspector's fetcher and
``backfill --fetch`` each meet the same fault from the simulator (over loopback
HTTP, through the real client, with a real store and ledger, on a fake clock
whose waits cost no time). For every fault they must agree on the outcome label
counted for each request (``agora_exporter_api_requests_total``, fed by the
client's hook), on the requests that left (the ledger), on the retries (the
waits), on how the request ended (answered, deferred by quota, app paused for
credentials, or failed), on the outcome the caller records for its poll and on
when it may try again. A quota answer is never a plain failure.

Where a caller legitimately differs the table says so, with why, in ``differs``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from exporter.agora import AgoraClient, AgoraError
from exporter.agora.limits import Budget, Limits, Plan, limits_for
from exporter.agora.models import RequestRecord
from exporter.backfill.fetch import HistoryFetcher, history_frames
from exporter.backfill.history import FetchedHistory
from exporter.calls.fetch import CallFetcher, CycleStop
from exporter.calls.frames import list_frame
from exporter.calls.inspector import CallInspector
from exporter.catalog.realtime import Scope
from exporter.insight.plan import INSIGHT_BUDGETS
from exporter.insight.poller import InsightPoller
from exporter.insight.series import InsightSeries
from exporter.quota.context import PollContext
from exporter.quota.error_rules import AUTH_PAUSE_S, BACKOFF_S
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.series_poller import PollStatus
from exporter.realtime.poller import Poller
from exporter.realtime.series import Series
from exporter.scheduling.planner import make_plan
from exporter.simulator import Fault, Simulator
from exporter.store import Store
from tests.configs import settings_from
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET, MakeSimulator
from tests.fakes import FakeClock, FakeSleep

REALTIME_SERIES = Series(APPID, "Native", "userCount", Scope.PROJECT)
INSIGHT_SERIES = InsightSeries(APPID, "userCount")  # one spelling only: no name fallback
LIMITS: dict[Budget, Limits] = {
    budget: one for budget in Budget if (one := limits_for(Plan.ENTERPRISE, budget)) is not None
}
RATE_LIMIT_WAIT_S = 60.0
"""backfill --fetch's one wait after a rate limit (exporter.backfill.fetch)."""


class Caller(StrEnum):
    REALTIME = "the real-time poller"
    INSIGHT = "the insight poller"
    CALLS = "the Call Inspector"
    BACKFILL = "backfill --fetch"


class Ended(StrEnum):
    """How one request (retries included) ended, in the caller's own terms, mapped to one word."""

    ANSWERED = "answered"
    DEFERRED = "deferred"
    """Put off by a quota answer; tried again later, not counted as a failure."""
    PAUSED = "paused"
    """Credentials or access refused: the app's other requests wait too."""
    FAILED = "failed"
    """A plain failure of this one request."""
    CYCLE_STOP = "cycle stop"
    """The Call Inspector's way to put off or pause: the whole cycle ends until retry_at."""


@dataclass(frozen=True)
class Seen:
    """What one caller did with one fault."""

    outcomes: dict[str, int]
    """The ``outcome`` label of every request, as the client's hook counted them."""
    sent: int
    """Requests that left: the ledger's entries."""
    waits: tuple[float, ...]
    ended: Ended
    reported: str | None
    """The outcome the caller records for its poll (None: it records none)."""
    retry_in: float | None
    """When the caller may send again, from the fault's poll (after its waits)."""

    @property
    def retried(self) -> bool:
        return self.sent > 1


# --- the rig: one simulator, store, ledger and client per test ---------------------------


@dataclass
class Rig:
    sim: Simulator
    clock: FakeClock
    sleep: FakeSleep
    store: Store
    stats: RuntimeStats
    client: AgoraClient
    context: PollContext

    def outcomes(self) -> dict[str, int]:
        counted: Counter[str] = Counter()
        for (_, outcome), count in self.stats.snapshot().requests.items():
            counted[outcome] += count
        return {outcome: count for outcome, count in counted.items() if count}

    def sent(self, budget: Budget) -> int:
        return len(self.store.ledger.times(budget.value, 0))

    def reported(self, key: str) -> str | None:
        status = self.stats.snapshot().series.get(key)
        return None if status is None else status.last_outcome


@pytest.fixture
def rig(make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    sim = make_simulator()
    stats = RuntimeStats()
    sleep = FakeSleep(fake_clock)

    def on_request(record: RequestRecord) -> None:  # as build_app wires it
        stats.record_request(
            endpoint=record.endpoint.label, outcome=record.outcome, duration_s=record.duration_s
        )

    with (
        Store(tmp_path / "state", clock=fake_clock) as store,
        AgoraClient(
            base_url=sim.base_url,
            customer_id=SecretStr(CUSTOMER_ID),
            customer_secret=SecretStr(CUSTOMER_SECRET),
            timeout_s=5,
            on_request=on_request,
        ) as client,
    ):
        context = PollContext.build(
            client=client,
            store=store,
            limits=LIMITS,
            stats=stats,
            clock=fake_clock,
            sleep=sleep,
        )
        yield Rig(sim, fake_clock, sleep, store, stats, client, context)


# --- each caller, driven once against the armed fault ----------------------------------


def _retry_in(retry_at: float | None, started: float, waits: tuple[float, ...]) -> float | None:
    return None if retry_at is None else retry_at - started - sum(waits)


def drive_realtime(rig: Rig) -> Seen:
    poller = Poller(rig.context)
    started = rig.clock()
    result = poller.poll(REALTIME_SERIES)
    again = lambda: poller.poll(REALTIME_SERIES).status  # noqa: E731
    return _series_seen(rig, result.status, result.retry_at, started, REALTIME_SERIES, again)


def drive_insight(rig: Rig) -> Seen:
    poller = InsightPoller(rig.context)
    started = rig.clock()
    result = poller.poll(INSIGHT_SERIES)
    again = lambda: poller.poll(INSIGHT_SERIES).status  # noqa: E731
    return _series_seen(rig, result.status, result.retry_at, started, INSIGHT_SERIES, again)


def _series_seen(
    rig: Rig,
    status: PollStatus,
    retry_at: float | None,
    started: float,
    series: Series | InsightSeries,
    poll_again: Callable[[], PollStatus],
) -> Seen:
    waits = tuple(rig.sleep.waits)
    seen = Seen(
        outcomes=rig.outcomes(),
        sent=rig.sent(series.budget),
        waits=waits,
        ended=Ended.FAILED,
        reported=rig.reported(series.key),
        retry_in=_retry_in(retry_at, started, waits),
    )
    if status is PollStatus.FETCHED:
        return replace(seen, ended=Ended.ANSWERED)
    if status is PollStatus.DEFERRED:
        return replace(seen, ended=Ended.DEFERRED)
    assert status is PollStatus.FAILED, status
    # Paused: the app's next poll sends nothing until retry_at.
    if poll_again() is PollStatus.PAUSED:
        assert rig.sent(series.budget) == seen.sent, "no request while paused"
        return replace(seen, ended=Ended.PAUSED)
    return seen


def drive_calls(rig: Rig) -> Seen:
    fetcher = CallFetcher(rig.context)
    limits = rig.context.limits[Budget.CALL_LISTS]
    started = rig.clock()
    frame = list_frame(None, started, limits)
    assert frame is not None
    retry_at: float | None = None
    try:
        fetcher.list_page(APPID, None, frame, 1)
    except CycleStop as stop:
        ended, reported, retry_at = Ended.CYCLE_STOP, stop.outcome, stop.retry_at
    except AgoraError as error:
        # The inspector skips this one search (or call), goes on, and records this
        # outcome for the app's poll (see
        # test_a_call_inspector_cycle_records_what_its_search_met_as_the_pollers_do).
        ended, reported = Ended.FAILED, error.outcome
    else:
        ended, reported = Ended.ANSWERED, "success"
    waits = tuple(rig.sleep.waits)
    sent = rig.sent(Budget.CALL_LISTS)
    assert fetcher.sent == sent, "the fetcher's own count agrees with the ledger"
    return Seen(rig.outcomes(), sent, waits, ended, reported, _retry_in(retry_at, started, waits))


def drive_backfill(rig: Rig) -> Seen:
    budget = INSIGHT_SERIES.budget
    started = rig.clock()
    [frame, *_] = history_frames([INSIGHT_SERIES], {}, FetchedHistory(), LIMITS, started)
    saved: list[FetchedHistory] = []
    fetcher = HistoryFetcher(
        client=rig.client,
        store=rig.store,
        limits=LIMITS,
        allowance={one: 10 for one in INSIGHT_BUDGETS},
        history=FetchedHistory(),
        save=saved.append,
        clock=rig.clock,
        sleep=rig.sleep,
        progress=lambda line: None,
    )
    report = fetcher.run([frame])
    if report.fetched:
        ended = Ended.ANSWERED
        assert saved, "what was fetched is kept"
    elif report.failed:
        ended = Ended.FAILED
    else:
        assert report.left == [frame], report
        everything = all(one in report.stopped for one in INSIGHT_BUDGETS)
        ended = Ended.PAUSED if everything else Ended.DEFERRED
        assert budget in report.stopped
    sent = rig.sent(budget)
    assert report.requests == sent, "the report's count agrees with the ledger"
    return Seen(rig.outcomes(), sent, tuple(rig.sleep.waits), ended, None, None)


DRIVERS: dict[Caller, Callable[[Rig], Seen]] = {
    Caller.REALTIME: drive_realtime,
    Caller.INSIGHT: drive_insight,
    Caller.CALLS: drive_calls,
    Caller.BACKFILL: drive_backfill,
}


# --- the table ---------------------------------------------------------------------------


def persistent(fault: Fault, **options: Any) -> Callable[[Simulator], None]:
    """The fault on every request from now on: each caller meets it on every try."""
    return lambda sim: sim.faults.every(1, fault, **options)


def once(fault: Fault, **options: Any) -> Callable[[Simulator], None]:
    return lambda sim: sim.faults.inject(fault, 1, **options)


@dataclass(frozen=True)
class Expect:
    outcomes: dict[str, int]
    sent: int
    ended: Ended
    waits: tuple[float, ...] = ()
    reported: str | None = None
    """None: the fault's own outcome (the only one counted)."""
    retry_in: float | None = None


@dataclass(frozen=True)
class Row:
    arm: Callable[[Simulator], None]
    expect: Expect
    quota: bool = False
    """A quota answer: never counted as a plain failure, by any caller."""
    differs: dict[Caller, dict[str, Any]] = field(default_factory=dict)
    """Where a caller legitimately differs from ``expect``, and how (the why is beside it)."""

    def expected(self, caller: Caller) -> Expect:
        expect = replace(self.expect, **self.differs.get(caller, {}))
        if expect.reported is None:
            [outcome] = [o for o in expect.outcomes if o != "success"] or ["success"]
            expect = replace(expect, reported=outcome)
        if caller is Caller.BACKFILL:
            # A one-shot run: it records no poll outcome and schedules no retry; its
            # report lists the frames left for a later run (checked as DEFERRED/PAUSED).
            expect = replace(expect, reported=None, retry_in=None)
        return expect


def _failing(outcome: str, times: int = 1) -> Expect:
    return Expect({outcome: times}, times, Ended.FAILED, BACKOFF_S if times > 1 else ())


def _backing_off(outcome: str) -> Expect:
    return _failing(outcome, 4)


def _deferred(outcome: str, retry_in: float) -> Expect:
    return Expect({outcome: 1}, 1, Ended.DEFERRED, retry_in=retry_in)


PAUSED = {"ended": Ended.PAUSED, "retry_in": AUTH_PAUSE_S}

# The Call Inspector has no poll to defer nor app to pause on its own: a quota answer
# or a refused credential ends its whole cycle (CycleStop) until retry_at, which the
# scheduler honours. Its retry_in and recorded outcome are the pollers'.
CALLS_STOP_THE_CYCLE: dict[Caller, dict[str, Any]] = {Caller.CALLS: {"ended": Ended.CYCLE_STOP}}

# backfill --fetch has no next poll to put a rate-limited frame off to: it waits out
# one rate limit (60 s) and sends the frame again before giving up on the budget.
BACKFILL_WAITS_OUT_ONE_RATE_LIMIT: dict[Caller, dict[str, Any]] = {
    Caller.BACKFILL: {
        "outcomes": {"rate_limited": 2},
        "sent": 2,
        "waits": (RATE_LIMIT_WAIT_S,),
    }
}

# The same for a limit error of a kind nobody documented: it is put off like a rate limit.
BACKFILL_WAITS_OUT_ONE_UNKNOWN_LIMIT: dict[Caller, dict[str, Any]] = {
    Caller.BACKFILL: {
        "outcomes": {"unknown_limit": 2},
        "sent": 2,
        "waits": (RATE_LIMIT_WAIT_S,),
    }
}

BACKFILL_WAITS_OUT_A_PASSING_RATE_LIMIT: dict[Caller, dict[str, Any]] = {
    Caller.BACKFILL: {
        "outcomes": {"rate_limited": 1, "success": 1},
        "sent": 2,
        "waits": (RATE_LIMIT_WAIT_S,),
        "ended": Ended.ANSWERED,
        "reported": "success",
    }
}

# backfill --fetch cannot shrink a frame: it records how far back a series' history
# reaches by its frames' starts, so a frame shrunk from the start would leave a gap
# (the series waits for the next run). The Call Inspector shrinks as the pollers do
# (the first request of a search or of a call's details; later pages keep its frame).
CANNOT_SHRINK = {
    "outcomes": {"window_rejected": 1},
    "sent": 1,
    "ended": Ended.FAILED,
    "reported": "window_rejected",
}
ONLY_THE_POLLERS_SHRINK: dict[Caller, dict[str, Any]] = {
    Caller.BACKFILL: CANNOT_SHRINK,
}
SHRUNK = Expect({"window_rejected": 1, "success": 1}, 2, Ended.ANSWERED, reported="success")


def case(sentence: str, arm: Callable[[Simulator], None], expect: Expect, **kw: Any) -> Any:
    return pytest.param(Row(arm, expect, **kw), id=sentence)


ROWS = [
    case(
        "code 300 qpm limit error is rate_limited and put off a minute",
        persistent(Fault.CODE_300, message="qpm limit error"),
        _deferred("rate_limited", 60.0),
        quota=True,
        differs=CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_ONE_RATE_LIMIT,
    ),
    case(
        "one qpm limit error then a good answer is put off, except by backfill which waits it out",
        once(Fault.CODE_300, message="qpm limit error"),
        _deferred("rate_limited", 60.0),
        quota=True,
        differs=CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_A_PASSING_RATE_LIMIT,
    ),
    case(
        "HTTP 429 is rate_limited and put off a minute",
        persistent(Fault.HTTP_STATUS, http_status=429),
        _deferred("rate_limited", 60.0),
        quota=True,
        differs=CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_ONE_RATE_LIMIT,
    ),
    case(
        "code 300 qpd limit error is quota_exhausted and put off an hour",
        persistent(Fault.CODE_300, message="qpd limit error"),
        _deferred("quota_exhausted", 3600.0),
        quota=True,
        differs=CALLS_STOP_THE_CYCLE,
    ),
    case(
        "HTTP 500 with an HTML page backs off 1 3 6 s and fails",
        persistent(Fault.HTML_500),
        _backing_off("server_error"),
    ),
    case(
        "a connection closed without an answer backs off 1 3 6 s and fails",
        persistent(Fault.DROP),
        _backing_off("transport_error"),
    ),
    case(
        "truncated JSON backs off 1 3 6 s and fails",
        persistent(Fault.TRUNCATED_JSON),
        _backing_off("invalid_response"),
    ),
    case(
        "one HTTP 503 then a good answer costs one back-off of 1 s",
        once(Fault.HTTP_STATUS, http_status=503),
        Expect({"server_error": 1, "success": 1}, 2, Ended.ANSWERED, (1.0,), "success"),
    ),
    case(
        "HTTP 401 pauses for 5 min without a retry",
        persistent(Fault.HTTP_STATUS, http_status=401),
        Expect({"unauthorized": 1}, 1, **PAUSED),
        differs=CALLS_STOP_THE_CYCLE,
    ),
    case(
        "code 300 no auth to access this service pauses for 5 min without a retry",
        persistent(Fault.CODE_300, message="you have no auth to access this service"),
        Expect({"no_access": 1}, 1, **PAUSED),
        differs=CALLS_STOP_THE_CYCLE,
    ),
    case(
        "code 300 with a message nobody documented is unknown_limit and put off a minute",
        persistent(Fault.CODE_300, message="a limit nobody documented"),
        _deferred("unknown_limit", 60.0),
        quota=True,
        differs=CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_ONE_UNKNOWN_LIMIT,
    ),
    case(
        "HTTP 400 is not retried and fails",
        persistent(Fault.HTTP_STATUS, http_status=400),
        _failing("bad_request"),
    ),
    case(
        "code 400 in the body of an HTTP 200 is not retried and fails as the status does",
        persistent(Fault.BODY_CODE, code=400, message="Bad request, parameter : x is invalid"),
        _failing("bad_request"),
    ),
    case(
        "code 401 in the body of an HTTP 200 pauses for 5 min as the status does",
        persistent(Fault.BODY_CODE, code=401, message="Unauthorized"),
        Expect({"unauthorized": 1}, 1, **PAUSED),
        differs=CALLS_STOP_THE_CYCLE,
    ),
    case(
        "code 422 in the body of an HTTP 200 is client_error, not retried",
        persistent(Fault.BODY_CODE, code=422, message="unprocessable entity"),
        _failing("client_error"),
    ),
    case(
        "HTTP 402 is client_error, not retried",
        persistent(Fault.HTTP_STATUS, http_status=402),
        _failing("client_error"),
    ),
    case(
        "HTTP 404 is not retried and fails",
        persistent(Fault.HTTP_STATUS, http_status=404),
        _failing("not_found"),
    ),
    case(
        "code 300 query time length limit error is shrunk once by the pollers that can",
        once(Fault.CODE_300, message="query time length limit error"),
        SHRUNK,
        differs=ONLY_THE_POLLERS_SHRINK,
    ),
    case(
        "code 300 query latency limit error is shrunk once by the pollers that can",
        once(Fault.CODE_300, message="query latency limit error"),
        SHRUNK,
        differs=ONLY_THE_POLLERS_SHRINK,
    ),
]

CALLERS = [pytest.param(caller, id=str(caller)) for caller in Caller]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("row", ROWS)
def test_the_callers_agree(rig: Rig, row: Row, caller: Caller) -> None:
    row.arm(rig.sim)
    seen = DRIVERS[caller](rig)
    expect = row.expected(caller)

    assert seen.outcomes == expect.outcomes, "the outcome label of every request"
    assert seen.sent == expect.sent, "the requests that left (the ledger)"
    assert seen.retried == (expect.sent > 1)
    assert seen.waits == expect.waits
    assert seen.ended is expect.ended
    assert seen.reported == expect.reported, "the outcome the caller records for its poll"
    assert seen.retry_in == expect.retry_in
    if row.quota:
        assert seen.ended is not Ended.FAILED, "a quota answer is never a plain failure"
        assert set(seen.outcomes) <= {"rate_limited", "quota_exhausted", "unknown_limit", "success"}


def test_the_table_differs_only_where_a_comment_says_why() -> None:
    """Each difference is one of the named, commented ones above: no silent exceptions."""
    allowed = [
        CALLS_STOP_THE_CYCLE,
        ONLY_THE_POLLERS_SHRINK,
        CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_ONE_RATE_LIMIT,
        CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_ONE_UNKNOWN_LIMIT,
        CALLS_STOP_THE_CYCLE | BACKFILL_WAITS_OUT_A_PASSING_RATE_LIMIT,
    ]
    for param in ROWS:
        row: Row = param.values[0]
        assert not row.differs or row.differs in allowed, param.id
        assert Caller.REALTIME not in row.differs, "the real-time poller is the reference"
        assert Caller.INSIGHT not in row.differs, "the insight poller behaves as the real-time one"


# --- what the Call Inspector records for its app's poll ------------------------------------


def _inspector(rig: Rig, tmp_path: Path) -> CallInspector:
    config = {
        "agora": {
            "base_url": rig.sim.base_url,
            "customer_id": CUSTOMER_ID,
            "customer_secret": CUSTOMER_SECRET,
            "plan": "enterprise",
        },
        "state_dir": str(tmp_path / "unused"),
        "apps": [{"appid": APPID, "insight": {"enabled": False}, "calls": {"enabled": True}}],
    }
    plan = make_plan(settings_from(config))
    assert plan.feasible, plan.problems
    rig.context.set_limits({budget: one.limits for budget, one in plan.budgets.items()})
    return CallInspector(
        fetcher=CallFetcher(rig.context),
        store=rig.store,
        stats=rig.stats,
        plan=plan.calls,
        clock=rig.clock,
    )


def inspector_case(sentence: str, row: Any, *marks: pytest.MarkDecorator) -> Any:
    [found] = [param.values[0] for param in ROWS if param.id == row]
    return pytest.param(found, id=sentence, marks=marks)


@pytest.mark.parametrize(
    "row",
    [
        inspector_case(
            "a call search rate limited is recorded as rate_limited with the app down",
            "code 300 qpm limit error is rate_limited and put off a minute",
        ),
        inspector_case(
            "a call search refused for credentials is recorded as unauthorized with the app down",
            "HTTP 401 pauses for 5 min without a retry",
        ),
        inspector_case(
            "a call search failing with HTTP 500 is recorded as server_error with the app down",
            "HTTP 500 with an HTML page backs off 1 3 6 s and fails",
        ),
        inspector_case(
            "a call search refused with HTTP 400 is recorded as bad_request with the app down",
            "HTTP 400 is not retried and fails",
        ),
    ],
)
def test_a_call_inspector_cycle_records_what_its_search_met_as_the_pollers_do(
    rig: Rig, tmp_path: Path, row: Row
) -> None:
    inspector = _inspector(rig, tmp_path)
    row.arm(rig.sim)
    assert inspector.run_cycle()
    expect = row.expected(Caller.CALLS)
    assert rig.outcomes() == expect.outcomes
    assert rig.sent(Budget.CALL_LISTS) == expect.sent
    status = rig.stats.snapshot().series[f"calls/{APPID}"]
    assert status.last_outcome == expect.reported
    assert rig.stats.snapshot().up == {APPID: False}, "as a failed poll sets agora_up 0"
    # The real-time poller, for comparison, on the same fault:
    rig.sim.faults.clear()
    row.arm(rig.sim)
    Poller(rig.context).poll(REALTIME_SERIES)
    assert rig.reported(REALTIME_SERIES.key) == status.last_outcome
