"""Agora's pricing plans and the API limits each one grants, as data.

Every number here is copied from the Analytics REST API reference (tables
"API limits" of the Call Inspector, Data Insights and Real-time Monitoring
sections). The exporter's planner and the embedded simulator both read this
table, so a change here changes what the simulator enforces too;
``tests/simulator/test_limits.py`` and ``tests/quota/test_rules.py`` pin the
values to the reference independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Budget(StrEnum):
    """A request budget: endpoints that are counted together against one limit.

    The reference does not say whether endpoints share limits; these are the
    conservative reading (docs/quota-and-replay.md): both real-time endpoints
    share one budget, each insight endpoint has its own, sessions and metrics
    share one.
    """

    REALTIME = "realtime"
    INSIGHT_USAGE = "insight_usage"
    INSIGHT_QUALITY = "insight_quality"
    CALL_LISTS = "call_lists"
    CALL_DETAILS = "call_details"


class Endpoint(StrEnum):
    """Every Analytics endpoint the exporter calls, by its path."""

    REALTIME_USAGE = "/beta/realtime/usage/by_time_20sec"
    REALTIME_QUALITY = "/beta/realtime/quality/by_time_20sec"
    INSIGHT_USAGE = "/beta/insight/usage/by_time"
    INSIGHT_QUALITY = "/beta/insight/quality/by_time"
    CALL_LISTS = "/beta/analytics/call/lists"
    CALL_SESSIONS = "/beta/analytics/call/sessions"
    CALL_METRICS = "/beta/analytics/call/metrics"

    @property
    def label(self) -> str:
        """Short name used as the ``endpoint`` label value."""
        return _ENDPOINT_LABELS[self]

    @property
    def budget(self) -> Budget:
        return ENDPOINT_BUDGET[self]


_ENDPOINT_LABELS = {
    Endpoint.REALTIME_USAGE: "realtime_usage",
    Endpoint.REALTIME_QUALITY: "realtime_quality",
    Endpoint.INSIGHT_USAGE: "insight_usage",
    Endpoint.INSIGHT_QUALITY: "insight_quality",
    Endpoint.CALL_LISTS: "call_lists",
    Endpoint.CALL_SESSIONS: "call_sessions",
    Endpoint.CALL_METRICS: "call_metrics",
}

ENDPOINT_BUDGET: dict[Endpoint, Budget] = {
    Endpoint.REALTIME_USAGE: Budget.REALTIME,
    Endpoint.REALTIME_QUALITY: Budget.REALTIME,
    Endpoint.INSIGHT_USAGE: Budget.INSIGHT_USAGE,
    Endpoint.INSIGHT_QUALITY: Budget.INSIGHT_QUALITY,
    Endpoint.CALL_LISTS: Budget.CALL_LISTS,
    Endpoint.CALL_SESSIONS: Budget.CALL_DETAILS,
    Endpoint.CALL_METRICS: Budget.CALL_DETAILS,
}


class Plan(StrEnum):
    STARTER = "starter"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


MINUTE = 60
HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class Limits:
    """What one plan allows on one budget.

    ``per_second`` is set for the Call Inspector (the reference rations it per
    second), ``per_minute`` for the real-time and insight endpoints.
    ``horizon_s`` is how far back data is available, ``max_span_s`` the longest
    query frame, ``delay_s`` how long after the fact data becomes available.
    """

    per_day: int
    horizon_s: int
    max_span_s: int
    delay_s: int
    per_minute: int | None = None
    per_second: int | None = None

    @property
    def minute_capacity(self) -> int:
        """Requests the plan allows in any 60 s, whichever way it is stated."""
        if self.per_minute is not None:
            return self.per_minute
        assert self.per_second is not None
        return self.per_second * MINUTE


_REALTIME = {
    Plan.PREMIUM: Limits(
        per_minute=3, per_day=480, horizon_s=40 * MINUTE, max_span_s=40 * MINUTE, delay_s=40
    ),
    Plan.ENTERPRISE: Limits(
        per_minute=10, per_day=1440, horizon_s=60 * MINUTE, max_span_s=60 * MINUTE, delay_s=20
    ),
}
_INSIGHT_USAGE = {
    Plan.PREMIUM: Limits(
        per_minute=3, per_day=40, horizon_s=14 * DAY, max_span_s=3 * DAY, delay_s=12 * HOUR
    ),
    Plan.ENTERPRISE: Limits(
        per_minute=10, per_day=60, horizon_s=30 * DAY, max_span_s=7 * DAY, delay_s=6 * HOUR
    ),
}
_INSIGHT_QUALITY = {
    Plan.PREMIUM: Limits(
        per_minute=3, per_day=40, horizon_s=14 * DAY, max_span_s=3 * DAY, delay_s=6 * HOUR
    ),
    Plan.ENTERPRISE: Limits(
        per_minute=10, per_day=60, horizon_s=30 * DAY, max_span_s=7 * DAY, delay_s=6 * HOUR
    ),
}
_CALL_LISTS = {
    Plan.STANDARD: Limits(
        per_second=1, per_day=1000, horizon_s=3 * DAY, max_span_s=8 * HOUR, delay_s=60
    ),
    Plan.PREMIUM: Limits(
        per_second=3, per_day=2000, horizon_s=7 * DAY, max_span_s=16 * HOUR, delay_s=60
    ),
    Plan.ENTERPRISE: Limits(
        per_second=10, per_day=10000, horizon_s=15 * DAY, max_span_s=24 * HOUR, delay_s=60
    ),
}
_CALL_DETAILS = {
    Plan.STANDARD: Limits(
        per_second=1, per_day=1000, horizon_s=1 * DAY, max_span_s=1 * HOUR, delay_s=300
    ),
    Plan.PREMIUM: Limits(
        per_second=3, per_day=2000, horizon_s=7 * DAY, max_span_s=3 * HOUR, delay_s=300
    ),
    Plan.ENTERPRISE: Limits(
        per_second=10, per_day=10000, horizon_s=15 * DAY, max_span_s=6 * HOUR, delay_s=300
    ),
}

PLAN_LIMITS: dict[Budget, dict[Plan, Limits]] = {
    Budget.REALTIME: _REALTIME,
    Budget.INSIGHT_USAGE: _INSIGHT_USAGE,
    Budget.INSIGHT_QUALITY: _INSIGHT_QUALITY,
    Budget.CALL_LISTS: _CALL_LISTS,
    Budget.CALL_DETAILS: _CALL_DETAILS,
}


def limits_for(plan: Plan, budget: Budget) -> Limits | None:
    """The plan's limits on a budget, or None when the plan has no access."""
    return PLAN_LIMITS[budget].get(plan)


def plans_with_access(budget: Budget) -> list[Plan]:
    """Plans that may call a budget's endpoints, cheapest first."""
    return [plan for plan in Plan if plan in PLAN_LIMITS[budget]]
