"""The Agora client against the embedded simulator, over loopback HTTP.

Every endpoint, both real-time shapes, paging, every documented error (each
``code: 300`` message, 400, 401, 403, 404, 500), transport faults, timeouts and
a refused connection; and the credentials never appear in an error.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from exporter.agora import (
    ALL_OUTCOMES,
    OUTCOME_SUCCESS,
    AgoraClient,
    AgoraError,
    BadRequestError,
    DailyQuotaError,
    ForbiddenError,
    InvalidResponseError,
    NoAccessError,
    NotFoundError,
    RateLimitedError,
    RequestRecord,
    RequestTimeoutError,
    RetryAction,
    ServerError,
    TransportError,
    UnauthorizedError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.limits import Budget, Endpoint
from exporter.simulator import Fault, Simulator
from tests.fakes import FakeClock

# conftest's ``simulator``: Enterprise plan, these credentials, seed 7, ``fake_clock`` at NOW.
APPID = "0123456789abcdef0123456789abcdef"
CUSTOMER_ID = "test-customer"
SECRET = "test-secret-XYZ"
NOW = 1_700_000_000  # a window boundary
START, END = NOW - 600, NOW - 60  # 27 windows, inside the enterprise horizon
# Inside the enterprise insight limits: ends before now - 6 h, spans less than 7 days.
INSIGHT_START, INSIGHT_END = NOW - 7 * 86400 + 7 * 3600, NOW - 7 * 3600
BIG_UID = 4294967296

MakeSimulator = Callable[..., Simulator]
"""``make_simulator`` of conftest: the shared defaults, options overridden."""


@pytest.fixture
def records() -> list[RequestRecord]:
    return []


def connect(
    base_url: str,
    *,
    secret: str = SECRET,
    timeout_s: float = 5.0,
    on_request: Callable[[RequestRecord], None] | None = None,
) -> AgoraClient:
    return AgoraClient(
        base_url=base_url,
        customer_id=SecretStr(CUSTOMER_ID),
        customer_secret=SecretStr(secret),
        timeout_s=timeout_s,
        on_request=on_request,
    )


@pytest.fixture
def client(simulator: Simulator, records: list[RequestRecord]) -> Iterator[AgoraClient]:
    with connect(simulator.base_url, on_request=records.append) as agora:
        yield agora


def usage(client: AgoraClient, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "appid": APPID,
        "product_type": "Native",
        "metric": "userCount",
        "start_ts": START,
        "end_ts": END,
    }
    return client.realtime_usage(**(args | overrides))


def assert_no_credentials(error: BaseException) -> None:
    for text in (str(error), repr(error), *(str(arg) for arg in error.args)):
        assert SECRET not in text
        assert CUSTOMER_ID not in text


# -- endpoints -------------------------------------------------------------------


def test_realtime_usage_returns_the_simulated_value_of_every_window(
    client: AgoraClient, simulator: Simulator
) -> None:
    result = usage(client)
    assert [row.ts for row in result.rows] == list(range(START, END, 20))
    for row in result.rows:
        assert row.uid is None
        assert row.value == simulator.traffic.realtime(APPID, "Native", "userCount", row.ts)
    assert result.dropped == 0


def test_realtime_quality_for_a_channel_comes_as_plain_rows(
    client: AgoraClient, simulator: Simulator
) -> None:
    result = client.realtime_quality(
        appid=APPID,
        product_type="WebRTC",
        metric="videoFreezeRate",
        start_ts=START,
        end_ts=END,
        cname="lobby",
    )
    assert result.rows, "the lobby is always active"
    for row in result.rows:
        expected = simulator.traffic.realtime(
            APPID, "WebRTC", "videoFreezeRate", row.ts, cname="lobby"
        )
        assert row.value == expected
    assert len(result.rows) + result.dropped == len(range(START, END, 20))


def test_realtime_quality_per_uid_keeps_uids_beyond_32_bits(
    client: AgoraClient, simulator: Simulator
) -> None:
    result = client.realtime_quality(
        appid=APPID,
        product_type="Native",
        metric="audioFreezeRate",
        start_ts=START,
        end_ts=END,
        cname="lobby",
        uids=[BIG_UID, 1001],
    )
    assert {row.uid for row in result.rows} <= {BIG_UID, 1001}
    assert any(row.uid == BIG_UID for row in result.rows)
    for row in result.rows:
        expected = simulator.traffic.realtime(
            APPID, "Native", "audioFreezeRate", row.ts, cname="lobby", uid=row.uid
        )
        assert row.value == expected


def test_insight_usage_and_quality_return_published_points(client: AgoraClient) -> None:
    day = 86400
    usage_points = client.insight_usage(
        appid=APPID, metric="peakCurrentUsers", start_ts=INSIGHT_START, end_ts=INSIGHT_END
    )
    quality = client.insight_quality(
        appid=APPID,
        metric="networkDelay",
        product_type="Native",
        start_ts=NOW - 2 * day,
        end_ts=INSIGHT_END,
        granularity="1h",
    )
    assert usage_points.metric in {"peakCurrentUsers", "peakConcurrentUsers"}
    assert usage_points.points
    assert all(INSIGHT_START <= p.ts <= INSIGHT_END and p.value >= 0 for p in usage_points.points)
    assert quality.metric == "networkDelay"
    assert [b.ts - a.ts for a, b in zip(quality.points, quality.points[1:], strict=False)] == [
        3600
    ] * (len(quality.points) - 1)


def _every_page(fetch: Callable[[int], Any], count: Callable[[Any], int]) -> list[Any]:
    """Pages 1, 2, ... until ``total_size`` items are seen or a page is empty."""
    found: list[Any] = []
    seen = 0
    while True:
        page = fetch(len(found) + 1)
        found.append(page)
        seen += count(page)
        if count(page) == 0 or seen >= page.total_size:
            return found


def test_call_inspector_pages_through_calls_sessions_and_metrics(
    client: AgoraClient, simulator: Simulator
) -> None:
    for budget in (Budget.CALL_LISTS, Budget.CALL_DETAILS):
        simulator.set_quota(budget, per_second=1000)  # the fake clock stands still
    frame: dict[str, Any] = {"appid": APPID, "start_ts": NOW - 2 * 3600, "end_ts": NOW - 600}
    call_pages = _every_page(
        lambda n: client.call_lists(page_no=n, page_size=25, **frame), lambda p: len(p.calls)
    )
    calls = [call for page in call_pages for call in page.calls]
    assert len(calls) == call_pages[0].total_size
    assert len({call.call_id for call in calls}) == len(calls)
    assert len(call_pages) > 1, "about 40 calls an hour need more than one page of 25"

    call = calls[0]
    session_pages = _every_page(
        lambda n: client.call_sessions(call_id=call.call_id, page_no=n, page_size=2, **frame),
        lambda p: len(p.sessions),
    )
    sessions = [session for page in session_pages for session in page.sessions]
    assert len(sessions) == session_pages[0].total_size
    assert all(s.cname == call.cname for s in sessions)
    assert [page.page_no for page in session_pages] == list(range(1, len(session_pages) + 1))
    assert len(session_pages) > 1, "seed 7's newest call has more than two sessions"

    series = client.call_metrics(call_id=call.call_id, sids=[s.sid for s in sessions[:20]], **frame)
    assert {s.sid for s in series} <= {s.sid for s in sessions}
    assert any(s.points for s in series)


# -- errors the API documents ----------------------------------------------------

LIMIT_MESSAGES = [
    ("qps limit error", RateLimitedError, RetryAction.NEXT_SLOT),
    ("qpm limit error", RateLimitedError, RetryAction.NEXT_SLOT),
    ("qpd limit error", DailyQuotaError, RetryAction.NEXT_DAY),
    ("query latency limit error", WindowRejectedError, RetryAction.FIX_WINDOW),
    ("query time range limit error", WindowRejectedError, RetryAction.FIX_WINDOW),
    ("query time length limit error", WindowRejectedError, RetryAction.FIX_WINDOW),
    ("query duration limit error", WindowRejectedError, RetryAction.FIX_WINDOW),
    (
        "you have no auth to access this service, please buy or upgrade your service package",
        NoAccessError,
        RetryAction.STOP,
    ),
]


@pytest.mark.parametrize(
    ("message", "expected", "retry"),
    [
        pytest.param(*row, id=f"code 300 {row[0][:28]!r} is {row[1].__name__}")
        for row in LIMIT_MESSAGES
    ],
)
def test_each_code_300_message_becomes_its_own_error(
    client: AgoraClient,
    simulator: Simulator,
    records: list[RequestRecord],
    message: str,
    expected: type[AgoraError],
    retry: RetryAction,
) -> None:
    simulator.faults.inject(Fault.CODE_300, message=message)
    with pytest.raises(expected) as caught:
        usage(client)
    error = caught.value
    assert (error.retry, error.http_status, error.api_message) == (retry, 200, message)
    assert error.endpoint is Endpoint.REALTIME_USAGE
    assert_no_credentials(error)
    assert [r.outcome for r in records] == [error.outcome]


def test_window_problems_and_rate_periods_are_told_apart(
    client: AgoraClient, simulator: Simulator
) -> None:
    seen: list[object] = []
    for message in ("qps limit error", "qpm limit error"):
        simulator.faults.inject(Fault.CODE_300, message=message)
        with pytest.raises(RateLimitedError) as rate:
            usage(client)
        seen.append(rate.value.period)
    for word in ("latency", "time range", "time length", "duration"):
        simulator.faults.inject(Fault.CODE_300, message=f"query {word} limit error")
        with pytest.raises(WindowRejectedError) as window:
            usage(client)
        seen.append(window.value.problem)
    assert seen == ["second", "minute", *WindowProblem]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(400, BadRequestError, id="HTTP 400 is a bad request"),
        pytest.param(401, UnauthorizedError, id="HTTP 401 is unauthorized"),
        pytest.param(403, ForbiddenError, id="HTTP 403 is forbidden"),
        pytest.param(404, NotFoundError, id="HTTP 404 is not found"),
        pytest.param(500, ServerError, id="HTTP 500 is a server error"),
        pytest.param(503, ServerError, id="HTTP 503 is a server error"),
    ],
)
def test_http_error_statuses_become_typed_errors(
    client: AgoraClient, simulator: Simulator, status: int, expected: type[AgoraError]
) -> None:
    simulator.faults.inject(Fault.HTTP_STATUS, http_status=status)
    with pytest.raises(expected) as caught:
        usage(client)
    assert type(caught.value) is expected
    assert caught.value.http_status == status
    assert_no_credentials(caught.value)


def test_a_wrong_secret_is_unauthorized_and_never_echoed(simulator: Simulator) -> None:
    wrong = "wrong-secret-ABC"
    with (
        connect(simulator.base_url, secret=wrong) as agora,
        pytest.raises(UnauthorizedError) as caught,
    ):
        usage(agora)
    assert caught.value.retry is RetryAction.STOP
    assert wrong not in str(caught.value)
    assert_no_credentials(caught.value)


def test_a_plan_without_realtime_access_gets_no_access(make_simulator: MakeSimulator) -> None:
    standard = make_simulator(plan="standard")
    with (
        connect(standard.base_url) as agora,
        pytest.raises(NoAccessError) as caught,
    ):
        usage(agora)
    assert caught.value.retry is RetryAction.STOP


def test_the_simulated_quota_answers_rate_limited_then_quota_exhausted(
    client: AgoraClient, simulator: Simulator, fake_clock: FakeClock
) -> None:
    simulator.set_quota(Budget.REALTIME, per_minute=2, per_day=3)
    usage(client)
    usage(client)
    with pytest.raises(RateLimitedError) as minute:
        usage(client)
    assert minute.value.period == "minute"
    fake_clock.advance(61)
    usage(client, start_ts=START + 60, end_ts=END + 60)
    with pytest.raises(DailyQuotaError):
        usage(client, start_ts=START + 60, end_ts=END + 60)


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        pytest.param(NOW - 600, NOW, WindowProblem.LATENCY, id="ending at now is too recent"),
        pytest.param(NOW - 7200, NOW - 6600, WindowProblem.RANGE, id="two hours ago is too old"),
    ],
)
def test_windows_outside_the_plan_are_rejected_with_the_reason(
    client: AgoraClient, start: int, end: int, problem: WindowProblem
) -> None:
    with pytest.raises(WindowRejectedError) as caught:
        usage(client, start_ts=start, end_ts=end)
    assert caught.value.problem is problem


def test_answers_the_simulator_gives_on_its_own_map_to_their_errors(
    make_simulator: MakeSimulator,
) -> None:
    errors: list[AgoraError] = []
    strict = make_simulator(known_appids=[APPID])
    with connect(strict.base_url) as agora:
        for overrides in (
            {"metric": "bogus"},
            {"start_ts": START * 1000, "end_ts": END * 1000},
            {"appid": "someone-elses-app"},
        ):
            with pytest.raises(AgoraError) as caught:
                usage(agora, **overrides)
            errors.append(caught.value)
    assert [(type(e), e.http_status) for e in errors] == [
        (BadRequestError, 400),
        (ServerError, 500),
        (ForbiddenError, 403),
    ]
    assert "metric" in (errors[0].api_message or "")
    assert errors[1].api_message == "Unknown Error"
    for error in errors:
        assert_no_credentials(error)


def test_a_call_inspector_success_code_of_zero_is_a_success(
    make_simulator: MakeSimulator,
) -> None:
    zero = make_simulator(call_success_code=0)
    with connect(zero.base_url) as agora:
        page = agora.call_lists(appid=APPID, start_ts=NOW - 3600, end_ts=NOW - 600)
    assert page.page_no == 1
    assert len(page.calls) == min(page.total_size, 20)


@pytest.mark.parametrize("spelling", ["current", "concurrent"])
def test_peak_metrics_work_whichever_spelling_the_server_knows(
    make_simulator: MakeSimulator, spelling: str
) -> None:
    metric = "peakCurrentUsers" if spelling == "current" else "peakConcurrentUsers"
    server = make_simulator(peak_spelling=spelling)
    with connect(server.base_url) as agora:
        result = agora.insight_usage(
            appid=APPID, metric=metric, start_ts=INSIGHT_START, end_ts=INSIGHT_END
        )
    assert result.metric == metric
    assert result.points


# -- transport and garbage -------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(Fault.HTML_500, ServerError, id="an HTML 500 page is a server error"),
        pytest.param(Fault.TRUNCATED_JSON, InvalidResponseError, id="truncated JSON is invalid"),
        pytest.param(Fault.MALFORMED_JSON, InvalidResponseError, id="malformed JSON is invalid"),
        pytest.param(Fault.WRONG_SHAPE, InvalidResponseError, id="a wrong shape is invalid"),
        pytest.param(Fault.EMPTY_BODY, InvalidResponseError, id="an empty body is invalid"),
        pytest.param(Fault.RESET, TransportError, id="a reset connection is a transport error"),
        pytest.param(Fault.DROP, TransportError, id="a dropped connection is a transport error"),
        pytest.param(
            Fault.UNKNOWN_ERROR, ServerError, id="code 500 Unknown Error is a server error"
        ),
    ],
)
def test_broken_answers_become_one_typed_error_with_backoff(
    client: AgoraClient,
    simulator: Simulator,
    records: list[RequestRecord],
    fault: Fault,
    expected: type[AgoraError],
) -> None:
    simulator.faults.inject(fault, times=1)
    with pytest.raises(expected) as caught:
        usage(client)
    assert type(caught.value) is expected
    assert caught.value.retry is RetryAction.BACKOFF
    assert_no_credentials(caught.value)
    assert usage(client).rows, "the fault was injected once"
    assert [r.outcome for r in records] == [caught.value.outcome, OUTCOME_SUCCESS]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.NO_CODE, id="an answer without code or message is a success"),
        pytest.param(Fault.NULL_MESSAGE, id="an answer with a null message is a success"),
        pytest.param(Fault.WRONG_TYPES, id="numbers sent as strings are read as numbers"),
        pytest.param(Fault.DUPLICATE_WINDOWS, id="repeated windows are kept once"),
        pytest.param(Fault.OUT_OF_ORDER, id="windows out of order come back sorted"),
    ],
)
def test_harmless_oddities_give_the_same_result_as_a_clean_answer(
    client: AgoraClient, simulator: Simulator, records: list[RequestRecord], fault: Fault
) -> None:
    def per_uid() -> Any:
        return client.realtime_quality(
            appid=APPID,
            product_type="Native",
            metric="networkDelay",
            start_ts=START,
            end_ts=END,
            cname="lobby",
            uids=[BIG_UID, 7],
        )

    clean = (usage(client), per_uid())
    simulator.faults.inject(fault, times=2)
    assert (usage(client), per_uid()) == clean
    assert [r.outcome for r in records] == [OUTCOME_SUCCESS] * 4


def test_nan_values_are_dropped_as_gaps_not_zeros(
    client: AgoraClient, simulator: Simulator
) -> None:
    simulator.faults.inject(Fault.NAN_VALUES)
    result = usage(client)
    assert result.dropped > 0
    assert len(result.rows) + result.dropped == len(range(START, END, 20))
    assert all(row.value == row.value and row.value != 0 for row in result.rows)


def test_a_slow_answer_times_out(simulator: Simulator, records: list[RequestRecord]) -> None:
    simulator.faults.inject(Fault.SLOW, delay_s=2.0)
    with (
        connect(simulator.base_url, timeout_s=0.3, on_request=records.append) as agora,
        pytest.raises(RequestTimeoutError) as caught,
    ):
        usage(agora)
    assert caught.value.outcome == "timeout"
    assert isinstance(caught.value, TransportError)
    assert_no_credentials(caught.value)
    assert [r.outcome for r in records] == ["timeout"]
    assert records[0].http_status is None


def test_a_refused_connection_is_a_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        connect(f"http://127.0.0.1:{port}", timeout_s=2.0) as agora,
        pytest.raises(TransportError) as caught,
    ):
        usage(agora)
    assert type(caught.value) is TransportError
    assert caught.value.outcome == "transport_error"
    assert_no_credentials(caught.value)


def test_a_fault_every_third_request_fails_only_those(
    client: AgoraClient, simulator: Simulator, records: list[RequestRecord]
) -> None:
    simulator.faults.every(3, Fault.HTML_500)
    for _ in range(6):
        with contextlib.suppress(ServerError):
            usage(client)
    ok, failed = OUTCOME_SUCCESS, "server_error"
    assert [r.outcome for r in records] == [ok, ok, failed, ok, ok, failed]
    simulator.faults.clear()
    usage(client)


def test_every_request_is_reported_once_with_its_outcome(
    client: AgoraClient, simulator: Simulator, records: list[RequestRecord]
) -> None:
    usage(client)
    simulator.faults.inject(Fault.CODE_300, message="qpm limit error")
    with pytest.raises(RateLimitedError):
        usage(client)
    assert [(r.endpoint, r.outcome, r.http_status) for r in records] == [
        (Endpoint.REALTIME_USAGE, OUTCOME_SUCCESS, 200),
        (Endpoint.REALTIME_USAGE, "rate_limited", 200),
    ]
    assert all(r.duration_s >= 0 and r.outcome in ALL_OUTCOMES for r in records)
