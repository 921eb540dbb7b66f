"""Call Inspector cycles against the simulator over loopback HTTP, with a real SQLite store.

Time is a ``FakeClock`` shared by the simulator and the exporter; every wait
for the ledger advances it, so per-second limits are honoured without sleeping.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.agora.limits import DAY, Budget, Endpoint
from exporter.calls.view import CallState
from exporter.catalog import calls as catalog
from exporter.simulator import Simulator
from exporter.store import Store
from exporter.store.calls import TrackedCall
from tests.calls.conftest import exposed
from tests.conftest import APPID

SERVER_PLATFORM = "Linux"


class RewritingTransport(httpx.BaseTransport):
    """Forwards to the simulator; adds series with unknown metric IDs to metrics answers."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.path != Endpoint.CALL_METRICS.value:
            return response
        body = json.loads(response.read())
        for session in body.get("metrics", []):
            session["data"] += [
                {"mid": 20012, "kvs": [[1, 1]], "peer_uid": 0},
                {"mid": 29999, "kvs": [[1, 1]], "peer_uid": 0},
            ]
        return httpx.Response(response.status_code, headers={}, json=body)

    def close(self) -> None:
        self._inner.close()


def truth(sim: Simulator, call: TrackedCall, sid: str, mid: int, peer: int, ts: int) -> float:
    """The simulator's value of one series at one sample time."""
    for found_mid, found_peer, kvs in sim.traffic.call_metrics(APPID, call.call_id, sid, ts, ts):
        if (found_mid, found_peer) == (mid, peer):
            [(at, value)] = kvs
            assert at == ts
            return float(value)
    raise AssertionError(f"the simulator has no sample {mid}/{peer} of {sid} at {ts}")


def newest_by_labels(state: CallState) -> dict[tuple[str, ...], tuple[int, float, int]]:
    """Per (appid, cname, uid, peer, mid): the newest stored sample's (ts, value, mid)."""
    best: dict[tuple[str, ...], tuple[int, float, int]] = {}
    for call in state.calls:
        uids = {s.sid: s.uid for s in call.sessions}
        for sample in call.samples:
            peer = "" if sample.peer_uid == 0 else str(sample.peer_uid)
            key = (call.appid, call.cname, str(uids[sample.sid]), peer, str(sample.mid))
            if key not in best or sample.ts > best[key][0]:
                best[key] = (sample.ts, sample.value, sample.mid)
    return best


# ---------------------------------------------------------------------------


def test_each_exposed_call_metric_equals_the_simulator_at_the_sample_shown(rigs: Any) -> None:
    rig = rigs({"enabled": True, "max_calls": 4, "max_sessions_per_call": 20})
    rig.cycle()
    rig.clock.advance(rig.plan.calls.interval_s)
    state = rig.cycle()
    assert state.calls
    assert any(call.samples for call in state.calls)
    for call in state.calls:
        for sample in call.samples:
            expected = truth(rig.sim, call, sample.sid, sample.mid, sample.peer_uid, sample.ts)
            assert sample.value == expected
    shown = exposed(state)
    newest = newest_by_labels(state)
    checked = 0
    for (appid, cname, uid, peer, mid), (ts, value, _) in newest.items():
        metric = catalog.CALL_METRICS.get(int(mid))
        if metric is None:
            assert shown[(catalog.UNDOCUMENTED_FAMILY, (appid, cname, uid, peer, mid))] == value
        else:
            assert shown[(metric.family, (appid, cname, uid, peer))] == pytest.approx(
                value * metric.scale
            )
        assert shown[(catalog.SAMPLE_TIMESTAMP.name, (appid, cname, uid))] >= ts
        checked += 1
    assert checked > 100
    assert not rig.sim.refused()


def test_peer_uid_is_empty_for_own_metrics_and_the_sender_for_received_ones(rigs: Any) -> None:
    rig = rigs({"enabled": True, "max_calls": 3})
    rig.cycle()
    shown = exposed(rig.cycle())
    own = catalog.CALL_METRICS[20001].family  # app CPU: the user's own
    received = catalog.CALL_METRICS[20009].family  # video received: per sender
    assert all(labels[3] == "" for name, labels in shown if name == own)
    peers = [labels for name, labels in shown if name == received]
    assert peers
    assert all(labels[3] not in ("", "0", labels[2]) for labels in peers)


