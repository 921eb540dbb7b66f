"""The one request path: ``send`` and ``ERROR_RULES``, one table row per error and per rule.

Every row runs the real ``send`` with a real ``Store`` (its ledger), the real
``Ledger`` and a fake clock whose waits cost no time. The ``call`` raises the
error the client would raise for that answer (built by the client's own
classification where the API's answer decides it), so a change to either the
errors or the rules shows up here as a sentence that no longer holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exporter.agora import AgoraClient, AgoraError, RetryAction
from exporter.agora.classify import error_for_code, error_for_status
from exporter.agora.errors import (
    ERROR_CLASSES,
    BadRequestError,
    ClientError,
    DailyQuotaError,
    ErrorContext,
    ForbiddenError,
    InvalidResponseError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnexpectedAnswerError,
    UnknownLimitError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.limits import DAY, Budget, Endpoint, Limits
from exporter.backfill.reader import ledger_counts
from exporter.quota.context import PollContext
from exporter.quota.error_rules import AUTH_PAUSE_S, BACKOFF_S, ERROR_RULES, ErrorRule
from exporter.quota.ledger import PERIOD_MARGIN_S, Ledger
from exporter.quota.send import Request, Sent, Verdict, send
from exporter.store import Store
from tests.fakes import FakeClock, FakeSleep

T0 = 1_800_000_000.0
ENDPOINT = Endpoint.REALTIME_USAGE
BUDGET = Budget.REALTIME
LABEL = "realtime_usage"
LIMITS = Limits(per_minute=10, per_day=1000, horizon_s=3600, max_span_s=3600, delay_s=20)
FRAME = (0, 1000)
SHRUNK = (0, 500)
MAX_WAIT_S = 10.0
ANSWER = "the answer"


# --- errors, built as the client builds them ----------------------------------------


def _ctx(http_status: int | None = 200) -> ErrorContext:
    return {"request_id": "req-1", "http_status": http_status}


def _code_300(message: str) -> Callable[[], AgoraError]:
    """A body ``{"code": 300, "message": ...}`` (HTTP 200), classified by the client."""
    return lambda: error_for_code(ENDPOINT, 300, message, {**_ctx(), "api_message": message})


def _status(status: int) -> Callable[[], AgoraError]:
    """A non-2xx HTTP status whose body says nothing more, classified by the client."""
    return lambda: error_for_status(ENDPOINT, status, _ctx(status))


MAKERS: dict[type[AgoraError], Callable[[], AgoraError]] = {
    RateLimitedError: _code_300("qpm limit error"),
    DailyQuotaError: _code_300("qpd limit error"),
    WindowRejectedError: _code_300("query time length limit error"),
    NoAccessError: _code_300("you have no auth to access this service"),
    UnauthorizedError: _status(401),
    ForbiddenError: _status(403),
    BadRequestError: _status(400),
    NotFoundError: _status(404),
    ServerError: _status(500),
    # What the client's session raises for httpx's transport failures and bad bodies.
    TransportError: lambda: TransportError(ENDPOINT, detail="ConnectError: connection refused"),
    RequestTimeoutError: lambda: RequestTimeoutError(ENDPOINT, detail="ReadTimeout: timed out"),
    InvalidResponseError: lambda: InvalidResponseError(
        ENDPOINT, detail="not JSON (text/html)", **_ctx()
    ),
    UnexpectedAnswerError: lambda: error_for_code(ENDPOINT, 777, "what", _ctx()),
    UnknownLimitError: _code_300("a message nobody documented"),
    ClientError: _status(422),
}


def test_every_error_class_has_a_maker_that_builds_exactly_it() -> None:
    assert set(MAKERS) == set(ERROR_CLASSES)
    for cls, make in MAKERS.items():
        assert type(make()) is cls


# --- the rig ------------------------------------------------------------------------


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"send must only use the request's call, not the client: {request}")


@dataclass
class Rig:
    clock: FakeClock
    sleep: FakeSleep
    store: Store
    context: PollContext
    state_dir: Path
    frames: list[Any] = field(default_factory=list)
    """The frame of every call made, in order."""

    def calling(self, *outcomes: AgoraError | Exception | str) -> Callable[[Any], str]:
        """A call that raises (or returns) the given outcomes in turn, the last for ever."""
        queue = list(outcomes)

        def call(frame: Any) -> str:
            self.frames.append(frame)
            outcome = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        return call

    def request(self, call: Callable[[Any], str], **options: Any) -> Request[Any, str]:
        settings: dict[str, Any] = {
            "budget": BUDGET,
            "label": LABEL,
            "frame": FRAME,
            "call": call,
            "describe": "a test request",
            "max_wait_s": MAX_WAIT_S,
        }
        return Request(**(settings | options))

    def send(self, *outcomes: AgoraError | Exception | str, **options: Any) -> Sent[Any, str]:
        return send(self.context, self.request(self.calling(*outcomes), **options))

    def ledger(self) -> list[float]:
        """Every request the ledger recorded (each before it left)."""
        return self.store.ledger.times(BUDGET.value, 0)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(T0)
    sleep = FakeSleep(clock)
    state_dir = tmp_path / "state"
    with (
        Store(state_dir, clock=clock) as store,
        AgoraClient(
            base_url="http://127.0.0.1:9",
            customer_id=SecretStr("send-test"),
            customer_secret=SecretStr("send-secret"),
            transport=httpx.MockTransport(_no_network),
        ) as client,
    ):
        context = PollContext.build(
            client=client, store=store, limits={BUDGET: LIMITS}, clock=clock, sleep=sleep
        )
        yield Rig(clock, sleep, store, context, state_dir)


def _halve(error: AgoraError, frame: tuple[int, int]) -> tuple[int, int] | None:
    start, end = frame
    return (start, start + (end - start) // 2) if end - start > 1 else None


# --- one row per error class ----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    noun: str
    """The error, as a sentence's subject."""
    fate: str
    """What ``send`` does with it when it never goes away."""
    error: type[AgoraError]
    attempts: int
    waits: tuple[float, ...] = ()
    retry_in: float | None = None
    frame: tuple[int, int] = FRAME

    @property
    def retries(self) -> bool:
        return self.attempts > 1


