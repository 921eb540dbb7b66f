"""Fault injection: every fault, how it is used up, and what it does to quotas."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx
import pytest

from exporter.agora.limits import Budget, Endpoint
from exporter.simulator import Fault, Simulator
from tests.conftest import APPID, client_for
from tests.fakes import FakeClock

USAGE = Endpoint.REALTIME_USAGE.value
QUALITY = Endpoint.REALTIME_QUALITY.value


def realtime(
    api: httpx.Client, clock: FakeClock, path: str = USAGE, **changes: Any
) -> httpx.Response:
    now = int(clock())
    params: dict[str, Any] = {
        "startTs": now - 200,
        "endTs": now - 60,
        "appid": APPID,
        "productType": "Native",
        "metric": "userCount",
    }
    return api.get(path, params=params | changes)


def is_json(response: httpx.Response) -> bool:
    try:
        response.json()
    except json.JSONDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    ("fault", "options", "status", "check"),
    [
        pytest.param(
            Fault.HTML_500,
            {},
            500,
            lambda r: r.headers["content-type"] == "text/html" and "<html>" in r.text,
            id="an HTML 500 page",
        ),
        pytest.param(
            Fault.TRUNCATED_JSON,
            {},
            200,
            lambda r: r.text.startswith('{"code":200') and not is_json(r),
            id="JSON cut short",
        ),
        pytest.param(
            Fault.MALFORMED_JSON, {}, 200, lambda r: not is_json(r), id="a body that is not JSON"
        ),
        pytest.param(
            Fault.WRONG_SHAPE,
            {},
            200,
            lambda r: isinstance(r.json()["data"], dict),
            id="data that is an object, not a list",
        ),
        pytest.param(Fault.EMPTY_BODY, {}, 200, lambda r: r.content == b"", id="an empty body"),
        pytest.param(
            Fault.HTTP_STATUS,
            {},
            503,
            lambda r: r.text == "Service Unavailable",
            id="a 503 by default",
        ),
        pytest.param(
            Fault.HTTP_STATUS,
            {"http_status": 429},
            429,
            lambda r: r.text == "Too Many Requests",
            id="any HTTP status asked for",
        ),
        pytest.param(
            Fault.CODE_300,
            {},
            200,
            lambda r: r.json() == {"code": 300, "message": "qps limit error", "data": None},
            id="a code 300 qps limit error by default",
        ),
        pytest.param(
            Fault.CODE_300,
            {"message": "qpd limit error"},
            200,
            lambda r: r.json()["message"] == "qpd limit error",
            id="a code 300 with any message",
        ),
        pytest.param(
            Fault.UNKNOWN_ERROR,
            {},
            200,
            lambda r: r.json() == {"code": 500, "message": "Unknown Error", "data": None},
            id="a code 500 unknown error in an HTTP 200",
        ),
        pytest.param(
            Fault.BODY_CODE,
            {"message": "unprocessable"},
            200,
            lambda r: r.json() == {"code": 422, "message": "unprocessable", "data": None},
            id="a code 422 in an HTTP 200 by default",
        ),
        pytest.param(
            Fault.BODY_CODE,
            {"code": 401, "message": "Unauthorized"},
            200,
            lambda r: r.json() == {"code": 401, "message": "Unauthorized", "data": None},
            id="any code asked for in an HTTP 200",
        ),
    ],
)
def test_an_early_fault_replaces_one_answer_and_is_not_counted(
    simulator: Simulator,
    api: httpx.Client,
    fake_clock: FakeClock,
    fault: Fault,
    options: dict[str, Any],
    status: int,
    check: Any,
) -> None:
    simulator.faults.inject(fault, **options)
    response = realtime(api, fake_clock)
    assert response.status_code == status
    assert check(response)
    assert simulator.quota_used(Budget.REALTIME, "minute") == 0
    (entry,) = simulator.refused()
    assert (entry.fault, entry.http_status) == (fault, status)
    assert realtime(api, fake_clock).json()["code"] == 200
    assert simulator.quota_used(Budget.REALTIME, "minute") == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param(
            Fault.RESET, httpx.TransportError, id="a reset after half the body is a transport error"
        ),
        pytest.param(
            Fault.DROP,
            httpx.RemoteProtocolError,
            id="a connection closed without an answer is a protocol error",
        ),
    ],
)
def test_a_broken_connection_fails_that_request_only(
    simulator: Simulator,
    api: httpx.Client,
    fake_clock: FakeClock,
    fault: Fault,
    error: type[Exception],
) -> None:
    simulator.faults.inject(fault)
    with pytest.raises(error):
        realtime(api, fake_clock)
    assert realtime(api, fake_clock).json()["code"] == 200
    assert [e.fault for e in simulator.requests()] == [fault, None]


def test_faults_come_before_credentials(simulator: Simulator, fake_clock: FakeClock) -> None:
    simulator.faults.inject(Fault.HTML_500)
    with client_for(simulator, auth=("wrong", "credentials")) as client:
        assert realtime(client, fake_clock).status_code == 500
        assert realtime(client, fake_clock).status_code == 401


def test_a_slow_answer_is_a_real_answer_late(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    expected = realtime(api, fake_clock).json()
    simulator.faults.inject(Fault.SLOW, delay_s=0.3)
    started = time.perf_counter()
    assert realtime(api, fake_clock).json() == expected
    assert time.perf_counter() - started >= 0.3
    assert simulator.quota_used(Budget.REALTIME, "minute") == 2


def test_a_slow_answer_times_out_and_does_not_hold_up_stop(
    simulator: Simulator, fake_clock: FakeClock
) -> None:
    simulator.faults.inject(Fault.SLOW, delay_s=30)
    with client_for(simulator, timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        realtime(client, fake_clock)
    started = time.perf_counter()
    simulator.stop()
    assert time.perf_counter() - started < 2


def genuine_and_faulted(
    simulator: Simulator, api: httpx.Client, clock: FakeClock, fault: Fault, **changes: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    genuine = realtime(api, clock, **changes).json()
    simulator.faults.inject(fault)
    faulted = realtime(api, clock, **changes).json()
    assert simulator.requests()[-1].success
    assert simulator.quota_used(Budget.REALTIME, "minute") == 2, "data faults are counted"
    return genuine, faulted


def test_nan_values_spoil_every_second_value(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    genuine, faulted = genuine_and_faulted(simulator, api, fake_clock, Fault.NAN_VALUES)
    rows = faulted["data"]
    assert [r["ts"] for r in rows] == [r["ts"] for r in genuine["data"]]
    assert all(math.isnan(r["userCount"]) for r in rows[1::2])
    assert rows[::2] == genuine["data"][::2]


def test_nan_values_reach_per_uid_values(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    _, faulted = genuine_and_faulted(
        simulator,
        api,
        fake_clock,
        Fault.NAN_VALUES,
        path=QUALITY,
        metric="videoFreezeRate",
        cname="lobby",
        uids="4294967296",
    )
    values = faulted["data"][0]["values"]
    assert math.isnan(values[1]["videoFreezeRate"])
    assert not math.isnan(values[0]["videoFreezeRate"])


@pytest.mark.parametrize(
    ("fault", "change"),
    [
        pytest.param(
            Fault.DUPLICATE_WINDOWS,
            lambda rows: [r for r in rows for _ in (0, 1)],
            id="duplicate windows repeat every row",
        ),
        pytest.param(
            Fault.OUT_OF_ORDER, lambda rows: rows[::-1], id="out of order rows come newest first"
        ),
        pytest.param(
            Fault.WRONG_TYPES,
            lambda rows: [{k: str(v) for k, v in r.items()} for r in rows],
            id="wrong types send numbers as strings",
        ),
    ],
)
def test_data_faults_alter_the_genuine_rows(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock, fault: Fault, change: Any
) -> None:
    genuine, faulted = genuine_and_faulted(simulator, api, fake_clock, fault)
    assert len(genuine["data"]) == 7
    assert faulted == genuine | {"data": change(genuine["data"])}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(
            Fault.NO_CODE,
            lambda body: {"data": body["data"]},
            id="a success without code or message",
        ),
        pytest.param(
            Fault.NULL_MESSAGE,
            lambda body: body | {"message": None},
            id="a success with a null message",
        ),
    ],
)
def test_success_variants_keep_the_data(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock, fault: Fault, expected: Any
) -> None:
    genuine, faulted = genuine_and_faulted(simulator, api, fake_clock, fault)
    assert faulted == expected(genuine)
    assert simulator.refused() == []


def test_data_faults_reach_call_inspector_lists_and_kvs(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    frame: dict[str, Any] = {"start_ts": now - 7200, "end_ts": now - 3600, "appid": APPID}
    genuine = api.get(Endpoint.CALL_LISTS.value, params=frame).json()
    simulator.faults.inject(Fault.OUT_OF_ORDER)
    reversed_calls = api.get(Endpoint.CALL_LISTS.value, params=frame).json()["call_lists"]
    assert reversed_calls == genuine["call_lists"][::-1]
    call = genuine["call_lists"][-1]
    sessions = simulator.traffic.sessions(APPID, call["call_id"])
    params = frame | {"call_id": call["call_id"], "sids": sessions[0].sid}
    simulator.faults.inject(Fault.NAN_VALUES)
    kvs = api.get(Endpoint.CALL_METRICS.value, params=params).json()["metrics"][0]["data"][0]["kvs"]
    assert math.isnan(kvs[1][1])
    assert not math.isnan(kvs[0][1])


def test_a_data_fault_leaves_an_error_alone_and_is_used_up(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    simulator.faults.inject(Fault.NAN_VALUES)
    now = int(fake_clock())
    refused = realtime(api, fake_clock, endTs=now).json()
    assert refused == {"code": 300, "message": "query latency limit error", "data": None}
    assert simulator.faults.pending() == 0
    assert not any(math.isnan(r["userCount"]) for r in realtime(api, fake_clock).json()["data"])


def test_injected_faults_are_used_up_in_order(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    simulator.faults.inject(Fault.HTML_500, times=2)
    simulator.faults.inject(Fault.HTTP_STATUS, http_status=502)
    assert simulator.faults.pending() == 3
    statuses = [realtime(api, fake_clock).status_code for _ in range(4)]
    assert statuses == [500, 500, 502, 200]
    assert simulator.faults.pending() == 0


def test_a_periodic_fault_hits_every_nth_request(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    simulator.faults.every(3, Fault.HTML_500)
    statuses = [realtime(api, fake_clock).status_code for _ in range(7)]
    assert statuses == [200, 200, 500, 200, 200, 500, 200]
    simulator.faults.clear()
    assert [realtime(api, fake_clock).status_code for _ in range(3)] == [200] * 3


def test_a_fault_for_one_path_waits_for_that_path(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    simulator.faults.inject(Fault.HTTP_STATUS, path=QUALITY)
    quality = {"path": QUALITY, "metric": "networkDelay"}
    assert realtime(api, fake_clock, path=USAGE).status_code == 200
    assert realtime(api, fake_clock, **quality).status_code == 503
    assert realtime(api, fake_clock, **quality).status_code == 200


def test_faults_can_be_named_by_string_and_bad_counts_are_refused(simulator: Simulator) -> None:
    simulator.faults.inject("html_500")
    assert simulator.faults.pending() == 1
    with pytest.raises(ValueError, match="times"):
        simulator.faults.inject(Fault.HTML_500, times=0)
    with pytest.raises(ValueError, match="n must"):
        simulator.faults.every(0, Fault.HTML_500)
    with pytest.raises(ValueError, match="not_a_fault"):
        simulator.faults.inject("not_a_fault")
