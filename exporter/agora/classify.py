"""Map what the API answered (HTTP status, body ``code`` and ``message``) to one error.

Pure functions: no I/O, no httpx. The client calls :func:`error_for_body` for
a body that carries an error code and :func:`error_for_status` for a non-2xx
HTTP status whose body says nothing more specific.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from exporter.agora.errors import (
    AgoraError,
    BadRequestError,
    DailyQuotaError,
    ErrorContext,
    ForbiddenError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RatePeriod,
    RequestTimeoutError,
    ServerError,
    UnauthorizedError,
    UnexpectedAnswerError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.limits import Endpoint

SUCCESS_CODES = frozenset({0, 200})
LIMIT_CODE = 300

ErrorFactory = Callable[[Endpoint, ErrorContext], AgoraError]


def _rate(period: RatePeriod) -> ErrorFactory:
    return lambda endpoint, ctx: RateLimitedError(endpoint, period=period, **ctx)


def _window(problem: WindowProblem) -> ErrorFactory:
    return lambda endpoint, ctx: WindowRejectedError(endpoint, problem=problem, **ctx)


def _plain(cls: type[AgoraError]) -> ErrorFactory:
    return lambda endpoint, ctx: cls(endpoint, **ctx)


def normalize_message(message: str) -> str:
    """Lower-case, punctuation to spaces, whitespace collapsed: ``" QPS-limit error."`` ->
    ``"qps limit error"``."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", message.lower()).split())


# Known ``code: 300`` messages, normalised; checked in this order.
_LIMIT_MESSAGES: tuple[tuple[str, ErrorFactory], ...] = (
    ("qps limit error", _rate("second")),
    ("qpm limit error", _rate("minute")),
    ("qpd limit error", _plain(DailyQuotaError)),
    ("query latency limit error", _window(WindowProblem.LATENCY)),
    ("query time range limit error", _window(WindowProblem.RANGE)),
    ("query time length limit error", _window(WindowProblem.LENGTH)),
    ("query duration limit error", _window(WindowProblem.DURATION)),
    ("you have no auth to access this service", _plain(NoAccessError)),
)

_BY_CODE: dict[int, type[AgoraError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    408: RequestTimeoutError,
    500: ServerError,
}


def _contains(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def limit_error(endpoint: Endpoint, message: str | None, ctx: ErrorContext) -> AgoraError:
    """The error for a ``code: 300`` body, chosen by its message."""
    text = normalize_message(message or "")
    for known, factory in _LIMIT_MESSAGES:
        if _contains(text, known):
            return factory(endpoint, ctx)
    return UnexpectedAnswerError(endpoint, detail="code 300 with an unknown message", **ctx)


def _rate_period_for(endpoint: Endpoint) -> RatePeriod:
    """The Call Inspector is rationed per second, the others per minute."""
    call_inspector = {Endpoint.CALL_LISTS, Endpoint.CALL_SESSIONS, Endpoint.CALL_METRICS}
    return "second" if endpoint in call_inspector else "minute"


def error_for_code(
    endpoint: Endpoint, code: int, message: str | None, ctx: ErrorContext
) -> AgoraError:
    """The error for a non-success ``code`` in a response body (or an HTTP status)."""
    if code == LIMIT_CODE:
        return limit_error(endpoint, message, ctx)
    if code == 429:
        return RateLimitedError(endpoint, period=_rate_period_for(endpoint), **ctx)
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(endpoint, **ctx)
    if 500 <= code <= 599:
        return ServerError(endpoint, **ctx)
    return UnexpectedAnswerError(endpoint, detail=f"unknown status code {code}", **ctx)


def error_for_status(endpoint: Endpoint, http_status: int, ctx: ErrorContext) -> AgoraError:
    """The error for a non-2xx HTTP status when the body adds nothing more specific."""
    if 400 <= http_status <= 499 and http_status not in _BY_CODE and http_status != 429:
        return BadRequestError(endpoint, detail=f"HTTP status {http_status}", **ctx)
    return error_for_code(endpoint, http_status, None, ctx)