FOUR_TRIES: dict[str, Any] = {
    "fate": "is sent four times with waits of 1, 3 and 6 s",
    "attempts": 4,
    "waits": BACKOFF_S,
}
PAUSING: dict[str, Any] = {
    "fate": "is sent once and pauses the app 5 min",
    "attempts": 1,
    "retry_in": AUTH_PAUSE_S,
}
WRONG: dict[str, Any] = {"fate": "is sent once and never retried unchanged", "attempts": 1}

ROWS = [
    Row("a rate limit", "is sent once and put off for a minute", RateLimitedError, 1, retry_in=60),
    Row(
        "a spent daily quota",
        "is sent once and put off for an hour",
        DailyQuotaError,
        1,
        retry_in=3600,
    ),
    Row(
        "a refused window",
        "is sent again once with the frame shrunk, then given up",
        WindowRejectedError,
        2,
        frame=SHRUNK,
    ),
    Row("a plan without access", error=NoAccessError, **PAUSING),
    Row("a refusal of the credentials", error=UnauthorizedError, **PAUSING),
    Row("a forbidden request", error=ForbiddenError, **PAUSING),
    Row("a bad request", error=BadRequestError, **WRONG),
    Row("an unknown endpoint", error=NotFoundError, **WRONG),
    Row("a server error", error=ServerError, **FOUR_TRIES),
    Row("a transport fault", error=TransportError, **FOUR_TRIES),
    Row("a timeout", error=RequestTimeoutError, **FOUR_TRIES),
    Row("an invalid answer", error=InvalidResponseError, **FOUR_TRIES),
    Row("an API error the client does not know", error=UnexpectedAnswerError, **FOUR_TRIES),
    Row(
        "a limit error of a kind nobody documented",
        "is sent once and put off for a minute",
        UnknownLimitError,
        1,
        retry_in=60,
    ),
    Row("a 4xx the reference does not list", error=ClientError, **WRONG),
]
ERROR_ROWS = [pytest.param(r, id=f"{r.noun} {r.fate}") for r in ROWS]
THEN_ANSWERED = [
    pytest.param(
        r,
        id=f"{r.noun} then an answer "
        + ("is answered at the second try" if r.retries else "is given up after one try"),
    )
    for r in ROWS
]


