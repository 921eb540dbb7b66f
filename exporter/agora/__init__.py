"""The only code that speaks HTTP to the Agora Analytics REST API.

Other modules import from here, never from httpx: every failure arrives as one
:class:`AgoraError` subclass with an ``outcome`` label and a ``retry`` action.
"""

from exporter.agora.client import AgoraClient
from exporter.agora.errors import (
    ALL_OUTCOMES,
    OUTCOME_SUCCESS,
    AgoraError,
    BadRequestError,
    DailyQuotaError,
    ForbiddenError,
    InvalidResponseError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    RetryAction,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnexpectedAnswerError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.models import (
    CallListPage,
    CallSummary,
    InsightPoint,
    InsightResult,
    MetricSeries,
    RealtimeResult,
    RealtimeRow,
    RequestRecord,
    SessionInfo,
    SessionPage,
)

__all__ = [
    "ALL_OUTCOMES",
    "OUTCOME_SUCCESS",
    "AgoraClient",
    "AgoraError",
    "BadRequestError",
    "CallListPage",
    "CallSummary",
    "DailyQuotaError",
    "ForbiddenError",
    "InsightPoint",
    "InsightResult",
    "InvalidResponseError",
    "MetricSeries",
    "NoAccessError",
    "NotFoundError",
    "RateLimitedError",
    "RealtimeResult",
    "RealtimeRow",
    "RequestRecord",
    "RequestTimeoutError",
    "RetryAction",
    "ServerError",
    "SessionInfo",
    "SessionPage",
    "TransportError",
    "UnauthorizedError",
    "UnexpectedAnswerError",
    "WindowProblem",
    "WindowRejectedError",
]
