"""The one request path: every request to Agora leaves through :func:`send`.

The real-time and insight pollers, the Call Inspector and ``backfill --fetch``
each describe a request (its budget, its frame, how to send it, how to shrink
a frame the API refused) and get back what happened as a :class:`Sent`; each
maps that to its own result. What an error does is decided once, in
:data:`ERROR_RULES`, by the error's :class:`~exporter.agora.RetryAction`:

=============  ======================================  ===========================
retry action   what ``send`` does                      what the caller is told
=============  ======================================  ===========================
BACKOFF        waits 1, 3, 6 s and sends again         REFUSED when the tries run out
FIX_WINDOW     shrinks the frame once and sends again  REFUSED when it cannot shrink
NEXT_SLOT      nothing more                            REFUSED, deferred, retry in 60 s
NEXT_DAY       nothing more                            REFUSED, deferred, retry in 1 h
STOP           nothing more                            REFUSED, pause the app 5 min
NONE           nothing more                            REFUSED (the request is wrong)
=============  ======================================  ===========================

Before every try the ledger records the request (or says when a slot frees),
so retries count against the quota like first tries, and a crash right after
a request left still counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from exporter.agora import AgoraError
from exporter.agora.limits import Budget
from exporter.quota.context import PollContext
from exporter.quota.error_rules import BACKOFF_S, ERROR_RULES, ErrorRule

log = logging.getLogger(__name__)

F = TypeVar("F")
T = TypeVar("T")


class Verdict(StrEnum):
    """How a :func:`send` ended."""

    ANSWERED = "answered"
    """The API answered; ``Sent.answer`` holds the parsed answer."""
    NO_SLOT = "no_slot"
    """The ledger has no slot within the request's wait; ``retry_at`` says when."""
    STOPPING = "stopping"
    """The daemon is stopping: no (further) request left."""
    REFUSED = "refused"
    """The API refused, after every retry its rule allows; ``error`` says why."""
    SPENT = "spent"
    """The request's own ``allowance`` is spent (backfills stay inside what the plan leaves)."""


@dataclass(frozen=True)
class Request(Generic[F, T]):
    """One request as its caller describes it; ``send`` does the rest."""

    budget: Budget
    label: str
    """What the ledger records as the endpoint (``backfill:`` prefixed for backfills)."""
    frame: F
    """What the request asks for; ``shrink`` may replace it after a refusal."""
    call: Callable[[F], T]
    """Sends the request for a frame (through the Agora client) and returns its answer."""
    describe: str
    max_wait_s: float
    """Wait at most this long for a ledger slot."""
    shrink: Callable[[AgoraError, F], F | None] | None = None
    retry_once: Callable[[AgoraError], bool] | None = None
    """Asked first after any error: True when the caller changed what ``call`` sends
    (e.g. another spelling of a metric) and wants exactly one more try."""
    refresh: Callable[[F], F] | None = None
    """Asked once a slot is taken, before each try: the frame as it may leave now (a
    wait may have moved the API's horizon past its oldest part)."""
    on_wait: Callable[[float], None] | None = None
    allowance: int | None = None
    """At most this many requests may leave, retries included (None: as the ledger allows)."""


@dataclass(frozen=True)
class Sent(Generic[F, T]):
    """What :func:`send` did: the verdict, the frame last sent, the answer or the error."""

    verdict: Verdict
    frame: F
    answer: T | None = None
    error: AgoraError | None = None
    retry_at: float | None = None
    requests: int = 0
    """Requests that left (each recorded in the ledger)."""

    @property
    def rule(self) -> ErrorRule:
        return ERROR_RULES[self.error.retry] if self.error is not None else ErrorRule()


@dataclass
class _Tries(Generic[F]):
    frame: F
    backoffs: list[float]
    shrunk: bool = False
    retried: bool = False
    requests: int = 0


def send(context: PollContext, request: Request[F, T]) -> Sent[F, T]:
    """Send ``request`` inside the ledger, retrying as its errors' rules say; never raises
    an ``AgoraError`` (other exceptions, bugs, are the caller's to contain)."""
    tries = _Tries(frame=request.frame, backoffs=list(BACKOFF_S))
    while True:
        if context.stopping.is_set():
            return Sent(Verdict.STOPPING, tries.frame, requests=tries.requests)
        if request.allowance is not None and tries.requests >= request.allowance:
            return Sent(Verdict.SPENT, tries.frame, requests=tries.requests)
        slot = context.ledger.take(
            request.budget,
            request.label,
            context.limits[request.budget],
            max_wait_s=request.max_wait_s,
            on_wait=request.on_wait,
        )
        if slot is not None:
            verdict = Verdict.STOPPING if context.stopping.is_set() else Verdict.NO_SLOT
            return Sent(verdict, tries.frame, retry_at=slot, requests=tries.requests)
        tries.requests += 1
        if request.refresh is not None:
            tries.frame = request.refresh(tries.frame)
        try:
            answer = request.call(tries.frame)
        except AgoraError as error:
            if _try_again(context, request, tries, error):
                continue
            pause = ERROR_RULES[error.retry].pause_s
            retry_at = None if pause is None else context.clock() + pause
            return Sent(
                Verdict.REFUSED,
                tries.frame,
                error=error,
                retry_at=retry_at,
                requests=tries.requests,
            )
        return Sent(Verdict.ANSWERED, tries.frame, answer=answer, requests=tries.requests)


def _try_again(
    context: PollContext, request: Request[F, T], tries: _Tries[F], error: AgoraError
) -> bool:
    """Whether the rules allow another try after ``error`` (waiting or shrinking first)."""
    if request.retry_once is not None and not tries.retried and request.retry_once(error):
        tries.retried = True
        return True
    rule = ERROR_RULES[error.retry]
    if rule.backoff and tries.backoffs:
        wait = tries.backoffs.pop(0)
        log.info(
            "request failed; retrying after a pause",
            extra={
                "request": request.describe,
                "endpoint": request.label,
                "outcome": error.outcome,
                "error": str(error),
                "retry_in_s": wait,
            },
        )
        return context.sleep(wait)
    if rule.shrink and not tries.shrunk and request.shrink is not None:
        smaller = request.shrink(error, tries.frame)
        if smaller is not None:
            tries.frame, tries.shrunk = smaller, True
            return True
    return False
