"""What the real-time and insight pollers share: a poll's status, app pauses, refusals.

Both poll series on a schedule through :func:`exporter.quota.send.send`; this
base turns what ``send`` did into a status the scheduler acts on, pauses an app
whose credentials were refused, and counts every poll for the status page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from exporter.agora import AgoraError
from exporter.agora.limits import Budget, Limits
from exporter.quota.context import PollContext
from exporter.quota.error_rules import ERROR_RULES
from exporter.quota.send import Sent, Verdict

log = logging.getLogger(__name__)

Unanswered = tuple["PollStatus", float | None, str | None]
"""A poll that got no answer: its status, when to retry, and the error text."""


class PollStatus(StrEnum):
    """How one poll of a series ended."""

    FETCHED = "fetched"
    NOTHING_DUE = "nothing_due"
    DEFERRED = "deferred"
    """Quota (the ledger's or the API's) put it off; ``retry_at`` says until when."""
    FAILED = "failed"
    PAUSED = "paused"
    """The app is paused after refused credentials."""


class SeriesPoller:
    """The shared part of the real-time and insight pollers: pauses and refusals."""

    def __init__(self, context: PollContext) -> None:
        self._context = context
        self._paused_until: dict[str, float] = {}

    def set_limits(self, limits: Mapping[Budget, Limits]) -> None:
        """Adopt the limits of a reloaded plan (shared with every user of the context)."""
        self._context.set_limits(limits)

    def clear_pauses(self) -> None:
        """End every app's pause after refused credentials (new ones were loaded)."""
        self._paused_until.clear()

    def _paused(self, appid: str, now: float) -> float | None:
        """Until when ``appid`` is paused, or None."""
        until = self._paused_until.get(appid, 0.0)
        return until if now < until else None

    def _record(
        self, key: str, appid: str, outcome: str, error: str | None = None, at: float | None = None
    ) -> None:
        """One finished poll, for the self-metrics and the status page (``at``: now)."""
        when = self._context.clock() if at is None else at
        self._context.stats.record_poll(
            series_key=key, appid=appid, at=when, outcome=outcome, error=error
        )

    def _succeeded(self, key: str, appid: str) -> None:
        self._paused_until.pop(appid, None)
        self._record(key, appid, "success")

    def _refused(
        self, key: str, appid: str, describe: str, error: AgoraError, retry_at: float | None
    ) -> PollStatus:
        """Log, count and pause for a refusal; the status it gives the poll."""
        rule = ERROR_RULES[error.retry]
        if rule.pauses_app and retry_at is not None:
            self._paused_until[appid] = retry_at
            log.error(
                "the API refused the poll; pausing this app",
                extra={
                    "series": key,
                    "appid": appid,
                    "outcome": error.outcome,
                    "error": str(error),
                    "pause_s": rule.pause_s,
                },
            )
        else:
            log.warning(
                "the API refused the poll",
                extra={
                    "series": key,
                    "appid": appid,
                    "outcome": error.outcome,
                    "error": str(error),
                },
            )
        self._record(key, appid, error.outcome, str(error))
        return PollStatus.DEFERRED if rule.deferred else PollStatus.FAILED

    def _unanswered(self, key: str, appid: str, describe: str, sent: Sent[Any, Any]) -> Unanswered:
        """The status, retry time and error text of a poll that got no answer."""
        if sent.verdict is Verdict.REFUSED and sent.error is not None:
            status = self._refused(key, appid, describe, sent.error, sent.retry_at)
            return status, sent.retry_at, str(sent.error)
        if sent.verdict is Verdict.STOPPING:  # shutting down: no new request leaves
            return PollStatus.DEFERRED, None, "the exporter is stopping"
        return PollStatus.DEFERRED, sent.retry_at, None
