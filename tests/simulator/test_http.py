"""The simulator's HTTP behaviour: error answers, check order, request log, lifecycle."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exporter.agora.limits import Endpoint
from exporter.simulator import Simulator
from tests.conftest import APPID, CUSTOMER_ID, CUSTOMER_SECRET, MakeSimulator, client_for
from tests.fakes import FakeClock

USAGE = Endpoint.REALTIME_USAGE.value
QUALITY = Endpoint.REALTIME_QUALITY.value


def realtime_params(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    now = int(clock())
    params: dict[str, Any] = {
        "startTs": now - 600,
        "endTs": now - 60,
        "appid": APPID,
        "productType": "Native",
        "metric": "userCount",
    }
    return {k: v for k, v in (params | changes).items() if v is not None}


def test_a_success_carries_a_request_id(api: httpx.Client, fake_clock: FakeClock) -> None:
    first = api.get(USAGE, params=realtime_params(fake_clock))
    second = api.get(USAGE, params=realtime_params(fake_clock))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/json")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert all(len(i) == 20 for i in ids)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/beta/realtime/usage/by_time", id="an unknown path is a 404"),
        pytest.param(USAGE + "/", id="a trailing slash is a 404"),
        pytest.param("/", id="the root is a 404"),
    ],
)
def test_unknown_paths_are_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Wrong API invoked", "data": None}


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(None, id="no credentials are a 401"),
        pytest.param((CUSTOMER_ID, "wrong"), id="a wrong secret is a 401"),
        pytest.param(("someone-else", CUSTOMER_SECRET), id="a wrong customer id is a 401"),
    ],
)
def test_wrong_credentials_are_401(
    simulator: Simulator, fake_clock: FakeClock, auth: tuple[str, str] | None
) -> None:
    with client_for(simulator, auth=auth) as client:
        response = client.get(USAGE, params=realtime_params(fake_clock))
    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert "x-request-id" in response.headers


def test_a_malformed_authorization_header_is_401(
    simulator: Simulator, fake_clock: FakeClock
) -> None:
    with client_for(simulator, auth=None) as client:
        headers = {"Authorization": "Basic not-base64!"}
        response = client.get(USAGE, params=realtime_params(fake_clock), headers=headers)
    assert response.status_code == 401


def test_without_a_configured_customer_anything_is_accepted(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(customer_id=None, customer_secret=None)
    with client_for(simulator, auth=None) as client:
        assert client.get(USAGE, params=realtime_params(fake_clock)).json()["code"] == 200
    with client_for(simulator, auth=("any", "thing")) as client:
        assert client.get(USAGE, params=realtime_params(fake_clock)).json()["code"] == 200


def test_an_unknown_appid_is_403_even_before_parameter_checks(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(known_appids={APPID})
    with client_for(simulator) as client:
        other = client.get(USAGE, params=realtime_params(fake_clock, appid="f" * 32))
        incomplete = client.get(USAGE, params={"appid": "f" * 32})
        known = client.get(USAGE, params=realtime_params(fake_clock))
    assert other.status_code == 403
    assert other.json()["code"] == 403
    assert incomplete.status_code == 403
    assert known.status_code == 200


def test_checks_run_path_then_credentials_then_parameters(simulator: Simulator) -> None:
    with client_for(simulator, auth=("x", "y")) as client:
        assert client.get("/nowhere").status_code == 404
        assert client.get(USAGE).status_code == 401
    with client_for(simulator) as client:
        assert client.get(USAGE).status_code == 400


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"startTs": None},
            "Bad request, parameter : startTs can not be null",
            id="a missing startTs says it can not be null",
        ),
        pytest.param(
            {"endTs": ""},
            "Bad request, parameter : endTs can not be null",
            id="an empty endTs says it can not be null",
        ),
        pytest.param(
            {"appid": None},
            "Bad request, parameter : appid can not be null",
            id="a missing appid is a 400",
        ),
        pytest.param(
            {"startTs": "yesterday"},
            "Bad request, parameter : startTs is invalid",
            id="a non-numeric startTs is invalid",
        ),
        pytest.param(
            {"startTs": "1631837410.5"},
            "Bad request, parameter : startTs is invalid",
            id="a fractional startTs is invalid",
        ),
        pytest.param(
            {"startTs": "-5"},
            "Bad request, parameter : startTs is invalid",
            id="a negative startTs is invalid",
        ),
        pytest.param(
            {"productType": "Flutter"},
            "Bad request, parameter : productType is invalid",
            id="an unknown product type is invalid",
        ),
        pytest.param(
            {"productType": None},
            "Bad request, parameter : productType can not be null",
            id="a missing product type is a 400",
        ),
        pytest.param(
            {"metric": "sessionCount"},
            "Bad request, parameter : metric is invalid",
            id="an insight metric on a real-time path is invalid",
        ),
        pytest.param(
            {
                "metric": "networkDelay",
                "cname": "lobby",
                "uids": ",".join(str(n) for n in range(1, 12)),
            },
            "Bad request, parameter : uids can not contain more than 10 items",
            id="eleven uids are too many",
        ),
        pytest.param(
            {"metric": "networkDelay", "cname": "lobby", "uids": "1001,abc"},
            "Bad request, parameter : uids is invalid",
            id="a non-numeric uid is invalid",
        ),
    ],
)
def test_bad_real_time_parameters_are_400(
    api: httpx.Client, fake_clock: FakeClock, changes: dict[str, Any], message: str
) -> None:
    path = QUALITY if "uids" in changes else USAGE  # only the quality path takes uids
    response = api.get(path, params=realtime_params(fake_clock, **changes))
    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": message, "data": None}


def test_an_end_before_the_start_is_400(api: httpx.Client, fake_clock: FakeClock) -> None:
    now = int(fake_clock())
    response = api.get(USAGE, params=realtime_params(fake_clock, startTs=now - 60, endTs=now - 120))
    assert response.status_code == 400
    assert "endTs" in response.json()["message"]


def test_millisecond_timestamps_are_an_unknown_error(
    api: httpx.Client, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    params = realtime_params(fake_clock, startTs=(now - 600) * 1000, endTs=(now - 60) * 1000)
    response = api.get(USAGE, params=params)
    assert response.status_code == 500
    assert response.json() == {"code": 500, "message": "Unknown Error", "data": None}


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        pytest.param(
            Endpoint.INSIGHT_QUALITY.value,
            {"metric": "videoFreezeRate", "aggregateGranularity": "1d"},
            "Bad request, parameter : productType can not be null",
            id="insight quality needs a product type",
        ),
        pytest.param(
            Endpoint.INSIGHT_USAGE.value,
            {"metric": "userCount", "aggregateGranularity": "1m"},
            "Bad request, parameter : aggregateGranularity is invalid",
            id="a granularity of a minute is invalid",
        ),
        pytest.param(
            Endpoint.INSIGHT_USAGE.value,
            {"metric": "userCount"},
            "Bad request, parameter : aggregateGranularity can not be null",
            id="insight needs a granularity",
        ),
        pytest.param(
            Endpoint.INSIGHT_USAGE.value,
            {"metric": "videoFreezeRate", "aggregateGranularity": "1d"},
            "Bad request, parameter : metric is invalid",
            id="a quality metric on the usage path is invalid",
        ),
    ],
)
def test_bad_insight_parameters_are_400(
    api: httpx.Client, fake_clock: FakeClock, path: str, params: dict[str, str], message: str
) -> None:
    now = int(fake_clock())
    frame: dict[str, Any] = {"startTs": now - 86400 * 3, "endTs": now, "appid": APPID}
    response = api.get(path, params=frame | params)
    assert (response.status_code, response.json()["message"]) == (400, message)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        pytest.param(
            Endpoint.CALL_LISTS.value,
            {"page_size": "101"},
            "Bad request, parameter : page_size can not be more than 100",
            id="a page of 101 calls is too big",
        ),
        pytest.param(
            Endpoint.CALL_LISTS.value,
            {"page_no": "0"},
            "Bad request, parameter : page_no is invalid",
            id="page 0 is invalid",
        ),
        pytest.param(
            Endpoint.CALL_SESSIONS.value,
            {},
            "Bad request, parameter : call_id can not be null",
            id="sessions need a call id",
        ),
        pytest.param(
            Endpoint.CALL_SESSIONS.value,
            {"call_id": "c1", "exclude_server_user": "maybe"},
            "Bad request, parameter : exclude_server_user is invalid",
            id="exclude_server_user must be a boolean",
        ),
        pytest.param(
            Endpoint.CALL_METRICS.value,
            {"call_id": "c1"},
            "Bad request, parameter : sids can not be null",
            id="metrics need sids",
        ),
        pytest.param(
            Endpoint.CALL_METRICS.value,
            {"call_id": "c1", "sids": ",".join(f"S{n}" for n in range(21))},
            "Bad request, parameter : sids can not contain more than 20 items",
            id="twenty-one sids are too many",
        ),
    ],
)
def test_bad_call_inspector_parameters_are_400(
    api: httpx.Client, fake_clock: FakeClock, path: str, params: dict[str, str], message: str
) -> None:
    now = int(fake_clock())
    frame: dict[str, Any] = {"start_ts": now - 7200, "end_ts": now - 3600, "appid": APPID}
    response = api.get(path, params=frame | params)
    assert (response.status_code, response.json()["message"]) == (400, message)


def test_the_request_log_records_every_answer(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    api.get(USAGE, params=realtime_params(fake_clock))
    api.get(USAGE, params=realtime_params(fake_clock, metric=None))
    api.get("/nowhere")
    simulator.set_quota("realtime", per_minute=1)
    api.get(USAGE, params=realtime_params(fake_clock))
    log = simulator.requests()
    assert [(e.path, e.http_status, e.body_code) for e in log] == [
        (USAGE, 200, 200),
        (USAGE, 400, 400),
        ("/nowhere", 404, 404),
        (USAGE, 200, 300),
    ]
    assert log[0].params["appid"] == APPID
    assert (log[0].success, log[0].message, log[0].at) == (True, "success", fake_clock())
    assert log[3].message == "qpm limit error"
    assert simulator.refused() == log[1:]


def test_one_connection_serves_many_requests(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    for _ in range(5):
        assert api.get(USAGE, params=realtime_params(fake_clock)).status_code == 200
    assert len(simulator.requests()) == 5


def test_stopping_with_a_client_still_connected_is_clean(
    fake_clock: FakeClock,
) -> None:
    simulator = Simulator(clock=fake_clock)
    simulator.start()
    client = client_for(simulator)
    try:
        assert client.get(USAGE, params=realtime_params(fake_clock)).status_code == 200
        simulator.stop()  # the keep-alive connection is still open here
        simulator.stop()
        with pytest.raises(httpx.TransportError):
            client.get(USAGE, params=realtime_params(fake_clock))
    finally:
        client.close()


def test_the_context_manager_starts_and_stops(fake_clock: FakeClock) -> None:
    simulator = Simulator(clock=fake_clock)
    with pytest.raises(RuntimeError, match="not been started"):
        _ = simulator.base_url
    with simulator as running:
        assert running.base_url.startswith("http://127.0.0.1:")
        with client_for(running) as client:
            assert client.get(USAGE, params=realtime_params(fake_clock)).status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            running.start()
    with pytest.raises(httpx.ConnectError), client_for(simulator) as client:
        client.get(USAGE)


def test_a_simulator_can_be_started_again_after_a_stop(fake_clock: FakeClock) -> None:
    simulator = Simulator(clock=fake_clock)
    for _ in range(2):
        with simulator, client_for(simulator) as client:
            assert client.get(USAGE, params=realtime_params(fake_clock)).status_code == 200


def test_an_unknown_peak_spelling_option_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="peak_spelling"):
        Simulator(peak_spelling="peak")
