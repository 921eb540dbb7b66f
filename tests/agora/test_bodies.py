"""Body-level answers the simulator does not produce on its own, via httpx.MockTransport.

Everything else (endpoints, faults, quotas, timeouts) is tested over loopback
HTTP against the simulator in ``test_agora_client.py``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from exporter.agora import (
    AgoraClient,
    AgoraError,
    DailyQuotaError,
    InvalidResponseError,
    RateLimitedError,
    RequestRecord,
    RetryAction,
    ServerError,
    UnauthorizedError,
    UnexpectedAnswerError,
    WindowProblem,
    WindowRejectedError,
)
from exporter.agora.errors import ClientError, UnknownLimitError
from exporter.agora.limits import Endpoint

CUSTOMER_ID = "body-customer-id"
SECRET = "body-secret-QWERTY"
WINDOW: dict[str, Any] = {"start_ts": 1631837400, "end_ts": 1631837460}


def mock_client(
    answer: bytes | dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    seen: list[httpx.Request] | None = None,
    on_request: Callable[[RequestRecord], None] | None = None,
) -> AgoraClient:
    content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=content, headers=headers)

    return AgoraClient(
        base_url="http://agora.test",
        customer_id=SecretStr(CUSTOMER_ID),
        customer_secret=SecretStr(SECRET),
        transport=httpx.MockTransport(handler),
        on_request=on_request,
    )


def usage(client: AgoraClient, metric: str = "userCount") -> Any:
    return client.realtime_usage(appid="app", product_type="Native", metric=metric, **WINDOW)


ROWS = [{"userCount": 3, "ts": 1631837400}]


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param({}, id="a body without code is a success"),
        pytest.param({"code": 0}, id="code 0 is a success"),
        pytest.param({"code": 200, "message": "success"}, id="code 200 is a success"),
        pytest.param({"code": "200", "message": ""}, id="code 200 as a string is a success"),
        pytest.param({"code": 200, "message": None}, id="a null message is fine"),
    ],
)
def test_success_envelopes_are_read_as_data(envelope: dict[str, Any]) -> None:
    with mock_client({**envelope, "data": ROWS}) as client:
        result = usage(client)
    assert [(row.ts, row.value) for row in result.rows] == [(1631837400, 3.0)]


def _limit(message: str) -> dict[str, Any]:
    return {"code": 300, "message": message, "data": None}


@pytest.mark.parametrize(
    ("body", "expected", "check"),
    [
        pytest.param(
            _limit("query duration limit error"),
            WindowRejectedError,
            lambda e: e.problem is WindowProblem.DURATION,
            id="query duration limit error asks to fix the window",
        ),
        pytest.param(
            _limit("  QPS Limit Error. "),
            RateLimitedError,
            lambda e: e.period == "second",
            id="limit messages match whatever their case and punctuation",
        ),
        pytest.param(
            _limit("Error: qpm limit error!"),
            RateLimitedError,
            lambda e: e.period == "minute",
            id="a known message inside a longer text is still recognised",
        ),
        pytest.param(
            _limit("QPD-limit-error"), DailyQuotaError, None, id="hyphens count as spaces"
        ),
        pytest.param(
            _limit("quota is weird today"),
            UnknownLimitError,
            lambda e: e.retry is RetryAction.NEXT_SLOT,
            id="code 300 with an unknown message is a limit error put off, not retried",
        ),
        pytest.param(
            {"code": 422, "message": "unprocessable"},
            ClientError,
            lambda e: e.retry is RetryAction.NONE and e.api_message == "unprocessable",
            id="an unknown 4xx code in the body is a client error, not retried",
        ),
        pytest.param(
            {"code": 777, "message": "what"},
            UnexpectedAnswerError,
            None,
            id="an unknown code is an unexpected answer",
        ),
        pytest.param(
            {"code": 401, "message": "no"},
            UnauthorizedError,
            None,
            id="code 401 in the body means unauthorized",
        ),
        pytest.param(
            {"code": 500, "message": "Unknown Error", "data": None},
            ServerError,
            None,
            id="code 500 Unknown Error is a server error",
        ),
        pytest.param(
            {"code": "three hundred"},
            InvalidResponseError,
            None,
            id="a code that is not a number is an invalid response",
        ),
    ],
)
def test_error_bodies_become_typed_errors(
    body: dict[str, Any], expected: type[AgoraError], check: Callable[[Any], bool] | None
) -> None:
    with mock_client(body) as client, pytest.raises(expected) as caught:
        usage(client)
    assert type(caught.value) is expected
    assert check is None or check(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(
            402,
            {"code": 402, "message": "payment required"},
            ClientError,
            id="HTTP 402 with a JSON body is a client error, not retried",
        ),
        pytest.param(
            422, b"Unprocessable", ClientError, id="HTTP 422 as plain text is a client error too"
        ),
        pytest.param(
            429,
            _limit("some new limit"),
            UnknownLimitError,
            id="a code 300 body under another status is still the limit error it names",
        ),
    ],
)
def test_a_4xx_status_is_read_as_its_code_in_the_body_would_be(
    status: int, body: bytes | dict[str, Any], expected: type[AgoraError]
) -> None:
    with mock_client(body, status=status) as client, pytest.raises(expected) as caught:
        usage(client)
    assert caught.value.http_status == status
    assert caught.value.retry is not RetryAction.BACKOFF


def test_numbers_sent_as_strings_are_accepted_and_uids_keep_their_size() -> None:
    body = {
        "code": "200",
        "data": [
            {"uid": "4294967296", "values": [{"ts": "1631837400", "networkDelay": "0.25"}]},
        ],
    }
    with mock_client(body) as client:
        result = client.realtime_quality(
            appid="app",
            product_type="Native",
            metric="networkDelay",
            cname="lobby",
            uids=[4294967296],
            **WINDOW,
        )
    assert [(r.uid, r.ts, r.value) for r in result.rows] == [(4294967296, 1631837400, 0.25)]


def test_unusable_values_are_dropped_and_counted_never_turned_into_zero() -> None:
    rows = [
        b'{"ts": 1, "userCount": null}',
        b'{"ts": 2}',
        b'{"ts": 3, "userCount": NaN}',
        b'{"ts": 4, "userCount": Infinity}',
        b'{"ts": 5, "userCount": -1}',
        b'{"ts": 6, "userCount": ""}',
        b'{"ts": 7, "userCount": 0}',
    ]
    body = b'{"code": 200, "data": [' + b",".join(rows) + b"]}"
    with mock_client(body) as client:
        result = usage(client)
    assert [(row.ts, row.value) for row in result.rows] == [(7, 0.0)]
    assert result.dropped == 6


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"data": [{"ts": 1, "userCount": "many"}]}, id="a word as a value"),
        pytest.param({"data": [{"ts": 1, "userCount": {"n": 1}}]}, id="an object as a value"),
        pytest.param({"data": [{"userCount": 1}]}, id="a row without ts"),
        pytest.param({"data": [{"ts": True, "userCount": 1}]}, id="a boolean ts"),
        pytest.param({"data": {"list": []}}, id="data as an object"),
        pytest.param({"code": 200, "message": "success"}, id="no data field at all"),
        pytest.param({"data": [{"uid": "x", "values": []}]}, id="a uid that is not a number"),
        pytest.param(b"[1, 2, 3]", id="a JSON array instead of an object"),
    ],
)
def test_wrong_shapes_and_types_are_invalid_responses(body: Any) -> None:
    with mock_client(body) as client, pytest.raises(InvalidResponseError):
        usage(client)


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        pytest.param("peakCurrentUsers", "peakConcurrentUsers", id="current asked concurrent"),
        pytest.param("peakConcurrentUsers", "peakCurrentUsers", id="concurrent asked current"),
        pytest.param("peakCurrentChannels", "peakConcurrentChannels", id="channels either way"),
    ],
)
def test_peak_metrics_are_read_under_either_spelling(requested: str, answered: str) -> None:
    body = {"code": 200, "data": [{answered: 12, "ts": 1625155200}]}
    with mock_client(body) as client:
        result = client.insight_usage(appid="app", metric=requested, **WINDOW)
    assert result.metric == answered
    assert [(p.ts, p.value) for p in result.points] == [(1625155200, 12.0)]


def test_sessions_tolerate_missing_fields_and_roles_as_string_or_list() -> None:
    body = {
        "code": 0,
        "total_size": "2",
        "call_info": [
            {"sid": "S1", "cname": 150566, "uid": 4294967296, "join_ts": 10, "roles": "host"},
            {"sid": "S2", "cname": "c", "uid": 2, "join_ts": 11, "leave_ts": 20, "roles": ["a"]},
        ],
    }
    with mock_client(body) as client:
        page = client.call_sessions(appid="app", call_id="C1", **WINDOW)
    first, second = page.sessions
    assert (first.cname, first.uid, first.roles, first.finished) == (
        "150566",
        4294967296,
        ("host",),
        False,
    )
    assert (second.leave_ts, second.roles, second.finished, second.network) == (
        20,
        ("a",),
        True,
        None,
    )
    assert (page.total_size, page.page_no, page.page_size) == (2, 1, 20)


def test_request_id_comes_from_the_header_or_else_the_body() -> None:
    records: list[RequestRecord] = []
    with mock_client({"requestId": "body-id", "data": ROWS}, on_request=records.append) as c:
        usage(c)
    headers = {"X-Request-ID": "header-id"}
    with (
        mock_client(_limit("qps limit error"), headers=headers) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        usage(client)
    assert records[0].request_id == "body-id"
    assert caught.value.request_id == "header-id"
    assert "header-id" in str(caught.value)


def test_a_secret_echoed_by_the_server_is_redacted_from_the_error() -> None:
    body = _limit(f"qps limit error for {CUSTOMER_ID}:{SECRET}")
    with mock_client(body) as client, pytest.raises(RateLimitedError) as caught:
        usage(client)
    for text in (str(caught.value), repr(caught.value), caught.value.api_message or ""):
        assert SECRET not in text
        assert CUSTOMER_ID not in text


def test_requests_use_the_documented_parameter_names_and_basic_auth() -> None:
    seen: list[httpx.Request] = []
    with mock_client({"data": []}, seen=seen) as client:
        usage(client)
        client.insight_quality(appid="app", metric="networkDelay", product_type="WebRTC", **WINDOW)
    with mock_client({"total_size": 0, "call_lists": []}, seen=seen) as client:
        client.call_lists(appid="app", cname="lobby", page_size=100, **WINDOW)
    assert [dict(r.url.params) for r in seen] == [
        {"startTs": "1631837400", "endTs": "1631837460", "appid": "app"}
        | {"productType": "Native", "metric": "userCount"},
        {"startTs": "1631837400", "endTs": "1631837460", "appid": "app"}
        | {"metric": "networkDelay", "aggregateGranularity": "1d", "productType": "WebRTC"},
        {"start_ts": "1631837400", "end_ts": "1631837460", "appid": "app", "cname": "lobby"}
        | {"page_no": "1", "page_size": "100"},
    ]
    auth = httpx.BasicAuth(CUSTOMER_ID, SECRET)._auth_header
    assert all(r.headers["Authorization"] == auth for r in seen)
    assert seen[0].headers["User-Agent"].startswith("agora-exporter/")


def test_lists_are_sent_comma_separated_and_names_percent_encoded() -> None:
    seen: list[httpx.Request] = []
    with mock_client({"data": []}, seen=seen) as client:
        client.realtime_quality(
            appid="app",
            product_type="Native",
            metric="networkDelay",
            cname="sales & ops/é",
            uids=[4294967296, 7],
            **WINDOW,
        )
        with contextlib.suppress(InvalidResponseError):
            client.call_metrics(appid="app", call_id="C", sids=["S1", "S2"], **WINDOW)
    assert (
        seen[0].url.query.decode().endswith("&cname=sales%20%26%20ops%2F%C3%A9&uids=4294967296,7")
    )
    assert seen[0].url.params["cname"] == "sales & ops/é"
    assert seen[1].url.query.decode().endswith("&sids=S1,S2")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda c: c.realtime_quality(
                appid="a", product_type="Native", metric="x", uids=[1], **WINDOW
            ),
            id="uids without a cname",
        ),
        pytest.param(
            lambda c: c.realtime_quality(
                appid="a", product_type="Native", metric="x", cname="c", uids=range(11), **WINDOW
            ),
            id="more than ten uids",
        ),
        pytest.param(lambda c: c.call_lists(appid="a", page_size=101, **WINDOW), id="page of 101"),
        pytest.param(
            lambda c: c.call_metrics(appid="a", call_id="c", sids=["s"] * 21, **WINDOW),
            id="more than twenty sids",
        ),
    ],
)
def test_arguments_beyond_the_documented_limits_fail_before_sending(
    call: Callable[[AgoraClient], object],
) -> None:
    seen: list[httpx.Request] = []
    with (
        mock_client({"data": []}, seen=seen) as client,
        pytest.raises(ValueError, match=r"uids|page_size|sids"),
    ):
        call(client)
    assert seen == []


def test_call_metrics_flatten_into_one_series_per_metric_and_peer() -> None:
    body = {
        "code": 200,
        "metrics": [
            {
                "sid": "S1",
                "data": [
                    {"mid": 20003, "kvs": [[1, 215], [3, None], [5, -2.5]], "peer_uid": 0},
                    {"mid": "20009", "kvs": [], "peer_uid": "4294967296"},
                ],
            }
        ],
    }
    with mock_client(body) as client:
        series = client.call_metrics(appid="a", call_id="C", sids=["S1"], **WINDOW)
    assert [(s.sid, s.mid, s.peer_uid, s.points) for s in series] == [
        ("S1", 20003, 0, [(1, 215.0), (5, -2.5)]),
        ("S1", 20009, 4294967296, []),
    ]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "code",
        "message",
        "data",
        "ts",
        "uid",
        "values",
        "userCount",
        "total_size",
        "call_lists",
        "call_info",
        "metrics",
        "sid",
        "mid",
        "kvs",
        "join_ts",
        "call_id",
    ]
)
BODIES = st.dictionaries(FIELDS, JSON, max_size=5) | JSON

EVERY_ENDPOINT: list[tuple[Endpoint, Callable[[AgoraClient], object]]] = [
    (Endpoint.REALTIME_USAGE, usage),
    (
        Endpoint.REALTIME_QUALITY,
        lambda c: c.realtime_quality(
            appid="a", product_type="Native", metric="userCount", cname="c", uids=[1], **WINDOW
        ),
    ),
    (Endpoint.INSIGHT_USAGE, lambda c: c.insight_usage(appid="a", metric="userCount", **WINDOW)),
    (
        Endpoint.INSIGHT_QUALITY,
        lambda c: c.insight_quality(appid="a", metric="x", product_type="Native", **WINDOW),
    ),
    (Endpoint.CALL_LISTS, lambda c: c.call_lists(appid="a", **WINDOW)),
    (Endpoint.CALL_SESSIONS, lambda c: c.call_sessions(appid="a", call_id="c", **WINDOW)),
    (Endpoint.CALL_METRICS, lambda c: c.call_metrics(appid="a", call_id="c", sids=["s"], **WINDOW)),
]


@pytest.mark.parametrize(
    ("endpoint", "call"),
    [pytest.param(*pair, id=f"{pair[0].label} answers") for pair in EVERY_ENDPOINT],
)
@settings(max_examples=150, deadline=None)
@given(body=BODIES)
def test_any_json_answer_is_either_data_or_one_typed_error(
    endpoint: Endpoint, call: Callable[[AgoraClient], object], body: Any
) -> None:
    content = json.dumps(body).encode()
    error: AgoraError | None = None
    with mock_client(content) as client:
        try:
            call(client)
        except AgoraError as exc:
            error = exc
    if error is not None:
        assert error.endpoint is endpoint
        assert SECRET not in str(error)


def test_the_client_keeps_no_credential_in_plain_sight() -> None:
    client = mock_client({"data": []})
    session = vars(client)["_session"]
    http = vars(session)["_http"]
    dumps = [repr(client), repr(session), repr(vars(session)), repr(vars(vars(session)["_redact"]))]
    dumps += [repr(http.auth), repr(vars(http.auth)), repr(http.headers)]
    client.close()
    for text in dumps:
        assert SECRET not in text
        assert CUSTOMER_ID not in text