def test_the_error_table_has_one_row_per_error_class_covering_every_retry_action() -> None:
    assert [r.error for r in ROWS] == list(ERROR_CLASSES)
    assert {r.error.retry for r in ROWS} == set(RetryAction)


@pytest.mark.parametrize("row", ERROR_ROWS)
def test_an_error_that_never_goes_away(rig: Rig, row: Row) -> None:
    error = MAKERS[row.error]()
    sent = rig.send(error, shrink=_halve)

    assert sent.verdict is Verdict.REFUSED
    assert sent.error is error
    assert sent.answer is None
    assert sent.requests == row.attempts
    assert len(rig.frames) == row.attempts
    assert tuple(rig.sleep.waits) == row.waits
    # One ledger entry per attempt, each at the moment it left.
    waited = [sum(row.waits[:n]) for n in range(row.attempts)]
    assert rig.ledger() == [T0 + w for w in waited]
    assert sent.frame == row.frame
    assert rig.frames[-1] == row.frame
    retry_in = None if sent.retry_at is None else sent.retry_at - rig.clock()
    assert retry_in == row.retry_in
    assert sent.rule is ERROR_RULES[row.error.retry]


@pytest.mark.parametrize("row", THEN_ANSWERED)
def test_an_error_followed_by_an_answer(rig: Rig, row: Row) -> None:
    """Only the rules that retry reach the answer; the others give up after one try."""
    error = MAKERS[row.error]()
    sent = rig.send(error, ANSWER, shrink=_halve)

    retries = row.retries
    assert sent.verdict is (Verdict.ANSWERED if retries else Verdict.REFUSED)
    assert sent.requests == len(rig.ledger()) == (2 if retries else 1)
    assert tuple(rig.sleep.waits) == row.waits[:1]
    assert sent.answer == (ANSWER if retries else None)
    assert sent.error is (None if retries else error)
    assert sent.frame == row.frame


# --- one row per retry action -----------------------------------------------------------


RULES = [
    pytest.param(
        RetryAction.BACKOFF, ErrorRule(backoff=True), id="a backoff error is sent again later"
    ),
    pytest.param(
        RetryAction.FIX_WINDOW,
        ErrorRule(shrink=True),
        id="a refused window is shrunk and sent again",
    ),
    pytest.param(
        RetryAction.NEXT_SLOT,
        ErrorRule(pause_s=60.0, deferred=True),
        id="a rate limit defers the request a minute",
    ),
    pytest.param(
        RetryAction.NEXT_DAY,
        ErrorRule(pause_s=3600.0, deferred=True),
        id="a spent day defers the request an hour",
    ),
    pytest.param(
        RetryAction.STOP,
        ErrorRule(pause_s=AUTH_PAUSE_S, pauses_app=True),
        id="a refusal of credentials pauses the whole app 5 min",
    ),
    pytest.param(RetryAction.NONE, ErrorRule(), id="a wrong request fails and is not retried"),
]


def test_every_retry_action_has_a_rule_and_the_table_one_row_each() -> None:
    assert set(ERROR_RULES) == set(RetryAction)
    actions = [param.values[0] for param in RULES]
    assert sorted(actions) == sorted(RetryAction)


@pytest.mark.parametrize(("action", "rule"), RULES)
def test_error_rule(action: RetryAction, rule: ErrorRule) -> None:
    assert ERROR_RULES[action] == rule


def test_the_backoff_waits_are_1_3_and_6_s_and_the_auth_pause_5_min() -> None:
    assert BACKOFF_S == (1.0, 3.0, 6.0)
    assert AUTH_PAUSE_S == 300.0


def test_a_quota_answer_is_deferred_and_nothing_else_is() -> None:
    deferred = {action for action, rule in ERROR_RULES.items() if rule.deferred}
    assert deferred == {RetryAction.NEXT_SLOT, RetryAction.NEXT_DAY}
    quota = {cls for cls in ERROR_CLASSES if cls.outcome in ("rate_limited", "quota_exhausted")}
    assert {cls.retry for cls in quota} == deferred