def test_a_cycle_pages_through_more_than_a_hundred_calls_and_sessions(rigs: Any) -> None:
    calls = {"enabled": True, "max_calls": 12}
    rig = rigs(calls, page_size=3, calls_per_hour=300, max_kvs_per_series=10)
    state = rig.cycle()
    pages = [int(entry.params["page_no"]) for entry in rig.requests(Endpoint.CALL_LISTS)]
    assert max(pages) >= 2
    assert all(e.params["page_size"] == "100" for e in rig.requests(Endpoint.CALL_LISTS))
    frame_end = int(rig.requests(Endpoint.CALL_LISTS)[0].params["end_ts"])
    frame_start = int(rig.requests(Endpoint.CALL_LISTS)[0].params["start_ts"])
    listed = rig.sim.traffic.calls(APPID, frame_start, frame_end)
    assert len(listed) > 100
    # The clock moved while the ledger paced the requests: count what was ongoing at the search.
    searched_at = rig.requests(Endpoint.CALL_LISTS)[0].at
    ongoing = [c for c in listed if not c.finished or c.destroyed_ts > searched_at]
    assert state.ongoing[APPID] == len(ongoing)
    session_pages = Counter(
        entry.params["call_id"] for entry in rig.requests(Endpoint.CALL_SESSIONS)
    )
    assert max(session_pages.values()) >= 2
    checked = 0
    for call in state.calls:
        asked = [
            e for e in rig.requests(Endpoint.CALL_SESSIONS) if e.params["call_id"] == call.call_id
        ]
        if not asked:
            continue
        start, end = int(asked[0].params["start_ts"]), int(asked[0].params["end_ts"])
        expected = {
            s.sid
            for s in rig.sim.traffic.sessions(APPID, call.call_id)
            if s.platform != SERVER_PLATFORM and s.join_ts <= end and s.leave_ts >= start
        }
        assert {s.sid for s in call.sessions} == expected
        checked += len(expected)
    assert checked > 12
    assert not rig.sim.refused()


def test_caps_hold_with_a_thousand_calls_and_the_counters_say_what_was_left_out(
    rigs: Any,
) -> None:
    calls = {"enabled": True, "max_calls": 5, "max_sessions_per_call": 2}
    rig = rigs(calls, calls_per_hour=1000, max_kvs_per_series=10)
    state = rig.cycle()
    [search, *_] = rig.requests(Endpoint.CALL_LISTS)
    now = search.at
    listed = rig.sim.traffic.calls(
        APPID, int(search.params["start_ts"]), int(search.params["end_ts"])
    )
    returned = listed[:1000]  # the simulator's call_list_cap
    ongoing = [c for c in returned if not c.finished or c.destroyed_ts > now]
    assert len(ongoing) > 100
    assert state.ongoing[APPID] == len(ongoing)
    assert len(state.calls) == 5
    assert state.skipped["max_calls"] == len(ongoing) - 5
    left_out = 0
    for call in state.calls:
        assert len(call.sessions) <= 2
        [asked, *_] = [
            e for e in rig.requests(Endpoint.CALL_SESSIONS) if e.params["call_id"] == call.call_id
        ]
        start, end = int(asked.params["start_ts"]), int(asked.params["end_ts"])
        overlapping = [
            s
            for s in rig.sim.traffic.sessions(APPID, call.call_id)
            if s.platform != SERVER_PLATFORM and s.join_ts <= end and s.leave_ts >= start
        ]
        left_out += max(0, len(overlapping) - 2)
    assert state.skipped["max_sessions_per_call"] == left_out > 0
    users = {labels[:3] for name, labels in exposed(state) if name.startswith("agora_call_")}
    assert len(users) <= 5 * 2
    shown = exposed(state)
    assert shown[("agora_exporter_calls_skipped_total", ("max_calls",))] == len(ongoing) - 5
    assert shown[("agora_calls_inspected", (APPID,))] == 5


def test_the_call_budgets_are_never_exceeded_with_a_low_daily_limit(rigs: Any) -> None:
    quota = {"call_details": {"per_day": 25}, "call_lists": {"per_day": 40}}
    calls = {"enabled": True, "max_calls": 2, "max_sessions_per_call": 20}
    rig = rigs(calls, quota=quota, max_kvs_per_series=10)
    start = rig.clock()
    # Cycles far more often than planned: only the ledger stands between them and the limit.
    while rig.clock() < start + 1.5 * DAY:
        rig.inspector.run_cycle()
        rig.clock.advance(1800)
    assert not rig.sim.refused()
    for budget, limit in ((Budget.CALL_DETAILS, 25), (Budget.CALL_LISTS, 40)):
        endpoints = {e.value for e in Endpoint if e.budget is budget}
        times = sorted(e.at for e in rig.sim.requests() if e.path in endpoints)
        assert len(times) > limit
        assert max(sum(1 for t in times if s - DAY < t <= s) for s in times) <= limit
    # Cycles that found the budget spent stopped and said so.
    errors = [entry.outcome for entry in rig.stats.snapshot().recent_errors]
    assert "quota_exhausted" in errors


