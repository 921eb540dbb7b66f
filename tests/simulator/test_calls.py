"""The simulator's Call Inspector: the reference's shapes, paging, sessions, metrics."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import pytest

from exporter.agora.limits import HOUR, Endpoint
from exporter.simulator import CallInfo, SessionInfo, Simulator
from tests.conftest import APPID, MakeSimulator, client_for
from tests.fakes import FakeClock

LISTS = Endpoint.CALL_LISTS.value
SESSIONS = Endpoint.CALL_SESSIONS.value
METRICS = Endpoint.CALL_METRICS.value
# The reference's call-list example frame.
EXAMPLE_START, EXAMPLE_END = 1550024508, 1550025508
CALL_KEYS = ["call_id", "cname", "created_ts", "destroyed_ts", "finished"]
SESSION_KEYS = [
    "sid",
    "cname",
    "uid",
    "network",
    "platform",
    "speaker",
    "sdk_version",
    "device_type",
    "join_ts",
    "leave_ts",
    "finished",
]
KNOWN_MIDS = {*range(20001, 20012), 20013, *range(20015, 20029), *range(20030, 20039)}


@pytest.fixture(autouse=True)
def _an_hour_after_the_example(fake_clock: FakeClock) -> None:
    fake_clock.set(EXAMPLE_END + HOUR)


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params={"appid": APPID} | params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def session_frame(call: CallInfo) -> dict[str, int]:
    return {"start_ts": call.created_ts, "end_ts": call.destroyed_ts}


def a_call_with_a_server_user(simulator: Simulator) -> tuple[CallInfo, list[SessionInfo]]:
    for call in simulator.traffic.calls(APPID, EXAMPLE_START - 4 * HOUR, EXAMPLE_END - HOUR):
        sessions = simulator.traffic.sessions(APPID, call.call_id)
        if any(s.platform == "Linux" for s in sessions) and call.finished:
            return call, sessions
    raise AssertionError("no call with a server user")


def test_the_call_list_has_the_reference_shape(api: httpx.Client, simulator: Simulator) -> None:
    body = get(api, LISTS, start_ts=EXAMPLE_START, end_ts=EXAMPLE_END, page_no=1, page_size=20)
    assert list(body) == [
        "code",
        "message",
        "requestId",
        "total_size",
        "page_no",
        "page_size",
        "has_more",
        "call_lists",
    ]
    assert (body["code"], body["message"], body["page_no"], body["page_size"]) == (200, "", 1, 20)
    calls = simulator.traffic.calls(APPID, EXAMPLE_START, EXAMPLE_END)
    assert body["total_size"] == len(calls) > 0
    assert body["has_more"] is False
    assert all(list(call) == CALL_KEYS for call in body["call_lists"])
    assert [c["call_id"] for c in body["call_lists"]] == [c.call_id for c in calls[:20]]
    created = [c["created_ts"] for c in body["call_lists"]]
    assert created == sorted(created, reverse=True)
    assert all(EXAMPLE_START <= ts < EXAMPLE_END for ts in created)


def test_calls_are_paged_beyond_a_hundred(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(calls_per_hour=150)
    start = EXAMPLE_START - EXAMPLE_START % HOUR - HOUR
    expected = [c.call_id for c in simulator.traffic.calls(APPID, start, start + HOUR)]
    assert len(expected) == 150
    pages = []
    with client_for(simulator) as client:
        for page_no in (1, 2, 3):
            body = get(
                client, LISTS, start_ts=start, end_ts=start + HOUR, page_no=page_no, page_size=100
            )
            assert (body["total_size"], body["has_more"]) == (150, False)
            pages.append([c["call_id"] for c in body["call_lists"]])
    assert [len(page) for page in pages] == [100, 50, 0]
    assert pages[0] + pages[1] == expected


def test_a_search_matching_more_than_the_service_returns_has_more(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(calls_per_hour=150, call_list_cap=120)
    start = EXAMPLE_START - EXAMPLE_START % HOUR - HOUR
    with client_for(simulator) as client:
        body = get(client, LISTS, start_ts=start, end_ts=start + HOUR, page_no=2, page_size=100)
    assert (body["total_size"], body["has_more"], len(body["call_lists"])) == (120, True, 20)


def test_a_search_capped_below_the_ongoing_calls_lists_the_newest_and_narrowing_the_rest(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(calls_per_hour=300, call_list_cap=10)
    now = int(fake_clock())
    frame = {"start_ts": now - 2 * HOUR, "end_ts": now - 61}
    matched = simulator.traffic.calls(APPID, frame["start_ts"], frame["end_ts"])
    ongoing = [c.call_id for c in matched if not c.finished]
    assert len(ongoing) > 10
    found: set[str] = set()
    with client_for(simulator) as client:
        body = get(client, LISTS, page_size=100, **frame)
        assert (body["total_size"], body["has_more"]) == (10, True)
        assert [c["call_id"] for c in body["call_lists"]] == [c.call_id for c in matched[:10]]
        while body["has_more"]:  # "try narrowing the search and resend"
            found |= {c["call_id"] for c in body["call_lists"]}
            oldest = min(c["created_ts"] for c in body["call_lists"])
            frame["end_ts"] = oldest + 1
            fake_clock.advance(1)  # within the 10 requests per second
            body = get(client, LISTS, page_size=100, **frame)
        found |= {c["call_id"] for c in body["call_lists"]}
    assert body["total_size"] <= 10
    assert sorted(found) == sorted(c.call_id for c in matched)
    assert set(ongoing) <= set(found)


def test_the_default_page_has_20_calls(api: httpx.Client) -> None:
    body = get(api, LISTS, start_ts=EXAMPLE_START - 3 * HOUR, end_ts=EXAMPLE_END)
    assert body["page_size"] == 20
    assert len(body["call_lists"]) == 20
    assert body["total_size"] > 20


def test_calls_can_be_searched_by_channel(api: httpx.Client, simulator: Simulator) -> None:
    calls = simulator.traffic.calls(APPID, EXAMPLE_START - 3 * HOUR, EXAMPLE_END)
    cname = calls[0].cname
    body = get(api, LISTS, start_ts=EXAMPLE_START - 3 * HOUR, end_ts=EXAMPLE_END, cname=cname)
    assert {c["cname"] for c in body["call_lists"]} == {cname}
    assert body["total_size"] == sum(1 for c in calls if c.cname == cname)


def test_a_call_still_going_on_is_not_finished(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    body = get(api, LISTS, start_ts=now - 2 * HOUR, end_ts=now - 61, page_size=100)
    ongoing = [c for c in body["call_lists"] if not c["finished"]]
    assert ongoing, "some calls of the last hours are still going on"
    assert all(c["destroyed_ts"] == now for c in ongoing)


def test_sessions_have_the_reference_shape_and_hide_server_users(
    api: httpx.Client, simulator: Simulator
) -> None:
    call, sessions = a_call_with_a_server_user(simulator)
    body = get(api, SESSIONS, call_id=call.call_id, **session_frame(call))
    assert list(body) == [
        "code",
        "message",
        "requestId",
        "total_size",
        "page_no",
        "page_size",
        "call_info",
    ]
    assert all(list(info) == SESSION_KEYS for info in body["call_info"])
    clients = [s.sid for s in sessions if s.platform != "Linux"]
    assert [info["sid"] for info in body["call_info"]] == clients
    assert body["total_size"] == len(clients) >= 2
    joins = [info["join_ts"] for info in body["call_info"]]
    assert joins == sorted(joins, reverse=True)
    assert all(info["cname"] == call.cname for info in body["call_info"])
    everyone = get(
        api, SESSIONS, call_id=call.call_id, exclude_server_user="false", **session_frame(call)
    )
    assert [info["sid"] for info in everyone["call_info"]] == [s.sid for s in sessions]
    assert "Linux" in {info["platform"] for info in everyone["call_info"]}


def test_sessions_can_be_filtered_by_uid_and_paged(api: httpx.Client, simulator: Simulator) -> None:
    call, sessions = a_call_with_a_server_user(simulator)
    clients = [s for s in sessions if s.platform != "Linux"]
    uid = clients[-1].uid
    body = get(api, SESSIONS, call_id=call.call_id, uids=str(uid), **session_frame(call))
    assert {info["uid"] for info in body["call_info"]} == {uid}
    first = get(api, SESSIONS, call_id=call.call_id, page_size=1, **session_frame(call))
    second = get(api, SESSIONS, call_id=call.call_id, page_size=1, page_no=2, **session_frame(call))
    assert [first["call_info"][0]["sid"], second["call_info"][0]["sid"]] == [
        s.sid for s in clients[:2]
    ]


def test_an_unknown_call_has_no_sessions(api: httpx.Client) -> None:
    frame: dict[str, Any] = {"start_ts": EXAMPLE_START, "end_ts": EXAMPLE_END}
    assert get(api, SESSIONS, call_id="c" * 32, **frame)["call_info"] == []
    assert get(api, METRICS, call_id="nonsense", sids="S1", **frame)["metrics"] == []


def test_metrics_have_the_reference_shape_and_the_models_values(
    api: httpx.Client, simulator: Simulator
) -> None:
    call, sessions = a_call_with_a_server_user(simulator)
    sids = [s.sid for s in sessions]
    body = get(
        api, METRICS, call_id=call.call_id, sids=",".join([*sids, "UNKNOWN"]), **session_frame(call)
    )
    assert list(body) == ["code", "message", "requestId", "metrics"]
    assert [m["sid"] for m in body["metrics"]] == sids
    uids = {s.uid for s in sessions}
    for entry, session in zip(body["metrics"], sessions, strict=True):
        assert list(entry) == ["sid", "data"]
        assert all(list(series) == ["mid", "kvs", "peer_uid"] for series in entry["data"])
        assert {series["mid"] for series in entry["data"]} <= KNOWN_MIDS
        assert {series["peer_uid"] for series in entry["data"]} <= uids - {session.uid} | {0}
        assert any(series["peer_uid"] == 0 for series in entry["data"])
        expected = simulator.traffic.call_metrics(
            APPID, call.call_id, session.sid, call.created_ts, call.destroyed_ts
        )
        assert [(s["mid"], s["peer_uid"], s["kvs"]) for s in entry["data"]] == [
            (mid, peer, [list(kv) for kv in kvs]) for mid, peer, kvs in expected
        ]
        first = entry["data"][0]["kvs"]
        assert first[0][0] >= session.join_ts + 4
        assert all(later[0] - earlier[0] >= 2 for earlier, later in itertools.pairwise(first))
        assert all((ts - session.join_ts) % 2 == 0 for ts, _ in first)


def test_short_sessions_are_sampled_every_two_seconds(
    api: httpx.Client, simulator: Simulator
) -> None:
    call, sessions = a_call_with_a_server_user(simulator)
    session = sessions[0]
    frame: dict[str, Any] = {
        "start_ts": session.join_ts,
        "end_ts": min(session.leave_ts, session.join_ts + 300),
    }
    body = get(api, METRICS, call_id=call.call_id, sids=session.sid, **frame)
    kvs = body["metrics"][0]["data"][0]["kvs"]
    assert kvs[0][0] == session.join_ts + 4
    assert [b[0] - a[0] for a, b in itertools.pairwise(kvs)] == [2] * (len(kvs) - 1)


def test_a_six_hour_query_of_a_busy_call_stays_small_and_fast(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(max_kvs_per_series=360)
    now = int(fake_clock())
    calls = simulator.traffic.calls(APPID, now - 7 * HOUR, now - 5 * HOUR)
    call = max(
        calls,
        key=lambda c: (
            len(simulator.traffic.sessions(APPID, c.call_id)),
            c.destroyed_ts - c.created_ts,
        ),
    )
    sids = ",".join(s.sid for s in simulator.traffic.sessions(APPID, call.call_id))
    with client_for(simulator) as client:
        started = time.perf_counter()
        body = get(
            client,
            METRICS,
            call_id=call.call_id,
            sids=sids,
            start_ts=now - 7 * HOUR,
            end_ts=now - HOUR - 1,
        )
        elapsed = time.perf_counter() - started
    assert elapsed < 3.0
    assert body["metrics"]
    assert all(len(series["kvs"]) <= 360 for entry in body["metrics"] for series in entry["data"])


def test_the_call_inspector_may_answer_code_0(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator(call_success_code=0)
    call, _ = a_call_with_a_server_user(simulator)
    with client_for(simulator) as client:
        for path, extra in [
            (LISTS, {}),
            (SESSIONS, {"call_id": call.call_id}),
            (METRICS, {"call_id": call.call_id, "sids": "S1"}),
        ]:
            body = get(client, path, **session_frame(call), **extra)
            assert (body["code"], body["message"]) == (0, "")
    assert simulator.refused() == []