# --- answers, retries, shrinking ------------------------------------------------------


def test_an_answer_at_once_is_one_request_in_the_ledger_and_no_wait(rig: Rig) -> None:
    sent = rig.send(ANSWER)
    assert (sent.verdict, sent.answer, sent.requests, sent.frame) == (
        Verdict.ANSWERED,
        ANSWER,
        1,
        FRAME,
    )
    assert sent.error is None
    assert sent.retry_at is None
    assert sent.rule == ErrorRule()
    assert rig.ledger() == [T0]
    assert rig.sleep.waits == []


def test_each_try_is_recorded_in_the_ledger_under_the_requests_label(rig: Rig) -> None:
    rig.send(MAKERS[ServerError](), label="backfill:insight_usage")
    counts = ledger_counts(rig.state_dir, budget=BUDGET.value, since=T0 - DAY)
    assert counts == {"backfill:insight_usage": 4}


def test_two_server_errors_then_an_answer_waits_1_and_3_s(rig: Rig) -> None:
    error = MAKERS[ServerError]()
    sent = rig.send(error, error, ANSWER)
    assert sent.verdict is Verdict.ANSWERED
    assert sent.requests == 3
    assert rig.sleep.waits == [1.0, 3.0]
    assert rig.ledger() == [T0, T0 + 1, T0 + 4]


def test_the_backoffs_are_per_send_not_per_process(rig: Rig) -> None:
    error = MAKERS[ServerError]()
    rig.send(error)
    rig.sleep.waits.clear()
    rig.clock.advance(120)
    rig.send(error)
    assert rig.sleep.waits == list(BACKOFF_S)


def test_a_refused_window_is_shrunk_once_with_the_error_and_the_frame_it_refused(
    rig: Rig,
) -> None:
    error = MAKERS[WindowRejectedError]()
    seen: list[tuple[AgoraError, Any]] = []

    def shrink(refused: AgoraError, frame: tuple[int, int]) -> tuple[int, int]:
        seen.append((refused, frame))
        return SHRUNK

    sent = rig.send(error, ANSWER, shrink=shrink)
    assert sent.verdict is Verdict.ANSWERED
    assert sent.frame == SHRUNK
    assert rig.frames == [FRAME, SHRUNK]
    assert seen == [(error, FRAME)]


def test_a_refused_window_the_caller_cannot_shrink_is_given_up_after_one_request(
    rig: Rig,
) -> None:
    sent = rig.send(MAKERS[WindowRejectedError](), ANSWER, shrink=lambda error, frame: None)
    assert sent.verdict is Verdict.REFUSED
    assert (sent.requests, sent.frame, sent.retry_at) == (1, FRAME, None)
    assert len(rig.ledger()) == 1


def test_a_refused_window_without_a_shrink_is_given_up_after_one_request(rig: Rig) -> None:
    sent = rig.send(MAKERS[WindowRejectedError](), ANSWER)
    assert sent.verdict is Verdict.REFUSED
    assert (sent.requests, sent.frame) == (1, FRAME)


def test_a_shrink_never_applies_to_an_error_whose_rule_is_not_shrinking(rig: Rig) -> None:
    calls: list[AgoraError] = []

    def shrink(error: AgoraError, frame: tuple[int, int]) -> tuple[int, int]:
        calls.append(error)
        return SHRUNK

    sent = rig.send(MAKERS[BadRequestError](), ANSWER, shrink=shrink)
    assert sent.verdict is Verdict.REFUSED
    assert calls == []
    assert sent.frame == FRAME


def test_a_window_refused_for_latency_shrinks_on_the_side_the_api_named(rig: Rig) -> None:
    latency = WindowRejectedError(ENDPOINT, problem=WindowProblem.LATENCY, **_ctx())

    def shrink(error: AgoraError, frame: tuple[int, int]) -> tuple[int, int]:
        assert getattr(error, "problem", None) is WindowProblem.LATENCY
        return frame[0], frame[1] - 20

    sent = rig.send(latency, ANSWER, shrink=shrink)
    assert sent.frame == (0, 980)


# --- retry_once -----------------------------------------------------------------------------


