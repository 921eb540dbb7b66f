"""The error taxonomy: one outcome label and one retry action per kind of failure."""

from __future__ import annotations

import pytest

from exporter.agora import (
    ALL_OUTCOMES,
    OUTCOME_SUCCESS,
    AgoraError,
    BadRequestError,
    DailyQuotaError,
    ForbiddenError,
    InvalidResponseError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    RetryAction,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnexpectedAnswerError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.classify import normalize_message
from exporter.agora.errors import ClientError, UnknownLimitError
from exporter.agora.limits import Endpoint

EXPECTED = [
    (RateLimitedError, "rate_limited", RetryAction.NEXT_SLOT),
    (DailyQuotaError, "quota_exhausted", RetryAction.NEXT_DAY),
    (WindowRejectedError, "window_rejected", RetryAction.FIX_WINDOW),
    (NoAccessError, "no_access", RetryAction.STOP),
    (UnauthorizedError, "unauthorized", RetryAction.STOP),
    (ForbiddenError, "forbidden", RetryAction.STOP),
    (BadRequestError, "bad_request", RetryAction.NONE),
    (NotFoundError, "not_found", RetryAction.NONE),
    (ServerError, "server_error", RetryAction.BACKOFF),
    (TransportError, "transport_error", RetryAction.BACKOFF),
    (RequestTimeoutError, "timeout", RetryAction.BACKOFF),
    (InvalidResponseError, "invalid_response", RetryAction.BACKOFF),
    (UnexpectedAnswerError, "api_error", RetryAction.BACKOFF),
    (UnknownLimitError, "unknown_limit", RetryAction.NEXT_SLOT),
    (ClientError, "client_error", RetryAction.NONE),
]


def make(cls: type[AgoraError]) -> AgoraError:
    endpoint = Endpoint.REALTIME_QUALITY
    if cls is RateLimitedError:
        return RateLimitedError(endpoint, period="minute", request_id="r-1", http_status=200)
    if cls is WindowRejectedError:
        return WindowRejectedError(endpoint, problem=WindowProblem.LATENCY, http_status=200)
    return cls(endpoint, http_status=500, api_message="Unknown Error")


@pytest.mark.parametrize(
    ("cls", "outcome", "retry"),
    [pytest.param(*row, id=f"{row[0].__name__} counts as {row[1]}") for row in EXPECTED],
)
def test_each_error_has_its_outcome_label_and_retry_action(
    cls: type[AgoraError], outcome: str, retry: RetryAction
) -> None:
    error = make(cls)
    assert (error.outcome, error.retry) == (outcome, retry)
    assert isinstance(error, AgoraError)


def test_all_outcomes_lists_success_and_every_error_label_once() -> None:
    assert ALL_OUTCOMES[0] == OUTCOME_SUCCESS
    assert sorted(ALL_OUTCOMES) == sorted({OUTCOME_SUCCESS, *(row[1] for row in EXPECTED)})
    assert len(set(ALL_OUTCOMES)) == len(ALL_OUTCOMES)


def test_a_timeout_is_also_a_transport_error() -> None:
    assert issubclass(RequestTimeoutError, TransportError)


@pytest.mark.parametrize("cls", [pytest.param(row[0], id=row[0].__name__) for row in EXPECTED])
def test_the_message_names_the_endpoint_and_says_what_to_do(cls: type[AgoraError]) -> None:
    error = make(cls)
    text = str(error)
    assert "realtime_quality" in text
    assert Endpoint.REALTIME_QUALITY.value in text
    assert any(word in text for word in ("retry", "check", "do not retry"))
    assert repr(error).startswith(f"{cls.__name__}(")


def test_the_message_carries_the_request_id_and_the_period() -> None:
    text = str(make(RateLimitedError))
    assert "request id r-1" in text
    assert "per minute" in text


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        pytest.param("qps limit error", "qps limit error", id="plain text stays"),
        pytest.param("  QPS Limit Error. ", "qps limit error", id="case and dots go"),
        pytest.param("qpm\tlimit\n error!!", "qpm limit error", id="whitespace collapses"),
    ],
)
def test_messages_are_normalised_before_matching(raw: str, normal: str) -> None:
    assert normalize_message(raw) == normal
