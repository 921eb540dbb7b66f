"""Forwarding: one thread per Alertmanager posts what is due and retries until it is taken.

As Prometheus does, every alert still within its hold is re-sent every
``RESEND_INTERVAL_S`` with the same ``endsAt``, so an Alertmanager that
restarted or joined later learns it again; a new trigger is sent at once.
A failed post (refused, timeout, any non-2xx answer) is counted and retried
after 1, 2, 5, 10, 30, then every 60 seconds; nothing leaves the queue until
an Alertmanager took it. HTTP here is the standard library's: httpx is the
Agora client's alone.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from exporter.console.labels import postable
from exporter.console.queue import AlertQueue, Delivery, QueueError
from exporter.console.stats import ConsoleStats
from exporter.timing.clock import Clock

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"
RETRY_SCHEDULE_S: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
RESEND_INTERVAL_S = 60.0
POST_TIMEOUT_S = 10.0
MAX_BATCH = 500


class ForwardError(Exception):
    """A post did not reach the Alertmanager or was not taken."""


@dataclass(frozen=True)
class Target:
    """An Alertmanager: ``label`` is its URL without credentials (metrics, logs, queue)."""

    label: str
    endpoint: str
    authorization: str | None = None

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        label = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        return cls(label, label + API_PATH, authorization)


Send = Callable[[Target, bytes], None]


def post_alerts(target: Target, body: bytes, *, timeout_s: float = POST_TIMEOUT_S) -> None:
    """``POST /api/v2/alerts``; raises :class:`ForwardError` unless the answer is 2xx."""
    headers = {"Content-Type": "application/json", "User-Agent": "agora-exporter"}
    if target.authorization is not None:
        headers["Authorization"] = target.authorization
    request = urllib.request.Request(target.endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        text = error.read(200).decode("utf-8", "replace").strip()
        raise ForwardError(f"HTTP {error.code}: {text}") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ForwardError(str(reason) or type(error).__name__) from None


class TargetForwarder:
    """Sends the queue's alerts to one Alertmanager, in a daemon thread."""

    def __init__(
        self,
        target: Target,
        queue: AlertQueue,
        stats: ConsoleStats,
        *,
        hold_s: Callable[[], float],
        clock: Clock,
        send: Send = post_alerts,
        retry_schedule_s: Sequence[float] = RETRY_SCHEDULE_S,
        resend_interval_s: float = RESEND_INTERVAL_S,
    ) -> None:
        self.target = target
        self._queue, self._stats, self._hold_s, self._clock = queue, stats, hold_s, clock
        self._send = send
        self._retry_schedule_s = tuple(retry_schedule_s)
        self._resend_interval_s = resend_interval_s
        self._next_resend = 0.0
        self._failures = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Send what is due now (a new alert arrived)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"console-forward {self.target.label}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the post under way (if any); :meth:`join` waits for it."""
        self._stopping.set()
        self._wake.set()

    def join(self, timeout_s: float = POST_TIMEOUT_S + 1) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def stop(self) -> None:
        self.request_stop()
        self.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                ok = self.send_due()
            except Exception:  # a broken forwarder must not die silently: log and retry
                log.exception(
                    "forwarding console alerts failed", extra={"alertmanager": self.target.label}
                )
                ok = False
            wait = self._retry_wait() if not ok else self._next_resend - self._clock()
            self._wake.wait(max(0.0, wait))
            self._wake.clear()

    def _retry_wait(self) -> float:
        index = min(max(self._failures, 1), len(self._retry_schedule_s)) - 1
        return self._retry_schedule_s[index]

    def send_due(self) -> bool:
        """One round: post what is due; True when all of it was taken (or nothing was due)."""
        now = self._clock()
        resend = now >= self._next_resend
        try:
            if resend:  # once a minute: drop what can no longer matter
                self._queue.prune(now=now)
            due = self._queue.due(self.target.label, now=now, resend=resend, hold_s=self._hold_s())
        except QueueError as error:
            log.error("reading the console alert queue failed", extra={"error": str(error)})
            return False
        for start in range(0, len(due), MAX_BATCH):
            if not self._post(due[start : start + MAX_BATCH]):
                return False
        if resend:
            self._next_resend = now + self._resend_interval_s
        return True

    def _post(self, batch: list[Delivery]) -> bool:
        body = json.dumps([postable(one.alert, one.ends_at) for one in batch]).encode()
        try:
            self._send(self.target, body)
        except ForwardError as error:
            self._stats.failed(self.target.label)
            self._failures += 1
            if self._failures == 1:
                log.warning(
                    "an Alertmanager did not take console alerts; retrying",
                    extra={
                        "alertmanager": self.target.label,
                        "error": str(error),
                        "alerts": len(batch),
                    },
                )
            return False
        self._stats.forwarded(self.target.label, len(batch))
        if self._failures:
            log.info(
                "an Alertmanager takes console alerts again",
                extra={"alertmanager": self.target.label},
            )
            self._failures = 0
        try:
            self._queue.delivered(self.target.label, batch)
        except QueueError as error:  # sent again next round: Alertmanager merges repeats
            log.error("marking console alerts delivered failed", extra={"error": str(error)})
            return False
        return True
