"""The reference's tables through the client, against the simulator over loopback HTTP.

Row by row: each strict frame rule of the message table ("ensure that"
``end_ts < now - delay``, ``start_ts > now - horizon``, ``end_ts - start_ts <
longest query``) on every endpoint family, at the limit and one second
inside it; and each code of the status table, in the body of an HTTP 200 and
as the HTTP status, with what the client counts it as and whether it may be
retried at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from exporter.agora import (
    AgoraClient,
    AgoraError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    RequestRecord,
    RetryAction,
    ServerError,
    UnauthorizedError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.errors import ClientError, UnknownLimitError
from exporter.agora.limits import DAY, Budget, Endpoint, Plan, limits_for
from exporter.simulator import Fault
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET, START, MakeSimulator

NOW = START
CALL_ID = "0" * 32
Call = Callable[[AgoraClient, int, int], object]

ENDPOINTS: dict[Endpoint, Call] = {
    Endpoint.REALTIME_USAGE: lambda c, s, e: c.realtime_usage(
        appid=APPID, product_type="Native", metric="userCount", start_ts=s, end_ts=e
    ),
    Endpoint.REALTIME_QUALITY: lambda c, s, e: c.realtime_quality(
        appid=APPID, product_type="Native", metric="networkDelay", start_ts=s, end_ts=e
    ),
    Endpoint.INSIGHT_USAGE: lambda c, s, e: c.insight_usage(
        appid=APPID, metric="userCount", start_ts=s, end_ts=e
    ),
    Endpoint.INSIGHT_QUALITY: lambda c, s, e: c.insight_quality(
        appid=APPID, metric="videoFreezeRate", product_type="Native", start_ts=s, end_ts=e
    ),
    Endpoint.CALL_LISTS: lambda c, s, e: c.call_lists(appid=APPID, start_ts=s, end_ts=e),
    Endpoint.CALL_SESSIONS: lambda c, s, e: c.call_sessions(
        appid=APPID, call_id=CALL_ID, start_ts=s, end_ts=e
    ),
    Endpoint.CALL_METRICS: lambda c, s, e: c.call_metrics(
        appid=APPID, call_id=CALL_ID, sids=["S1"], start_ts=s, end_ts=e
    ),
}


def connect(base_url: str, records: list[RequestRecord]) -> AgoraClient:
    return AgoraClient(
        base_url=base_url,
        customer_id=SecretStr(CUSTOMER_ID),
        customer_secret=SecretStr(CUSTOMER_SECRET),
        timeout_s=5.0,
        on_request=records.append,
    )


def frame_cases() -> list[Any]:
    """(endpoint, wider horizon or None, start, end, problem) per rule, at and inside the limit."""
    cases = []
    for endpoint in ENDPOINTS:
        limits = limits_for(Plan.ENTERPRISE, endpoint.budget)
        assert limits is not None
        delay, horizon, span = limits.delay_s, limits.horizon_s, limits.max_span_s
        # A frame as long as the longest query must fit between the delay and the horizon.
        wide = span + delay + DAY
        name = endpoint.label
        rows = [
            (None, -delay - 600, -delay, WindowProblem.LATENCY, f"an end at now - {delay} s"),
            (None, -delay - 601, -delay - 1, None, f"an end at now - {delay + 1} s"),
            (None, -horizon, -horizon + 600, WindowProblem.RANGE, f"a start at now - {horizon} s"),
            (None, -horizon + 1, -horizon + 601, None, f"a start at now - {horizon - 1} s"),
            (wide, -delay - 1 - span, -delay - 1, WindowProblem.LENGTH, f"a frame of {span} s"),
            (wide, -delay - span, -delay - 1, None, f"a frame of {span - 1} s"),
        ]
        for horizon_s, start, end, problem, what in rows:
            verdict = f"is refused for {problem.value}" if problem else "is accepted"
            cases.append(
                pytest.param(
                    endpoint, horizon_s, start, end, problem, id=f"{name}: {what} {verdict}"
                )
            )
    return cases


@pytest.mark.parametrize(("endpoint", "horizon_s", "start", "end", "problem"), frame_cases())
def test_each_strict_frame_rule_refuses_the_limit_and_accepts_one_second_inside(
    make_simulator: MakeSimulator,
    endpoint: Endpoint,
    horizon_s: int | None,
    start: int,
    end: int,
    problem: WindowProblem | None,
) -> None:
    quota = {endpoint.budget: {"horizon_s": horizon_s}} if horizon_s else None
    simulator = make_simulator(quota=quota)
    records: list[RequestRecord] = []
    with connect(simulator.base_url, records) as client:
        if problem is None:
            ENDPOINTS[endpoint](client, NOW + start, NOW + end)
            assert [r.outcome for r in records] == ["success"]
            return
        with pytest.raises(WindowRejectedError) as caught:
            ENDPOINTS[endpoint](client, NOW + start, NOW + end)
    assert caught.value.problem is problem
    assert caught.value.retry is RetryAction.FIX_WINDOW
    assert [r.outcome for r in records] == ["window_rejected"]


# The status table, then the 4xx it leaves out: (code, error, outcome, retry action).
STATUSES = [
    (400, BadRequestError, "bad_request", RetryAction.NONE),
    (401, UnauthorizedError, "unauthorized", RetryAction.STOP),
    (403, ForbiddenError, "forbidden", RetryAction.STOP),
    (404, NotFoundError, "not_found", RetryAction.NONE),
    (500, ServerError, "server_error", RetryAction.BACKOFF),
    (402, ClientError, "client_error", RetryAction.NONE),
    (422, ClientError, "client_error", RetryAction.NONE),
]


def status_cases() -> list[Any]:
    cases = []
    for code, error, outcome, retry in STATUSES:
        again = "backed off" if retry is RetryAction.BACKOFF else "never retried at once"
        for where in ("body", "status"):
            place = "in the body of an HTTP 200" if where == "body" else "as the HTTP status"
            cases.append(
                pytest.param(
                    code, where, error, outcome, retry, id=f"{code} {place} is {outcome}, {again}"
                )
            )
    return cases


@pytest.mark.parametrize(("code", "where", "expected", "outcome", "retry"), status_cases())
def test_each_status_code_counts_the_same_whether_in_the_body_or_as_the_http_status(
    make_simulator: MakeSimulator,
    code: int,
    where: str,
    expected: type[AgoraError],
    outcome: str,
    retry: RetryAction,
) -> None:
    simulator = make_simulator()
    if where == "body":
        simulator.faults.inject(Fault.BODY_CODE, code=code, message="as the service says")
    else:
        simulator.faults.inject(Fault.HTTP_STATUS, http_status=code)
    records: list[RequestRecord] = []
    with connect(simulator.base_url, records) as client, pytest.raises(expected) as caught:
        ENDPOINTS[Endpoint.INSIGHT_QUALITY](client, NOW - 2 * DAY, NOW - DAY)
    assert type(caught.value) is expected
    assert (caught.value.outcome, caught.value.retry) == (outcome, retry)
    assert caught.value.http_status == (200 if where == "body" else code)
    assert [r.outcome for r in records] == [outcome]


@pytest.mark.parametrize(
    "budget",
    [pytest.param(b, id=f"on {b}") for b in (Budget.REALTIME, Budget.CALL_LISTS)],
)
def test_a_code_300_with_a_message_nobody_documented_is_a_limit_put_off_not_retried(
    make_simulator: MakeSimulator, budget: Budget
) -> None:
    simulator = make_simulator()
    simulator.faults.inject(Fault.CODE_300, message="query frequency limit exceeded")
    records: list[RequestRecord] = []
    endpoint = Endpoint.REALTIME_USAGE if budget is Budget.REALTIME else Endpoint.CALL_LISTS
    with connect(simulator.base_url, records) as client, pytest.raises(UnknownLimitError) as e:
        ENDPOINTS[endpoint](client, NOW - 3600, NOW - 600)
    assert (e.value.outcome, e.value.retry) == ("unknown_limit", RetryAction.NEXT_SLOT)
    assert e.value.api_message == "query frequency limit exceeded"
    assert [r.outcome for r in records] == ["unknown_limit"]
