"""The plan's time checks on a query frame, with the service's exact messages.

From the reference's status-code table: the frame must end before ``now -
delay`` (latency), start after ``now - horizon`` (range) and be shorter than
the longest frame (length). Data Insights differs as the brief reads it: it
does not refuse a recent end but omits the points not yet published, and a
frame of exactly the longest length (7 days) is fine.

When several checks fail, the first in the order latency, range, length wins.
"""

from __future__ import annotations

from enum import Enum

from exporter.agora.limits import Limits

LATENCY_ERROR = "query latency limit error"
RANGE_ERROR = "query time range limit error"
LENGTH_ERROR = "query time length limit error"
NO_ACCESS_ERROR = (
    "you have no auth to access this service, please buy or upgrade your service package"
)


class TimeRule(Enum):
    """How strictly an endpoint family checks the frame."""

    STRICT = "strict"  # real-time and Call Inspector
    INSIGHT = "insight"


def check_frame(rule: TimeRule, limits: Limits, start: int, end: int, now: float) -> str | None:
    """The refusal message for a frame, or None when the plan allows it."""
    if rule is TimeRule.STRICT and end >= now - limits.delay_s:
        return LATENCY_ERROR
    if start <= now - limits.horizon_s:
        return RANGE_ERROR
    span = end - start
    too_long = span > limits.max_span_s if rule is TimeRule.INSIGHT else span >= limits.max_span_s
    return LENGTH_ERROR if too_long else None
