"""Fault injection: what the next requests get instead of (or on top of) a real answer.

Three families, told apart by :attr:`Fault.family`:

* transport and gateway faults (``HTML_500``, ``RESET``, ``CODE_300``, ...) are
  answered before authentication and quota: the request never reaches the
  service, so it is not counted;
* ``SLOW`` only delays: after ``delay_s`` the request goes through the whole
  pipeline and gets a real answer (counted like any other);
* data faults (``NAN_VALUES``, ``WRONG_TYPES``, ...) go through the pipeline and
  alter the genuine answer's data; they are used up even when that answer is
  an error, which they then leave alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """Every fault the simulator can inject."""

    HTML_500 = "html_500"  # HTTP 500 with an nginx HTML page
    SLOW = "slow"  # a real answer, after delay_s
    TRUNCATED_JSON = "truncated_json"  # HTTP 200, valid framing, JSON cut short
    MALFORMED_JSON = "malformed_json"  # HTTP 200, not JSON at all
    WRONG_SHAPE = "wrong_shape"  # HTTP 200, JSON whose data is an object
    WRONG_TYPES = "wrong_types"  # genuine data, numbers as strings
    RESET = "reset"  # headers and half the body, then a TCP reset
    DROP = "drop"  # connection closed without any answer
    EMPTY_BODY = "empty_body"  # HTTP 200, Content-Length 0
    HTTP_STATUS = "http_status"  # any HTTP status (default 503), plain text
    CODE_300 = "code_300"  # HTTP 200, body code 300 with ``message``
    BODY_CODE = "body_code"  # HTTP 200, body code ``code`` (default 422) with ``message``
    UNKNOWN_ERROR = "unknown_error"  # HTTP 200, body code 500 "Unknown Error"
    NAN_VALUES = "nan_values"  # genuine data, every second value NaN
    DUPLICATE_WINDOWS = "duplicate_windows"  # genuine data, every row twice
    OUT_OF_ORDER = "out_of_order"  # genuine data, rows reversed
    NO_CODE = "no_code"  # genuine data, no code or message (still a success)
    NULL_MESSAGE = "null_message"  # genuine data, message null (still a success)

    @property
    def family(self) -> str:
        """``early`` (before auth), ``delay`` or ``data`` (alters a real answer)."""
        if self is Fault.SLOW:
            return "delay"
        return "data" if self in _DATA_FAULTS else "early"


_DATA_FAULTS = frozenset(
    {
        Fault.WRONG_TYPES,
        Fault.NAN_VALUES,
        Fault.DUPLICATE_WINDOWS,
        Fault.OUT_OF_ORDER,
        Fault.NO_CODE,
        Fault.NULL_MESSAGE,
    }
)


@dataclass(frozen=True)
class FaultSpec:
    """One fault with its settings, as handed to a request."""

    fault: Fault
    delay_s: float = 2.0
    http_status: int = 503
    message: str = "qps limit error"
    path: str | None = None
    code: int = 422

    def applies_to(self, path: str) -> bool:
        return self.path is None or self.path == path


@dataclass
class _Queued:
    spec: FaultSpec
    left: int


@dataclass
class _Periodic:
    every: int
    spec: FaultSpec
    seen: int = 0


class FaultInjector:
    """Queued (``inject``) and periodic (``every``) faults; thread-safe.

    ``path`` restricts a fault to requests for one endpoint path; requests to
    other paths neither get it nor use it up. Queued faults go first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._periodic: list[_Periodic] = []

    def inject(
        self,
        fault: Fault | str,
        times: int = 1,
        *,
        delay_s: float = 2.0,
        http_status: int = 503,
        message: str = "qps limit error",
        path: str | None = None,
        code: int = 422,
    ) -> None:
        """Give the fault to the next ``times`` requests (for ``path``, if given)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        spec = FaultSpec(Fault(fault), delay_s, http_status, message, path, code)
        with self._lock:
            self._queue.append(_Queued(spec, times))

    def every(
        self,
        n: int,
        fault: Fault | str,
        *,
        delay_s: float = 2.0,
        http_status: int = 503,
        message: str = "qps limit error",
        path: str | None = None,
        code: int = 422,
    ) -> None:
        """Give the fault to every ``n``-th request from now on (the n-th, 2n-th, ...)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        spec = FaultSpec(Fault(fault), delay_s, http_status, message, path, code)
        with self._lock:
            self._periodic.append(_Periodic(n, spec))

    def clear(self) -> None:
        """Forget every queued and periodic fault."""
        with self._lock:
            self._queue.clear()
            self._periodic.clear()

    def pending(self) -> int:
        """Queued fault uses left (periodic ones not included)."""
        with self._lock:
            return sum(q.left for q in self._queue)

    def take(self, path: str) -> FaultSpec | None:
        """The fault for a request to ``path``, using it up; None for a clean answer."""
        with self._lock:
            chosen: FaultSpec | None = None
            for queued in self._queue:
                if queued.spec.applies_to(path):
                    queued.left -= 1
                    chosen = queued.spec
                    break
            self._queue = [q for q in self._queue if q.left > 0]
            for periodic in self._periodic:
                if periodic.spec.applies_to(path):
                    periodic.seen += 1
                    if chosen is None and periodic.seen % periodic.every == 0:
                        chosen = periodic.spec
            return chosen
