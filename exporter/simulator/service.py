"""The service behind the HTTP plumbing: checks in the real service's order, then data.

Order: path (404) -> credentials (401) -> appid (403) -> parameters (400) ->
plan access (300 "no auth") -> quota (300 qps/qpm/qpd) -> the plan's time
checks (300 latency/range/length, the same strict reading for every endpoint
family: :mod:`timerules`) -> data. Requests refused before the quota
check, and by it, are not counted; requests refused by the time checks are
(they reached the service, which is the conservative assumption for a client
planning its budget). Every answer carries an ``X-Request-ID`` header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from exporter.agora.limits import Endpoint
from exporter.simulator import endpoints
from exporter.simulator.answers import Answer, Body, error_answer
from exporter.simulator.params import (
    BadRequestError,
    CallListQuery,
    InsightQuery,
    MetricsQuery,
    Params,
    Query,
    RealtimeQuery,
    SessionsQuery,
    parse_call_lists,
    parse_insight_quality,
    parse_insight_usage,
    parse_metrics,
    parse_realtime_quality,
    parse_realtime_usage,
    parse_sessions,
)
from exporter.simulator.prng import hex_id
from exporter.simulator.quota import LimitTable, QuotaCounter
from exporter.simulator.timerules import NO_ACCESS_ERROR, check_frame
from exporter.simulator.traffic import TrafficModel

NOT_FOUND = "Wrong API invoked"
UNAUTHORIZED = "Invalid authentication credentials"
FORBIDDEN = "Wrong authorization information. The request is forbidden."


@dataclass(frozen=True)
class ServiceOptions:
    """The knobs of the fake service that are not plan limits."""

    customer_id: str | None = None
    customer_secret: str | None = None
    known_appids: frozenset[str] | None = None
    peak_spelling: str = "both"
    call_success_code: int = 200
    call_list_cap: int = 1000


@dataclass(frozen=True)
class _Route:
    endpoint: Endpoint
    parse: Callable[[Params], Query]
    answer: Callable[[Query, float, str], Body]


class AnalyticsService:
    """Answers one request at a time (thread-safe: many threads call ``handle``)."""

    def __init__(
        self,
        traffic: TrafficModel,
        limits: LimitTable,
        quota: QuotaCounter,
        options: ServiceOptions,
    ) -> None:
        self.traffic = traffic
        self.limits = limits
        self.quota = quota
        self.options = options
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        routes = [
            _Route(Endpoint.REALTIME_USAGE, parse_realtime_usage, self._realtime),
            _Route(Endpoint.REALTIME_QUALITY, parse_realtime_quality, self._realtime),
            _Route(Endpoint.INSIGHT_USAGE, self._parse_usage, self._insight),
            _Route(Endpoint.INSIGHT_QUALITY, parse_insight_quality, self._insight),
            _Route(Endpoint.CALL_LISTS, parse_call_lists, self._call_lists),
            _Route(Endpoint.CALL_SESSIONS, parse_sessions, self._sessions),
            _Route(Endpoint.CALL_METRICS, parse_metrics, self._metrics),
        ]
        self._routes = {route.endpoint.value: route for route in routes}

    def handle(
        self, path: str, params: Mapping[str, str], authorization: str | None, now: float
    ) -> Answer:
        """The answer to ``GET path?params``."""
        request_id = self._request_id()
        answer = self._answer(path, params, authorization, now, request_id)
        answer.headers["X-Request-ID"] = request_id
        return answer

    def _answer(
        self,
        path: str,
        params: Mapping[str, str],
        authorization: str | None,
        now: float,
        request_id: str,
    ) -> Answer:
        route = self._routes.get(path)
        if route is None:
            return error_answer(404, 404, NOT_FOUND)
        customer = self.authenticate(authorization)
        if customer is None:
            answer = error_answer(401, 401, UNAUTHORIZED)
            answer.headers["WWW-Authenticate"] = 'Basic realm="api.agora.io"'
            return answer
        known = self.options.known_appids
        appid = params.get("appid", "").strip()
        if known is not None and appid and appid not in known:
            return error_answer(403, 403, FORBIDDEN)
        try:
            query = route.parse(Params(params))
        except BadRequestError as bad:
            return error_answer(bad.status, bad.status, bad.message)
        limits = self.limits.get(route.endpoint.budget)
        if limits is None:
            return error_answer(200, 300, NO_ACCESS_ERROR)
        refusal = self.quota.try_acquire(customer, route.endpoint.budget, limits, now)
        refusal = refusal or check_frame(limits, query.start_ts, query.end_ts, now)
        if refusal:
            return error_answer(200, 300, refusal)
        return Answer(200, route.answer(query, now, request_id), success=True)

    def authenticate(self, authorization: str | None) -> str | None:
        """The customer id a request is counted under; None: wrong credentials.

        Without a configured customer id anything goes, even no header; the
        Basic user name (or ``""``) is then the customer.
        """
        user, secret = _basic_credentials(authorization)
        expected_id, expected_secret = self.options.customer_id, self.options.customer_secret
        if expected_id is None:
            return user or ""
        if user is None or secret is None or not _same(user, expected_id):
            return None
        if expected_secret is not None and not _same(secret, expected_secret):
            return None
        return user

    def _request_id(self) -> str:
        with self._ids_lock:
            number = next(self._ids)
        return hex_id(self.traffic.seed, "request", number)

    # -- answers, one per endpoint family --------------------------------------------

    def _parse_usage(self, params: Params) -> Query:
        return parse_insight_usage(params, self.options.peak_spelling)

    def _realtime(self, query: Query, now: float, request_id: str) -> Body:
        assert isinstance(query, RealtimeQuery)
        return endpoints.realtime_body(self.traffic, query)

    def _insight(self, query: Query, now: float, request_id: str) -> Body:
        assert isinstance(query, InsightQuery)
        return endpoints.insight_body(self.traffic, query, now)

    def _call_lists(self, query: Query, now: float, request_id: str) -> Body:
        assert isinstance(query, CallListQuery)
        code, cap = self.options.call_success_code, self.options.call_list_cap
        return endpoints.call_lists_body(self.traffic, query, code, request_id, cap)

    def _sessions(self, query: Query, now: float, request_id: str) -> Body:
        assert isinstance(query, SessionsQuery)
        return endpoints.sessions_body(
            self.traffic, query, self.options.call_success_code, request_id
        )

    def _metrics(self, query: Query, now: float, request_id: str) -> Body:
        assert isinstance(query, MetricsQuery)
        return endpoints.metrics_body(
            self.traffic, query, self.options.call_success_code, request_id
        )


def _basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, colon, secret = decoded.partition(":")
    return user, secret if colon else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def frozen_appids(appids: Iterable[str] | None) -> frozenset[str] | None:
    """The ``known_appids`` option as stored (None: every appid is known)."""
    return None if appids is None else frozenset(appids)
