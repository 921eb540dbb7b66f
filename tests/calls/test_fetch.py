"""A call frame the API refuses is shrunk once and sent again, as the real-time poller does.

The refusals come from the simulator over loopback HTTP: injected once or on
every request, or earned honestly by a simulator whose clock runs behind the
exporter's.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from exporter.agora.limits import Endpoint
from exporter.simulator import Fault
from tests.calls.conftest import Rig
from tests.conftest import APPID
from tests.fakes import FakeClock

LATENCY = "query latency limit error"
CALLS = {"enabled": True, "max_calls": 2, "max_sessions_per_call": 4}


def frames(rig: Rig, endpoint: Endpoint) -> list[tuple[int, int, bool]]:
    return [
        (int(e.params["start_ts"]), int(e.params["end_ts"]), e.success)
        for e in rig.requests(endpoint)
    ]


def test_a_refused_call_search_is_shrunk_and_sent_once_more(rigs: Any) -> None:
    rig = rigs(CALLS, max_kvs_per_series=4)
    rig.sim.faults.inject(Fault.CODE_300, message=LATENCY, path=Endpoint.CALL_LISTS.value)
    state = rig.cycle()
    [(start, end, refused), *pages] = frames(rig, Endpoint.CALL_LISTS)
    assert not refused
    assert pages
    assert all(page == (start, end - 20, True) for page in pages), "every page keeps it"
    again_end = end - 20
    assert state.calls
    cursor = rig.store.calls.list_cursor(f"{APPID}/")
    assert cursor is not None
    assert cursor <= again_end
    assert rig.stats.snapshot().series[f"calls/{APPID}"].last_outcome == "success"


def test_a_refused_sessions_frame_is_shrunk_and_the_metrics_ask_the_same(rigs: Any) -> None:
    rig = rigs(CALLS, max_kvs_per_series=4)
    rig.cycle()
    rig.clock.advance(rig.plan.calls.interval_s)
    rig.sim.faults.inject(Fault.CODE_300, message=LATENCY, path=Endpoint.CALL_SESSIONS.value)
    before = len(rig.sim.requests())
    state = rig.cycle()
    sent = rig.sim.requests()[before:]
    sessions = [e for e in sent if e.path == Endpoint.CALL_SESSIONS.value]
    first_call = sessions[0].params["call_id"]
    [refused, answered] = [e for e in sessions if e.params["call_id"] == first_call]
    assert (refused.success, answered.success) == (False, True)
    shrunk = (int(answered.params["start_ts"]), int(answered.params["end_ts"]))
    assert shrunk == (int(refused.params["start_ts"]), int(refused.params["end_ts"]) - 20)
    metrics = [
        e
        for e in sent
        if e.path == Endpoint.CALL_METRICS.value and e.params["call_id"] == first_call
    ]
    assert metrics
    assert all((int(e.params["start_ts"]), int(e.params["end_ts"])) == shrunk for e in metrics)
    [call] = [c for c in state.calls if c.call_id == first_call]
    assert call.cursor == shrunk[1] + 1
    assert all(sample.ts <= shrunk[1] for sample in call.samples)


def test_a_frame_refused_again_once_shrunk_is_not_sent_a_third_time(rigs: Any) -> None:
    rig = rigs(CALLS, max_kvs_per_series=4)
    rig.sim.faults.every(1, Fault.CODE_300, message=LATENCY, path=Endpoint.CALL_LISTS.value)
    state = rig.cycle()
    assert [success for _, _, success in frames(rig, Endpoint.CALL_LISTS)] == [False, False]
    assert state.calls == ()
    assert rig.store.calls.list_cursor(f"{APPID}/") is None, "the search is asked again"
    assert rig.stats.snapshot().series[f"calls/{APPID}"].last_outcome == "window_rejected"


def test_a_clock_a_second_ahead_of_agoras_costs_no_refusal(
    rigs: Any, fake_clock: FakeClock
) -> None:
    rig = rigs(CALLS, max_kvs_per_series=4, clock=lambda: fake_clock() - 1)
    for _ in range(3):
        state = rig.cycle()
        rig.clock.advance(rig.plan.calls.interval_s)
    assert state.calls
    assert len(rig.sim.requests()) > 3 * 3
    assert rig.sim.refused() == []


def test_a_clock_25_s_ahead_costs_one_refusal_per_frame_and_loses_no_data(
    rigs: Any, fake_clock: FakeClock
) -> None:
    rig = rigs(CALLS, max_kvs_per_series=4, clock=lambda: fake_clock() - 25)
    rig.cycle()
    split = len(rig.requests(Endpoint.CALL_LISTS))
    rig.clock.advance(rig.plan.calls.interval_s)
    state = rig.cycle()
    lists = frames(rig, Endpoint.CALL_LISTS)
    for cycle in (lists[:split], lists[split:]):
        assert [success for _, _, success in cycle] == [False] + [True] * (len(cycle) - 1)
        assert all(page[:2] == (cycle[0][0], cycle[0][1] - 20) for page in cycle[1:])
    sessions = rig.requests(Endpoint.CALL_SESSIONS)
    refused = [i for i, e in enumerate(sessions) if not e.success]
    assert 2 <= len(refused) == len(sessions) / 2, "each call's frame, once per cycle"
    for i in refused:
        refusal, again = sessions[i], sessions[i + 1]
        assert again.success
        assert again.params["call_id"] == refusal.params["call_id"]
        assert int(again.params["end_ts"]) == int(refusal.params["end_ts"]) - 20
    assert all(e.success for e in rig.requests(Endpoint.CALL_METRICS))
    assert state.calls
    assert any(call.samples for call in state.calls)
    # Nothing is fetched twice nor left out: each call's second frame starts where
    # its first (shrunk) one ended.
    for call in state.calls:
        asked = [
            (int(e.params["start_ts"]), int(e.params["end_ts"]))
            for e in rig.requests(Endpoint.CALL_METRICS)
            if e.params["call_id"] == call.call_id
        ]
        assert all(later[0] == earlier[1] + 1 for earlier, later in pairwise(asked))
