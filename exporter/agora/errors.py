"""Every way a call to the Agora Analytics API can fail, as one typed error each.

Each error class carries the ``outcome`` label the exporter counts it under and
the ``retry`` action the poller should take. The messages name the endpoint and
say what to do; they never contain the customer ID or secret (the client scrubs
any text it copies from a response before it gets here).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal, TypedDict, Unpack

from exporter.agora.limits import Endpoint

OUTCOME_SUCCESS = "success"

RatePeriod = Literal["second", "minute"]


class RetryAction(StrEnum):
    """What the caller should do after an error."""

    NEXT_SLOT = "next_slot"
    """Rate limited (or a limit error of an unknown kind): retry when the quota ledger
    has a free slot, never at once."""
    NEXT_DAY = "next_day"
    """The daily quota is spent: retry after the day rolls over."""
    FIX_WINDOW = "fix_window"
    """The time window was refused: clamp it to the plan's limits and retry."""
    BACKOFF = "backoff"
    """Server, transport or garbage answer: back off about 1 s, 3 s, 6 s."""
    STOP = "stop"
    """Credentials or plan: needs a human; retry only every few minutes."""
    NONE = "none"
    """The request itself is wrong (a 4xx other than 401/403/429): do not retry it unchanged."""


class WindowProblem(StrEnum):
    """Which time-window limit a ``WindowRejectedError`` reports."""

    LATENCY = "latency"
    """The frame ends too close to now (data delay)."""
    RANGE = "range"
    """The frame starts too far in the past (available data)."""
    LENGTH = "length"
    """The frame is too long (response content)."""
    DURATION = "duration"
    """The query duration limit (undocumented cousin of ``LENGTH``)."""


_ADVICE: dict[RetryAction, str] = {
    RetryAction.NEXT_SLOT: "retry when the quota ledger has a free slot",
    RetryAction.NEXT_DAY: "the daily quota is spent; retry tomorrow",
    RetryAction.FIX_WINDOW: "clamp the time window to the plan's limits and retry",
    RetryAction.BACKOFF: "retry after a back-off (about 1 s, 3 s, 6 s)",
    RetryAction.STOP: "check the credentials and the plan; retry only every few minutes",
    RetryAction.NONE: "the request is wrong; do not retry it unchanged",
}


class ErrorContext(TypedDict, total=False):
    """What is known about the failed request, passed on to every error."""

    request_id: str | None
    http_status: int | None
    api_message: str | None


class AgoraError(Exception):
    """Base of every error the Agora client raises."""

    outcome: ClassVar[str] = "api_error"
    retry: ClassVar[RetryAction] = RetryAction.BACKOFF
    summary: ClassVar[str] = "the API failed"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        detail: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        api_message: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.detail = detail
        self.request_id = request_id
        self.http_status = http_status
        self.api_message = api_message
        super().__init__(self._sentence())

    def _what(self) -> str:
        return self.summary

    def _sentence(self) -> str:
        text = f"Agora {self.endpoint.label} ({self.endpoint.value}): {self._what()}"
        if self.api_message:
            text += f" (API said: {self.api_message!r})"
        if self.detail:
            text += f" ({self.detail})"
        text += f"; {_ADVICE[self.retry]}"
        refs = []
        if self.http_status is not None:
            refs.append(f"HTTP {self.http_status}")
        if self.request_id:
            refs.append(f"request id {self.request_id}")
        if refs:
            text += f" [{', '.join(refs)}]"
        return text + "."

    def __str__(self) -> str:
        return self._sentence()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._sentence()!r})"


class RateLimitedError(AgoraError):
    outcome = "rate_limited"
    retry = RetryAction.NEXT_SLOT

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        period: RatePeriod,
        detail: str | None = None,
        **kwargs: Unpack[ErrorContext],
    ) -> None:
        self.period: RatePeriod = period
        super().__init__(endpoint, detail=detail, **kwargs)

    def _what(self) -> str:
        return f"rate limited: too many requests per {self.period}"


