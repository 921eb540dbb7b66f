"""Every request the simulator saw and what it answered, for tests to inspect."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from exporter.simulator.answers import Answer
from exporter.simulator.faults import Fault


@dataclass(frozen=True)
class RequestLogEntry:
    """One request: its path and query, the answer's HTTP status and body code.

    ``success`` is true for a genuine answer with data (HTTP 200 and body code
    200, 0, or none at all); ``fault`` names the fault injected, if any.
    """

    path: str
    params: dict[str, str]
    http_status: int
    body_code: int | None
    message: str | None
    at: float
    success: bool = False
    fault: Fault | None = None


class RequestLog:
    """An append-only, thread-safe list of :class:`RequestLogEntry`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RequestLogEntry] = []

    def record(
        self, path: str, params: dict[str, str], answer: Answer, at: float, fault: Fault | None
    ) -> RequestLogEntry:
        entry = RequestLogEntry(
            path,
            dict(params),
            answer.status,
            answer.body_code,
            answer.message,
            at,
            answer.success,
            fault,
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self) -> list[RequestLogEntry]:
        """A snapshot of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
