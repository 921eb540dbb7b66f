"""What every poller works with: one context of shared collaborators, and a poll's status.

The real-time and insight pollers, the Call Inspector and ``backfill --fetch``
all send through :func:`exporter.quota.send.send` with one :class:`PollContext`
(the client, the store, the one ledger of the process, the statistics, the
limits in force, the clock, the sleep and the stop signal), built once by the
composition root. :class:`SeriesPoller` adds what the two series pollers share:
app pauses after refused credentials and one way to settle a refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from exporter.agora import AgoraClient, RequestRecord
from exporter.agora.limits import Budget, Limits
from exporter.quota.ledger import Ledger, Sleep, make_sleep
from exporter.quota.request_stats import RuntimeStats
from exporter.settings import AgoraSettings
from exporter.store import Store
from exporter.timing.clock import Clock, system_clock


@dataclass
class PollContext:
    """The collaborators every request needs; ``limits`` changes on reload, for every poller."""

    client: AgoraClient
    store: Store
    ledger: Ledger
    stats: RuntimeStats
    limits: dict[Budget, Limits]
    clock: Clock
    sleep: Sleep
    """Waits; returns False once ``stopping`` is set."""
    stopping: threading.Event

    @classmethod
    def build(
        cls,
        *,
        client: AgoraClient,
        store: Store,
        limits: Mapping[Budget, Limits],
        stats: RuntimeStats | None = None,
        clock: Clock = system_clock,
        sleep: Sleep | None = None,
        stopping: threading.Event | None = None,
        ledger: Ledger | None = None,
    ) -> PollContext:
        """A context with production defaults for whatever the caller leaves out."""
        stopping = stopping or threading.Event()
        sleep = sleep or make_sleep(stopping)
        return cls(
            client=client,
            store=store,
            ledger=ledger or Ledger(store=store, clock=clock, sleep=sleep),
            stats=stats or RuntimeStats(),
            limits=dict(limits),
            clock=clock,
            sleep=sleep,
            stopping=stopping,
        )

    def set_limits(self, limits: Mapping[Budget, Limits]) -> None:
        """Adopt reloaded limits for the budgets given (each poller passes its own)."""
        self.limits = {**self.limits, **limits}


def agora_client(
    agora: AgoraSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    on_request: Callable[[RequestRecord], None] | None = None,
) -> AgoraClient:
    """The client for the configured account (the daemon's, or a command's own)."""
    return AgoraClient(
        base_url=agora.base_url,
        customer_id=agora.customer_id,
        customer_secret=agora.customer_secret,
        timeout_s=agora.timeout_s,
        transport=transport,
        on_request=on_request,
    )
