"""What each kind of Agora error does to the request that met it: one table, used once.

:func:`exporter.quota.send.send` applies the retries; the pollers apply the
pauses and statuses. Keyed by the error's :class:`~exporter.agora.RetryAction`,
which the client derives from the reference's status and message tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.agora import RetryAction

BACKOFF_S = (1.0, 3.0, 6.0)
"""Waits before the second, third and fourth try of a request that may succeed at once."""


@dataclass(frozen=True)
class ErrorRule:
    """What one kind of error does to the request that met it."""

    backoff: bool = False
    """Send again after each of BACKOFF_S (a server or transport fault)."""
    shrink: bool = False
    """Shrink the frame on the side the API complained of and send once more."""
    pause_s: float | None = None
    """How long the budget (or the app, with ``pauses_app``) is left alone."""
    pauses_app: bool = False
    """Refused credentials or access: the app's other requests wait too."""
    deferred: bool = False
    """A quota answer: the request was put off, not failed."""


ERROR_RULES: dict[RetryAction, ErrorRule] = {
    RetryAction.BACKOFF: ErrorRule(backoff=True),
    RetryAction.FIX_WINDOW: ErrorRule(shrink=True),
    RetryAction.NEXT_SLOT: ErrorRule(pause_s=60.0, deferred=True),
    RetryAction.NEXT_DAY: ErrorRule(pause_s=3600.0, deferred=True),
    RetryAction.STOP: ErrorRule(pause_s=300.0, pauses_app=True),
    RetryAction.NONE: ErrorRule(),
}
AUTH_PAUSE_S = 300.0
"""How long an app waits after its credentials or access were refused."""
