"""Call searches Agora answers only in part (``has_more``): narrowed until complete.

The simulator caps each search at ``call_list_cap`` calls (newest first) and
says ``has_more`` when it matched more, as the reference describes; the
inspector must still find every ongoing call of the watched channels, within
the plan's page allowance, and count what it could not list.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

from exporter.agora.limits import Endpoint
from exporter.calls.frames import Frame
from exporter.calls.gather import search_calls
from exporter.simulator import CallInfo
from tests.calls.conftest import Rig, exposed
from tests.conftest import APPID

ONE_SESSION = {"enabled": True, "max_sessions_per_call": 1}


def searched_frames(rig: Rig) -> list[tuple[str | None, int, int]]:
    return [
        (e.params.get("cname"), int(e.params["start_ts"]), int(e.params["end_ts"]))
        for e in rig.requests(Endpoint.CALL_LISTS)
    ]


def ongoing_at_the_end(rig: Rig, channels: list[str]) -> list[CallInfo]:
    """The calls of each search's frame still ongoing when the last search was answered."""
    last = rig.requests(Endpoint.CALL_LISTS)[-1].at
    found: dict[str, CallInfo] = {}
    for cname in channels or [None]:
        [start, end] = next(f[1:] for f in searched_frames(rig) if f[0] == cname)
        for call in rig.sim.traffic.calls(APPID, start, end, cname):
            if not call.finished or call.destroyed_ts > last:
                found[call.call_id] = call
    return list(found.values())


@pytest.mark.parametrize(
    ("channels", "per_hour", "cap"),
    [
        pytest.param([], 200, 40, id="every channel, 40 calls per search"),
        pytest.param(["standup-12", "townhall-02"], 600, 3, id="two channels, 3 per search"),
    ],
)
def test_every_ongoing_call_is_found_when_agora_lists_fewer_calls_than_are_ongoing(
    rigs: Any, channels: list[str], per_hour: int, cap: int
) -> None:
    calls = ONE_SESSION | {"max_calls": 200, "channels": channels}
    rig = rigs(calls, calls_per_hour=per_hour, call_list_cap=cap, max_kvs_per_series=4)
    state = rig.cycle()
    ongoing = ongoing_at_the_end(rig, channels)
    per_search = {c: sum(1 for o in ongoing if c in (None, o.cname)) for c in channels or [None]}
    assert min(per_search.values()) > cap, "each search matches more ongoing calls than it lists"
    assert {c.call_id for c in ongoing} <= {c.call_id for c in state.calls}
    assert state.ongoing[APPID] >= len(ongoing)
    assert state.skipped["search_cap"] == state.skipped["list_pages"] == 0
    frames = searched_frames(rig)
    assert len(frames) > len(per_search), "the searches were narrowed and sent again"
    pages = rig.plan.calls.pages_per_search
    for cname in per_search:
        mine = [f for f in frames if f[0] == cname]
        assert len(mine) <= pages, "within the page allowance"
        assert all(f[1] == mine[0][1] and f[2] <= mine[0][2] for f in mine), "narrowed"
    assert not rig.sim.refused()


def test_what_narrowing_could_not_list_within_the_page_allowance_is_counted(rigs: Any) -> None:
    rig = rigs(ONE_SESSION | {"max_calls": 5}, calls_per_hour=300, call_list_cap=20)
    state = rig.cycle()
    pages = rig.plan.calls.pages_per_search
    frames = searched_frames(rig)
    assert len(frames) == pages < 20
    assert state.skipped["search_cap"] == 1
    shown = exposed(state)
    assert shown[("agora_exporter_calls_skipped_total", ("search_cap",))] == 1
    # The next search starts no earlier than the oldest call listed (given up once).
    listed = [c for f in frames for c in rig.sim.traffic.calls(APPID, f[1], f[2])[:20]]
    cursor = rig.store.calls.list_cursor(f"{APPID}/")
    assert cursor is not None
    assert cursor >= min(c.created_ts for c in listed) > frames[0][1]


def _busy_second(rig: Rig, calls: int) -> int:
    """A second at which exactly ``calls`` calls started, in the last two hours."""
    now = int(rig.clock()) - 3600
    starts = Counter(c.created_ts for c in rig.sim.traffic.calls(APPID, now - 3600, now))
    return next(ts for ts, count in sorted(starts.items()) if count == calls)


def test_a_narrowed_search_lists_every_call_of_its_frame_once(rigs: Any) -> None:
    rig = rigs(ONE_SESSION, calls_per_hour=3000, call_list_cap=7)
    busy = _busy_second(rig, 2)
    frame = Frame(busy - 600, busy + 1)
    expected = {c.call_id for c in rig.sim.traffic.calls(APPID, frame.start, frame.end)}
    assert len(expected) > 7 * 50
    search = search_calls(rig.fetcher, APPID, None, frame, pages=1000)
    assert (search.complete, search.capped, search.unreached) == (True, False, 0)
    assert search.frame == frame
    assert sorted(c.call_id for c in search.calls) == sorted(expected)
    asked = searched_frames(rig)
    # Each search lists 7 calls, only those of the previous one's oldest second again.
    assert len(expected) / 7 < len(asked) < len(expected) / 3
    assert all(later[2] < earlier[2] for earlier, later in pairwise(asked))


def test_a_second_holding_more_calls_than_a_search_lists_is_left_out_once(rigs: Any) -> None:
    rig = rigs(ONE_SESSION, calls_per_hour=3000, call_list_cap=2)
    busy = _busy_second(rig, 3)
    frame = Frame(busy - 20, busy + 1)
    everything = rig.sim.traffic.calls(APPID, frame.start, frame.end)
    search = search_calls(rig.fetcher, APPID, None, frame, pages=1000)
    assert (search.complete, search.capped) == (False, True)
    listed = {c.call_id for c in search.calls}
    older = {c.call_id for c in everything if c.created_ts < busy}
    assert older <= listed
    assert len(listed - older) == 2, "two of the busy second's three calls"
    assert [f[2] for f in searched_frames(rig)][:2] == [busy + 1, busy]


def test_a_search_stops_at_its_page_allowance(rigs: Any) -> None:
    rig = rigs(ONE_SESSION, calls_per_hour=3000, call_list_cap=5)
    frame = Frame(int(rig.clock()) - 7200, int(rig.clock()) - 3600)
    search = search_calls(rig.fetcher, APPID, None, frame, pages=4)
    assert (search.complete, search.capped, search.unreached) == (False, True, 0)
    assert len(searched_frames(rig)) == 4
    assert 4 * 4 <= len(search.calls) <= 4 * 5
