"""Call Inspector requests through the ledger: one method per request, retries included.

Every request is recorded in the store's ledger before it leaves, and waits
for a free slot under every limit of its budget (per second and per day); a
per-second slot is taken a little late on purpose, so that network jitter
cannot make two requests arrive inside one of the API's seconds. Server and
transport faults are retried after 1, 3 and 6 s; a frame the API refuses is
shrunk once and sent again (``shrink``: the first request of a search or of a
call's details, whose frame the later ones keep), as the real-time poller
does; each method returns its answer with the frame it answers. What ends a
whole cycle (the budget spent, a rate limit, refused credentials, the exporter
stopping) raises :class:`CycleStop`; any other failure raises the client's
``AgoraError`` for the caller to skip that one call or search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

from exporter.agora import CallListPage, MetricSeries, SessionPage
from exporter.agora.limits import Budget, Endpoint, Limits
from exporter.calls.frames import Frame, shrink_frame
from exporter.quota.context import PollContext
from exporter.quota.send import Request, Verdict, send

MAX_SLOT_WAIT_S = 10.0
"""Wait this long at most for the ledger; longer means the day's budget is spent."""

_T = TypeVar("_T")


class CycleStop(Exception):  # noqa: N818 - a control-flow signal, not an error of the caller
    """The cycle must end now; ``retry_at`` says when the budget or API allows more."""

    def __init__(self, message: str, *, outcome: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.retry_at = retry_at


class CallFetcher:
    """Sends Call Inspector requests inside the ledger; thread-safe."""

    def __init__(self, context: PollContext) -> None:
        self._context = context
        self.sent = 0
        """Requests sent so far (for the ``calls`` command's summary)."""

    def set_limits(self, limits: Mapping[Budget, Limits]) -> None:
        """Adopt the limits of a reloaded plan (shared with every user of the context)."""
        self._context.set_limits(limits)

    def list_page(
        self, appid: str, cname: str | None, frame: Frame, page_no: int, *, shrink: bool = True
    ) -> tuple[CallListPage, Frame]:
        return self._send(
            Endpoint.CALL_LISTS,
            f"call search of {appid} page {page_no}",
            frame,
            lambda asked: self._context.client.call_lists(
                appid=appid,
                start_ts=asked.start,
                end_ts=asked.end,
                cname=cname,
                page_no=page_no,
                page_size=100,
            ),
            shrink=shrink,
        )

    def session_page(
        self,
        appid: str,
        call_id: str,
        frame: Frame,
        page_no: int,
        page_size: int,
        *,
        shrink: bool = True,
    ) -> tuple[SessionPage, Frame]:
        return self._send(
            Endpoint.CALL_SESSIONS,
            f"sessions of call {call_id} page {page_no}",
            frame,
            lambda asked: self._context.client.call_sessions(
                appid=appid,
                call_id=call_id,
                start_ts=asked.start,
                end_ts=asked.end,
                page_no=page_no,
                page_size=page_size,
                exclude_server_user=True,
            ),
            shrink=shrink,
        )

    def metrics(
        self, appid: str, call_id: str, frame: Frame, sids: Sequence[str]
    ) -> tuple[list[MetricSeries], Frame]:
        """A call's metrics over the frame its sessions request was answered for (kept)."""
        return self._send(
            Endpoint.CALL_METRICS,
            f"metrics of call {call_id}",
            frame,
            lambda asked: self._context.client.call_metrics(
                appid=appid, call_id=call_id, start_ts=asked.start, end_ts=asked.end, sids=sids
            ),
            shrink=False,
        )

    def _send(
        self,
        endpoint: Endpoint,
        describe: str,
        frame: Frame,
        call: Callable[[Frame], _T],
        *,
        shrink: bool,
    ) -> tuple[_T, Frame]:
        """The answer and the frame it answers (``frame``, or smaller when the API refused
        it and ``shrink`` allows one smaller try), or CycleStop when the cycle must end,
        or the AgoraError to skip on."""
        request: Request[Frame, _T] = Request(
            budget=endpoint.budget,
            label=endpoint.label,
            frame=frame,
            call=call,
            describe=describe,
            max_wait_s=MAX_SLOT_WAIT_S,
            shrink=shrink_frame if shrink else None,
        )
        sent = send(self._context, request)
        self.sent += sent.requests
        if sent.verdict is Verdict.ANSWERED:
            return cast(_T, sent.answer), sent.frame
        if sent.verdict is Verdict.STOPPING:
            raise CycleStop("the exporter is stopping", outcome="stopping")
        if sent.error is None:
            wait = (sent.retry_at or 0.0) - self._context.clock()
            raise CycleStop(
                f"the {endpoint.budget} budget allows no request before "
                f"{sent.retry_at:.0f} ({wait:.0f} s from now)",
                outcome="quota_exhausted",
                retry_at=sent.retry_at,
            )
        if sent.rule.pause_s is not None:
            raise CycleStop(
                str(sent.error), outcome=sent.error.outcome, retry_at=sent.retry_at
            ) from sent.error
        raise sent.error
