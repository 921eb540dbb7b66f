"""The reference's status and message tables, row by row, as the client classifies them.

Pure: ``error_for_code`` for a ``code`` in the body of an HTTP 200,
``error_for_status`` for the same number as the HTTP status. What each kind
then does is ``quota/error_rules.py``'s row for its retry action; here it is
enough that no 4xx and no 300 is ever retried at once (BACKOFF or FIX_WINDOW
without a window problem).
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.agora import (
    AgoraError,
    BadRequestError,
    DailyQuotaError,
    ForbiddenError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RetryAction,
    ServerError,
    UnauthorizedError,
    UnexpectedAnswerError,
    WindowProblem,
    WindowRejectedError,
    classify,
)
from exporter.agora.classify import error_for_code, error_for_status
from exporter.agora.errors import ClientError, ErrorContext, UnknownLimitError
from exporter.agora.limits import Endpoint

ENDPOINT = Endpoint.INSIGHT_QUALITY
NOT_AT_ONCE = {RetryAction.NEXT_SLOT, RetryAction.NEXT_DAY, RetryAction.STOP, RetryAction.NONE}
"""Retry actions that never send the same request again at once."""

# The reference's message table (plus qpm and query duration from Agora's other docs):
# (message, error, retry action, window problem or rate period).
MESSAGES = [
    ("qps limit error", RateLimitedError, RetryAction.NEXT_SLOT, "second"),
    ("qpm limit error", RateLimitedError, RetryAction.NEXT_SLOT, "minute"),
    ("qpd limit error", DailyQuotaError, RetryAction.NEXT_DAY, None),
    ("query latency limit error", WindowRejectedError, RetryAction.FIX_WINDOW, "latency"),
    ("query time range limit error", WindowRejectedError, RetryAction.FIX_WINDOW, "range"),
    ("query time length limit error", WindowRejectedError, RetryAction.FIX_WINDOW, "length"),
    ("query duration limit error", WindowRejectedError, RetryAction.FIX_WINDOW, "duration"),
    (
        "you have no auth to access this service, please buy or upgrade your service package",
        NoAccessError,
        RetryAction.STOP,
        None,
    ),
    ("a limit nobody documented", UnknownLimitError, RetryAction.NEXT_SLOT, None),
    ("", UnknownLimitError, RetryAction.NEXT_SLOT, None),
]

# The reference's status table (300 above), then what it leaves out.
CODES = [
    (400, BadRequestError, "bad_request", RetryAction.NONE),
    (401, UnauthorizedError, "unauthorized", RetryAction.STOP),
    (403, ForbiddenError, "forbidden", RetryAction.STOP),
    (404, NotFoundError, "not_found", RetryAction.NONE),
    (500, ServerError, "server_error", RetryAction.BACKOFF),
    (402, ClientError, "client_error", RetryAction.NONE),
    (408, ClientError, "client_error", RetryAction.NONE),
    (409, ClientError, "client_error", RetryAction.NONE),
    (422, ClientError, "client_error", RetryAction.NONE),
    (451, ClientError, "client_error", RetryAction.NONE),
    (429, RateLimitedError, "rate_limited", RetryAction.NEXT_SLOT),
    (502, ServerError, "server_error", RetryAction.BACKOFF),
    (503, ServerError, "server_error", RetryAction.BACKOFF),
    (777, UnexpectedAnswerError, "api_error", RetryAction.BACKOFF),
]


def _ctx(message: str | None = None) -> ErrorContext:
    return {"http_status": 200, "request_id": "r-1", "api_message": message}


def _detail(error: AgoraError) -> str | None:
    if isinstance(error, WindowRejectedError):
        return error.problem.value
    if isinstance(error, RateLimitedError):
        return error.period
    return None


@pytest.mark.parametrize(
    ("message", "expected", "retry", "detail"),
    [
        pytest.param(
            *row,
            id=f"code 300 {row[0][:30]!r} is {row[1].__name__}, "
            + ("never retried at once" if row[2] in NOT_AT_ONCE else "its window fixed once"),
        )
        for row in MESSAGES
    ],
)
def test_each_code_300_message_is_a_limit_error_of_its_kind(
    message: str, expected: type[AgoraError], retry: RetryAction, detail: str | None
) -> None:
    error = error_for_code(ENDPOINT, 300, message or None, _ctx(message or None))
    assert type(error) is expected
    assert (error.retry, _detail(error)) == (retry, detail)
    assert error.retry is not RetryAction.BACKOFF


@pytest.mark.parametrize(
    ("code", "expected", "outcome", "retry"),
    [
        pytest.param(*row, id=f"code {row[0]} in the body is {row[2]}, retry {row[3].value}")
        for row in CODES
    ],
)
def test_each_status_code_in_the_body_becomes_its_error(
    code: int, expected: type[AgoraError], outcome: str, retry: RetryAction
) -> None:
    error = error_for_code(ENDPOINT, code, "some text", _ctx("some text"))
    assert (type(error), error.outcome, error.retry) == (expected, outcome, retry)


@pytest.mark.parametrize(
    ("code", "expected", "outcome", "retry"),
    [
        pytest.param(*row, id=f"HTTP status {row[0]} is {row[2]} as in the body")
        for row in CODES
        if row[0] < 600
    ],
)
def test_each_status_code_as_the_http_status_is_the_same_error_as_in_the_body(
    code: int, expected: type[AgoraError], outcome: str, retry: RetryAction
) -> None:
    error = error_for_status(ENDPOINT, code, {"http_status": code})
    assert (type(error), error.outcome, error.retry) == (expected, outcome, retry)


def test_an_http_redirect_is_an_unexpected_answer_not_a_limit_error() -> None:
    error = error_for_status(ENDPOINT, 302, {"http_status": 302})
    assert (type(error), error.outcome) == (UnexpectedAnswerError, "api_error")


@given(code=st.integers(400, 499), as_status=st.booleans())
def test_no_4xx_is_ever_retried_at_once_whichever_way_it_arrives(
    code: int, as_status: bool
) -> None:
    if as_status:
        error = error_for_status(ENDPOINT, code, {"http_status": code})
    else:
        error = error_for_code(ENDPOINT, code, None, _ctx())
    assert error.retry in NOT_AT_ONCE


@given(message=st.text(max_size=40))
def test_every_code_300_is_a_limit_error_whatever_its_message(message: str) -> None:
    error = error_for_code(ENDPOINT, 300, message, _ctx(message))
    assert error.retry is not RetryAction.BACKOFF
    if error.retry is RetryAction.FIX_WINDOW:
        assert isinstance(error, WindowRejectedError)
        assert error.problem in WindowProblem


@pytest.fixture
def fresh_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which unknown answers were logged already (the set is per process)."""
    monkeypatch.setattr(classify, "_logged", set())


@pytest.mark.usefixtures("fresh_log")
def test_an_unknown_answer_is_logged_once_with_its_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="exporter.agora.classify")
    for _ in range(3):
        error_for_code(ENDPOINT, 300, "Quota Weird Today", _ctx())
        error_for_code(ENDPOINT, 422, "unprocessable", _ctx())
    error_for_code(ENDPOINT, 300, "quota weird today!", _ctx())  # the same, normalised
    error_for_code(ENDPOINT, 300, "qps limit error", _ctx())  # known: not logged
    logged = [
        (r.__dict__["code"], r.__dict__["api_message"], r.__dict__["outcome"])
        for r in caplog.records
    ]
    assert logged == [
        (300, "Quota Weird Today", "unknown_limit"),
        (422, "unprocessable", "client_error"),
    ]


@pytest.mark.usefixtures("fresh_log")
def test_the_unknown_answers_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classify, "_MAX_LOGGED", 3)
    logged = [
        classify.log_unknown_once(ENDPOINT, 300, f"message {n}", "unknown_limit") for n in range(5)
    ]
    assert logged == [True, True, True, False, False]
    assert len(classify._logged) == 3