def test_retry_once_is_asked_first_and_allows_exactly_one_more_try(rig: Rig) -> None:
    asked: list[AgoraError] = []

    def retry_once(error: AgoraError) -> bool:
        asked.append(error)
        return True  # says yes every time: send must still use it once

    error = MAKERS[BadRequestError]()
    sent = rig.send(error, retry_once=retry_once)
    assert sent.verdict is Verdict.REFUSED
    assert sent.requests == len(rig.ledger()) == 2
    assert asked == [error]
    assert rig.sleep.waits == []


def test_retry_once_comes_on_top_of_the_backoffs(rig: Rig) -> None:
    sent = rig.send(MAKERS[ServerError](), retry_once=lambda error: True)
    assert sent.requests == len(rig.ledger()) == 5
    assert rig.sleep.waits == list(BACKOFF_S)


def test_retry_once_saying_no_leaves_the_error_to_its_rule(rig: Rig) -> None:
    sent = rig.send(MAKERS[ServerError](), retry_once=lambda error: False)
    assert sent.requests == 4
    assert rig.sleep.waits == list(BACKOFF_S)


def test_retry_once_then_an_answer(rig: Rig) -> None:
    sent = rig.send(MAKERS[BadRequestError](), ANSWER, retry_once=lambda error: True)
    assert sent.verdict is Verdict.ANSWERED
    assert sent.requests == 2


# --- allowance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowance", "requests", "waits"),
    [
        pytest.param(0, 0, [], id="an allowance of none sends nothing"),
        pytest.param(1, 1, [1.0], id="an allowance of one is spent after the first try"),
        pytest.param(2, 2, [1.0, 3.0], id="an allowance of two is spent after one retry"),
    ],
)
def test_a_spent_allowance_stops_the_retries(
    rig: Rig, allowance: int, requests: int, waits: list[float]
) -> None:
    sent = rig.send(MAKERS[ServerError](), allowance=allowance)
    assert sent.verdict is Verdict.SPENT
    assert sent.requests == len(rig.ledger()) == len(rig.frames) == requests
    assert rig.sleep.waits == waits
    assert sent.error is None
    assert sent.retry_at is None


def test_an_allowance_larger_than_the_tries_changes_nothing(rig: Rig) -> None:
    sent = rig.send(MAKERS[ServerError](), allowance=5)
    assert sent.verdict is Verdict.REFUSED
    assert sent.requests == 4


# --- stopping -----------------------------------------------------------------------------


def test_stopping_before_the_first_try_sends_nothing(rig: Rig) -> None:
    rig.context.stopping.set()
    sent = rig.send(ANSWER)
    assert sent.verdict is Verdict.STOPPING
    assert sent.requests == 0
    assert rig.ledger() == []
    assert rig.frames == []


def test_stopping_during_a_backoff_wait_refuses_with_the_error(rig: Rig) -> None:
    """The production sleep returns False once stopping is set: no further try leaves."""

    def sleep(seconds: float) -> bool:
        rig.context.stopping.set()
        return False

    rig.context.sleep = sleep
    error = MAKERS[ServerError]()
    sent = rig.send(error, ANSWER)
    assert sent.verdict is Verdict.REFUSED
    assert sent.error is error
    assert sent.requests == len(rig.ledger()) == 1


def test_stopping_set_while_a_backoff_wait_ends_normally_sends_no_further_try(rig: Rig) -> None:
    def sleep(seconds: float) -> bool:
        rig.context.stopping.set()
        return True

    rig.context.sleep = sleep
    sent = rig.send(MAKERS[ServerError](), ANSWER)
    assert sent.verdict is Verdict.STOPPING
    assert sent.requests == len(rig.ledger()) == 1


