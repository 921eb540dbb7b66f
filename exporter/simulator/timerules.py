"""The plan's time checks on a query frame, with the service's exact messages.

From the reference's message table, read as strictly as its "ensure that"
lines, for every endpoint family alike (real-time, Data Insights, the Call
Inspector):

* latency: ``end_ts < now - delay``, else ``query latency limit error``;
* range: ``start_ts > now - horizon``, else ``query time range limit error``;
* length: ``end_ts - start_ts < longest frame``, else ``query time length limit
  error``.

So a frame that ends at ``now`` (or in the future), or spans exactly the
longest frame, is refused. When several checks fail, the first in the order
latency, range, length wins.
"""

from __future__ import annotations

from exporter.agora.limits import Limits

LATENCY_ERROR = "query latency limit error"
RANGE_ERROR = "query time range limit error"
LENGTH_ERROR = "query time length limit error"
NO_ACCESS_ERROR = (
    "you have no auth to access this service, please buy or upgrade your service package"
)


def check_frame(limits: Limits, start: int, end: int, now: float) -> str | None:
    """The refusal message for a frame, or None when the plan allows it."""
    if not end < now - limits.delay_s:
        return LATENCY_ERROR
    if not start > now - limits.horizon_s:
        return RANGE_ERROR
    if not end - start < limits.max_span_s:
        return LENGTH_ERROR
    return None