class DailyQuotaError(AgoraError):
    outcome = "quota_exhausted"
    retry = RetryAction.NEXT_DAY
    summary = "the daily request quota is exhausted"


class WindowRejectedError(AgoraError):
    outcome = "window_rejected"
    retry = RetryAction.FIX_WINDOW

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        problem: WindowProblem,
        detail: str | None = None,
        **kwargs: Unpack[ErrorContext],
    ) -> None:
        self.problem = problem
        super().__init__(endpoint, detail=detail, **kwargs)

    def _what(self) -> str:
        return f"the query time window was rejected ({_WINDOW_TEXT[self.problem]})"


_WINDOW_TEXT: dict[WindowProblem, str] = {
    WindowProblem.LATENCY: "it ends too close to now for the plan's data delay",
    WindowProblem.RANGE: "it starts before the plan's available data",
    WindowProblem.LENGTH: "it is longer than the plan allows per query",
    WindowProblem.DURATION: "its duration exceeds the plan's limit",
}


class NoAccessError(AgoraError):
    outcome = "no_access"
    retry = RetryAction.STOP
    summary = "the plan has no access to this service"


class UnauthorizedError(AgoraError):
    outcome = "unauthorized"
    retry = RetryAction.STOP
    summary = "the customer ID or secret was not accepted (401)"


class ForbiddenError(AgoraError):
    outcome = "forbidden"
    retry = RetryAction.STOP
    summary = "the request is forbidden for these credentials (403)"


class BadRequestError(AgoraError):
    outcome = "bad_request"
    retry = RetryAction.NONE
    summary = "the API rejected the request parameters (400)"


class NotFoundError(AgoraError):
    outcome = "not_found"
    retry = RetryAction.NONE
    summary = "the API does not know this endpoint (404)"


class ServerError(AgoraError):
    outcome = "server_error"
    retry = RetryAction.BACKOFF
    summary = "the API had an internal error"


class TransportError(AgoraError):
    outcome = "transport_error"
    retry = RetryAction.BACKOFF
    summary = "the connection to the API failed"


class RequestTimeoutError(TransportError):
    outcome = "timeout"
    summary = "the API did not answer in time"


class InvalidResponseError(AgoraError):
    outcome = "invalid_response"
    retry = RetryAction.BACKOFF
    summary = "the API answered with something that is not a valid response"


class UnexpectedAnswerError(AgoraError):
    outcome = "api_error"
    retry = RetryAction.BACKOFF
    summary = "the API answered with an error this client does not know"


class UnknownLimitError(AgoraError):
    """A ``code: 300`` whose message is none of the reference's: still a limit error
    (the reference's status table: 300 is "the API limits are exceeded"), so it is
    put off like a rate limit, never retried at once."""

    outcome = "unknown_limit"
    retry = RetryAction.NEXT_SLOT
    summary = "the API reported a limit this client does not know (code 300)"


class ClientError(AgoraError):
    """A 4xx the reference's status table does not list (402, 408, 422, ...), in the
    body's ``code`` or as the HTTP status: never retried (Agora: never retry a 4xx)."""

    outcome = "client_error"
    retry = RetryAction.NONE
    summary = "the API refused the request with a client error this client does not know"


ERROR_CLASSES: tuple[type[AgoraError], ...] = (
    RateLimitedError,
    DailyQuotaError,
    WindowRejectedError,
    NoAccessError,
    UnauthorizedError,
    ForbiddenError,
    BadRequestError,
    NotFoundError,
    ServerError,
    TransportError,
    RequestTimeoutError,
    InvalidResponseError,
    UnexpectedAnswerError,
    UnknownLimitError,
    ClientError,
)

ALL_OUTCOMES: tuple[str, ...] = (OUTCOME_SUCCESS, *(cls.outcome for cls in ERROR_CLASSES))
"""Every ``outcome`` label value, success first, for pre-initialising counters."""
