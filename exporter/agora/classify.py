"""Map what the API answered (HTTP status, body ``code`` and ``message``) to one error.

No I/O and no httpx: the client calls :func:`error_for_code` for a body that
carries an error code and :func:`error_for_status` for a non-2xx HTTP status
whose body says nothing more specific. The only side effect is one log line
the first time an answer the reference does not list is met.

The reference's status table decides the kind; Agora's retry guidance decides
what follows:

* ``300`` is always a limit error. The message says which limit (the
  reference's message table, plus ``qpm`` and ``query duration`` from Agora's
  other docs); any other message is an :class:`UnknownLimitError`, put off like
  a rate limit and never retried at once.
* ``400``, ``401``, ``403``, ``404`` have their own errors; ``429`` is a rate
  limit; every other ``4xx`` (in the body's ``code`` or as the HTTP status) is a
  :class:`ClientError`. No 4xx is retried at once.
* ``500`` and every other ``5xx`` are server errors, backed off 1, 3, 6 s.
* Any other code is an :class:`UnexpectedAnswerError`, backed off too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from exporter.agora.errors import (
    AgoraError,
    BadRequestError,
    ClientError,
    DailyQuotaError,
    ErrorContext,
    ForbiddenError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RatePeriod,
    ServerError,
    UnauthorizedError,
    UnexpectedAnswerError,
    UnknownLimitError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.limits import Endpoint

log = logging.getLogger(__name__)

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

# The reference's status table (and 500 for every 5xx).
_BY_CODE: dict[int, type[AgoraError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    500: ServerError,
}
RATE_LIMIT_STATUS = 429

_MAX_LOGGED = 256
"""At most this many distinct unknown answers are remembered (and logged once each)."""
_logged: set[tuple[str, int, str]] = set()
_logged_lock = threading.Lock()


def _contains(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def log_unknown_once(endpoint: Endpoint, code: int, message: str | None, outcome: str) -> bool:
    """Log an answer the reference does not list, with its text, the first time it is met.

    ``message`` is the API's text as the client keeps it (credentials redacted,
    one line, bounded). Returns True when this call logged it.
    """
    key = (endpoint.label, code, normalize_message(message or ""))
    with _logged_lock:
        if key in _logged or len(_logged) >= _MAX_LOGGED:
            return False
        _logged.add(key)
    log.warning(
        "the API gave an answer the reference does not list; logged once",
        extra={
            "endpoint": endpoint.label,
            "code": code,
            "api_message": message,
            "outcome": outcome,
        },
    )
    return True


def limit_error(endpoint: Endpoint, message: str | None, ctx: ErrorContext) -> AgoraError:
    """The error for a ``code: 300`` body, chosen by its message."""
    text = normalize_message(message or "")
    for known, factory in _LIMIT_MESSAGES:
        if _contains(text, known):
            return factory(endpoint, ctx)
    log_unknown_once(endpoint, LIMIT_CODE, message, UnknownLimitError.outcome)
    return UnknownLimitError(endpoint, detail="code 300 with an unknown message", **ctx)


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
    if code == RATE_LIMIT_STATUS:
        return RateLimitedError(endpoint, period=_rate_period_for(endpoint), **ctx)
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(endpoint, **ctx)
    if 500 <= code <= 599:
        return ServerError(endpoint, **ctx)
    unknown: type[AgoraError] = ClientError if 400 <= code <= 499 else UnexpectedAnswerError
    log_unknown_once(endpoint, code, message, unknown.outcome)
    return unknown(endpoint, detail=f"unknown status code {code}", **ctx)


def error_for_status(endpoint: Endpoint, http_status: int, ctx: ErrorContext) -> AgoraError:
    """The error for a non-2xx HTTP status when the body adds nothing more specific.

    The status is read as the body's ``code`` would be, so a 4xx is never retried
    whichever way it arrives; but an HTTP 3xx is a redirect, not the body's limit
    code 300.
    """
    message = ctx.get("api_message")
    if 300 <= http_status <= 399:
        log_unknown_once(endpoint, http_status, message, UnexpectedAnswerError.outcome)
        detail = f"HTTP status {http_status} (a redirect)"
        return UnexpectedAnswerError(endpoint, detail=detail, **ctx)
    return error_for_code(endpoint, http_status, message, ctx)
