"""Call Inspector requests through the ledger: one method per request, retries included.

Every request is recorded in the store's ledger before it leaves, and waits
for a free slot under every limit of its budget (per second and per day); a
per-second slot is taken a little late on purpose, so that network jitter
cannot make two requests arrive inside one of the API's seconds. Server and
transport faults are retried after 1, 3 and 6 s. What ends a whole cycle (the
budget spent, a rate limit, refused credentials, the exporter stopping) raises
:class:`CycleStop`; any other failure raises the client's ``AgoraError`` for
the caller to skip that one call or search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from exporter.agora import (
    AgoraClient,
    AgoraError,
    CallListPage,
    MetricSeries,
    RetryAction,
    SessionPage,
)
from exporter.agora.limits import Budget, Endpoint, Limits
from exporter.calls.frames import Frame
from exporter.quota.ledger import Ledger, Sleep
from exporter.quota.retry import BACKOFF_S, PAUSE_S
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock

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

    def __init__(
        self,
        *,
        client: AgoraClient,
        store: Store,
        limits: Mapping[Budget, Limits],
        clock: Clock = system_clock,
        sleep: Sleep,
        stopping: threading.Event | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._limits = dict(limits)
        self._clock = clock
        self._sleep = sleep
        self._stopping = stopping or threading.Event()
        self._ledger = ledger or Ledger(store=store, clock=clock, sleep=sleep)
        self.sent = 0
        """Requests sent so far (for the ``calls`` command's summary)."""

    def set_limits(self, limits: Mapping[Budget, Limits]) -> None:
        self._limits = dict(limits)

    def set_client(self, client: AgoraClient) -> None:
        self._client = client

    def list_page(self, appid: str, cname: str | None, frame: Frame, page_no: int) -> CallListPage:
        return self._send(
            Endpoint.CALL_LISTS,
            lambda: self._client.call_lists(
                appid=appid,
                start_ts=frame.start,
                end_ts=frame.end,
                cname=cname,
                page_no=page_no,
                page_size=100,
            ),
        )

    def session_page(
        self, appid: str, call_id: str, frame: Frame, page_no: int, page_size: int
    ) -> SessionPage:
        return self._send(
            Endpoint.CALL_SESSIONS,
            lambda: self._client.call_sessions(
                appid=appid,
                call_id=call_id,
                start_ts=frame.start,
                end_ts=frame.end,
                page_no=page_no,
                page_size=page_size,
                exclude_server_user=True,
            ),
        )

    def metrics(
        self, appid: str, call_id: str, frame: Frame, sids: Sequence[str]
    ) -> list[MetricSeries]:
        return self._send(
            Endpoint.CALL_METRICS,
            lambda: self._client.call_metrics(
                appid=appid, call_id=call_id, start_ts=frame.start, end_ts=frame.end, sids=sids
            ),
        )

    def _send(self, endpoint: Endpoint, request: Callable[[], _T]) -> _T:
        backoffs = list(BACKOFF_S)
        while True:
            self._take_slot(endpoint)
            try:
                return request()
            except AgoraError as error:
                if error.retry is RetryAction.BACKOFF and backoffs:
                    if not self._sleep(backoffs.pop(0)):
                        raise CycleStop("the exporter is stopping", outcome="stopping") from error
                    continue
                pause = PAUSE_S.get(error.retry)
                if pause is not None:
                    retry_at = self._clock() + pause
                    raise CycleStop(str(error), outcome=error.outcome, retry_at=retry_at) from error
                raise

    def _take_slot(self, endpoint: Endpoint) -> None:
        """Record the request in the ledger once every limit allows it, or raise CycleStop."""
        budget = endpoint.budget
        if self._stopping.is_set():
            raise CycleStop("the exporter is stopping", outcome="stopping")
        slot = self._ledger.take(
            budget, endpoint.label, self._limits[budget], max_wait_s=MAX_SLOT_WAIT_S
        )
        if slot is None:
            self.sent += 1
            return
        if self._stopping.is_set():
            raise CycleStop("the exporter is stopping", outcome="stopping")
        wait = slot - self._clock()
        raise CycleStop(
            f"the {budget} budget allows no request before {slot:.0f} ({wait:.0f} s from now)",
            outcome="quota_exhausted",
            retry_at=slot,
        )