def test_the_production_sleep_ends_a_backoff_at_once_when_stopping(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    stopping = threading.Event()
    with Store(tmp_path / "state", clock=clock) as store:
        context = PollContext.build(
            client=None,  # type: ignore[arg-type]  # send never touches the client
            store=store,
            limits={BUDGET: LIMITS},
            clock=clock,
            stopping=stopping,
        )
        tries: list[Any] = []

        def call(frame: Any) -> str:
            tries.append(frame)
            stopping.set()
            raise MAKERS[ServerError]()

        request: Request[Any, str] = Request(BUDGET, LABEL, FRAME, call, "a test", MAX_WAIT_S)
        sent = send(context, request)
    assert sent.verdict is Verdict.REFUSED
    assert len(tries) == 1


# --- the ledger ---------------------------------------------------------------------------


def _use(rig: Rig, limits: Limits, count: int) -> None:
    rig.context.limits[BUDGET] = limits
    for _ in range(count):
        rig.store.ledger.record(BUDGET.value, "someone else", rig.clock())


def test_a_full_ledger_gives_no_slot_and_says_when_one_frees(rig: Rig) -> None:
    _use(rig, LIMITS, LIMITS.per_minute or 0)
    sent = rig.send(ANSWER)
    assert sent.verdict is Verdict.NO_SLOT
    assert sent.retry_at == T0 + 60 + PERIOD_MARGIN_S
    assert sent.requests == 0
    assert rig.frames == []
    assert len(rig.ledger()) == LIMITS.per_minute


def test_a_slot_within_the_requests_wait_is_waited_for(rig: Rig) -> None:
    _use(rig, LIMITS, LIMITS.per_minute or 0)
    waits: list[float] = []
    sent = rig.send(ANSWER, max_wait_s=75.0, on_wait=waits.append)
    assert sent.verdict is Verdict.ANSWERED
    assert waits == rig.sleep.waits == [60 + PERIOD_MARGIN_S]
    assert rig.ledger()[-1] == T0 + 60 + PERIOD_MARGIN_S


def test_a_daily_limit_already_used_gives_no_slot_for_hours(rig: Rig) -> None:
    spent = Limits(per_minute=10, per_day=3, horizon_s=3600, max_span_s=3600, delay_s=20)
    _use(rig, spent, 3)
    sent = rig.send(ANSWER, max_wait_s=75.0)
    assert sent.verdict is Verdict.NO_SLOT
    assert sent.retry_at == T0 + DAY + PERIOD_MARGIN_S
    assert rig.sleep.waits == []


def test_a_budget_without_requests_never_has_a_slot(rig: Rig) -> None:
    _use(rig, Limits(per_minute=0, per_day=0, horizon_s=1, max_span_s=1, delay_s=0), 0)
    sent = rig.send(ANSWER)
    assert sent.verdict is Verdict.NO_SLOT
    assert sent.retry_at == float("inf")


def test_retries_count_against_the_ledger_so_a_full_one_gives_no_slot_after_the_tries_made(
    rig: Rig,
) -> None:
    # Two a minute: the second try leaves after 1 s; a third would be the minute's third.
    two_a_minute = Limits(per_minute=2, per_day=1000, horizon_s=3600, max_span_s=3600, delay_s=20)
    _use(rig, two_a_minute, 0)
    sent = rig.send(MAKERS[ServerError]())
    assert sent.verdict is Verdict.NO_SLOT
    assert sent.requests == len(rig.ledger()) == 2
    assert rig.sleep.waits == [1.0, 3.0]
    assert sent.retry_at == T0 + 60 + PERIOD_MARGIN_S
    assert sent.error is None


def test_stopping_while_waiting_for_a_slot_is_stopping_not_no_slot(rig: Rig) -> None:
    _use(rig, LIMITS, LIMITS.per_minute or 0)

    def sleep(seconds: float) -> bool:
        rig.context.stopping.set()
        return False

    rig.context.ledger = Ledger(store=rig.store, clock=rig.clock, sleep=sleep)
    sent = rig.send(ANSWER, max_wait_s=75.0)
    assert sent.verdict is Verdict.STOPPING
    assert sent.retry_at == T0 + 60 + PERIOD_MARGIN_S
    assert rig.frames == []


# --- what send does not contain ------------------------------------------------------------


def test_an_exception_that_is_not_an_agora_error_propagates_after_being_counted(
    rig: Rig,
) -> None:
    with pytest.raises(ZeroDivisionError):
        rig.send(ZeroDivisionError("a bug"))
    assert len(rig.ledger()) == 1
    assert rig.sleep.waits == []