def test_paging_bursts_wait_for_the_per_second_limit(rigs: Any) -> None:
    quota = {"call_lists": {"per_second": 1}, "call_details": {"per_second": 1}}
    rig = rigs({"enabled": True, "max_calls": 3}, quota=quota, calls_per_hour=300)
    rig.cycle()
    assert not rig.sim.refused()
    for budget in (Budget.CALL_LISTS, Budget.CALL_DETAILS):
        endpoints = {e.value for e in Endpoint if e.budget is budget}
        times = sorted(e.at for e in rig.sim.requests() if e.path in endpoints)
        assert len(times) >= 2
        assert all(later - earlier >= 1 for earlier, later in pairwise(times))


def test_nothing_is_fetched_twice(rigs: Any) -> None:
    rig = rigs({"enabled": True, "max_calls": 3})
    for _ in range(3):
        rig.cycle()
        rig.clock.advance(rig.plan.calls.interval_s)
    frames: dict[str, list[tuple[int, int]]] = {}
    for entry in rig.requests(Endpoint.CALL_METRICS):
        frames.setdefault(entry.params["call_id"], []).append(
            (int(entry.params["start_ts"]), int(entry.params["end_ts"]))
        )
    assert any(len(spans) >= 2 for spans in frames.values())
    for spans in frames.values():
        for (_, end), (start, _) in pairwise(spans):
            assert start == end + 1
    searches = [
        (int(e.params["start_ts"]), int(e.params["end_ts"]))
        for e in rig.requests(Endpoint.CALL_LISTS)
    ]
    assert all(later[0] >= earlier[0] for earlier, later in pairwise(searches))
    assert searches[-1][0] > searches[0][0]


def test_a_finished_calls_series_go_after_its_last_window_is_shown(rigs: Any) -> None:
    rig = rigs({"enabled": True, "max_calls": 1, "max_sessions_per_call": 20})
    state = rig.cycle()
    [first] = state.calls
    for _ in range(80):
        rig.clock.advance(rig.plan.calls.interval_s)
        state = rig.cycle()
        call = next((c for c in state.calls if c.call_id == first.call_id), None)
        assert call is not None, "the call went before its last window was shown"
        if call.done_at is not None:
            break
    else:
        raise AssertionError("the call never finished")
    assert call.finished
    assert call.destroyed_ts is not None
    assert max(sample.ts for sample in call.samples) >= call.destroyed_ts - 2
    shown = exposed(state)
    uids = {str(s.uid) for s in call.sessions}
    assert any(labels[1] == call.cname and labels[2] in uids for _, labels in shown)
    rig.clock.advance(rig.plan.calls.interval_s)
    state = rig.cycle()
    assert first.call_id not in {c.call_id for c in state.calls}
    assert rig.store.calls.get(APPID, first.call_id) is None
    shown = exposed(state)
    assert not any(
        name.startswith("agora_call_") and labels[1] == call.cname and labels[2] in uids
        for name, labels in shown
    )


def test_unknown_metric_ids_are_counted_not_exposed(rigs: Any) -> None:
    rig = rigs({"enabled": True, "max_calls": 2}, transport=RewritingTransport())
    rig.cycle()
    state = rig.cycle()
    assert state.unknown_mids[20012] > 0
    assert state.unknown_mids[20012] == state.unknown_mids[29999]
    shown = exposed(state)
    assert shown[("agora_exporter_call_metrics_unknown_total", ("29999",))] > 0
    undocumented = [labels[-1] for name, labels in shown if name == catalog.UNDOCUMENTED_FAMILY]
    assert undocumented
    assert not {"20012", "29999"} & set(undocumented)


def test_only_the_watched_channels_are_searched(rigs: Any) -> None:
    rig = rigs({"enabled": True, "channels": ["lobby"], "max_calls": 5})
    state = rig.cycle()
    assert {e.params.get("cname") for e in rig.requests(Endpoint.CALL_LISTS)} == {"lobby"}
    assert all(call.cname == "lobby" for call in state.calls)


def test_a_restart_keeps_cursors_and_inspected_calls(rigs: Any, tmp_path: Path) -> None:
    rig = rigs({"enabled": True, "max_calls": 2})
    state = rig.cycle()
    assert state.calls
    before = {c.call_id: c.cursor for c in rig.store.calls.tracked()}
    rig.store.close()
    with Store(rig.store.path.parent, clock=rig.clock) as reopened:
        assert {c.call_id: c.cursor for c in reopened.calls.tracked()} == before
        assert reopened.calls.list_cursor(f"{APPID}/") is not None
        assert [c.samples for c in reopened.calls.tracked()] == [c.samples for c in state.calls]
