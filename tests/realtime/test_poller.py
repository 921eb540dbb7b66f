"""One poll at a time, on a fake clock shared with the simulator, into a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from exporter.agora import AgoraClient
from exporter.agora.limits import Budget, Plan, limits_for
from exporter.catalog.realtime import Scope
from exporter.quota.context import PollContext
from exporter.quota.error_rules import AUTH_PAUSE_S, BACKOFF_S
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.rules import QuotaOverride, apply_override
from exporter.quota.series_poller import PollStatus as Status
from exporter.realtime.poller import BACKFILL_MARGIN_S, Poller
from exporter.realtime.series import Series
from exporter.simulator import Fault, Simulator
from exporter.store import Store
from exporter.timing.windows import WINDOW_S, newest_complete_end, oldest_available_start
from tests.fakes import FakeClock, FakeSleep

APPID = "0123456789abcdef0123456789abcdef"
T0 = 1_764_000_000.0
USERS = Series(APPID, "Native", "userCount", Scope.PROJECT)
FREEZE = Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT)
LOBBY_UIDS = Series(APPID, "Native", "videoFreezeRate", Scope.USER, "lobby", (1001, 4294967296))


@dataclass
class Rig:
    clock: FakeClock
    sim: Simulator
    store: Store
    poller: Poller
    sleep: FakeSleep
    stats: RuntimeStats


def _rig(tmp_path: Path, *, secret: str = "poller-secret", per_minute: int = 10) -> Iterator[Rig]:
    clock = FakeClock(T0)
    sleep = FakeSleep(clock)
    stats = RuntimeStats()
    limits = apply_override(
        limits_for(Plan.ENTERPRISE, Budget.REALTIME),  # type: ignore[arg-type]
        QuotaOverride(per_minute=per_minute),
    )
    with (
        Simulator(
            plan="enterprise",
            customer_id="poller",
            customer_secret="poller-secret",
            seed=5,
            clock=clock,
        ) as sim,
        Store(tmp_path / "state", clock=clock) as store,
        AgoraClient(
            base_url=sim.base_url,
            customer_id=SecretStr("poller"),
            customer_secret=SecretStr(secret),
            timeout_s=5,
        ) as client,
    ):
        sim.set_quota(Budget.REALTIME, per_minute=per_minute)
        poller = Poller(
            PollContext.build(
                client=client,
                store=store,
                limits={Budget.REALTIME: limits},
                stats=stats,
                clock=clock,
                sleep=sleep,
            )
        )
        yield Rig(clock, sim, store, poller, sleep, stats)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _rig(tmp_path)


def _stored(rig: Rig, series: Series, uid: int | None = None) -> dict[int, float]:
    data = rig.store.snapshot().get(series.key)
    return {} if data is None else dict(data.values.get(uid, {}))


def test_first_poll_backfills_every_window_of_the_horizon_with_the_simulators_values(
    rig: Rig,
) -> None:
    result = rig.poller.poll(USERS)
    assert result.status is Status.FETCHED
    stored = _stored(rig, USERS)
    # One window inside the horizon's edge (BACKFILL_MARGIN_S), so transit time cannot push it out.
    first = oldest_available_start(T0, 3600) + BACKFILL_MARGIN_S
    end = newest_complete_end(T0, 20)
    assert sorted(stored) == list(range(first, end, WINDOW_S))
    for ts, value in stored.items():
        assert value == rig.sim.traffic.realtime(APPID, "Native", "userCount", ts)
    assert rig.store.cursor(USERS.key) == end


def test_polls_neither_gap_nor_overlap_as_time_moves_on(rig: Rig) -> None:
    for _ in range(6):
        rig.poller.poll(FREEZE)
        rig.clock.advance(400)
    stored = sorted(_stored(rig, FREEZE))
    assert stored == list(range(stored[0], stored[-1] + WINDOW_S, WINDOW_S))
    assert len(rig.sim.requests()) == 6


def test_per_uid_series_store_each_uid_including_one_beyond_two_to_the_32(rig: Rig) -> None:
    assert rig.poller.poll(LOBBY_UIDS).status is Status.FETCHED
    for uid in LOBBY_UIDS.uids:
        stored = _stored(rig, LOBBY_UIDS, uid)
        assert stored, uid
        ts, value = max(stored.items())
        expected = rig.sim.traffic.realtime(APPID, "Native", "videoFreezeRate", ts, "lobby", uid)
        assert value == expected


def test_an_outage_shorter_than_the_horizon_is_backfilled_without_missing_a_window(
    rig: Rig,
) -> None:
    rig.poller.poll(USERS)
    before = rig.store.cursor(USERS.key)
    rig.clock.advance(50 * 60)
    rig.poller.poll(USERS)
    stored = _stored(rig, USERS)
    assert before in stored
    assert rig.store.snapshot().windows_missed_total == 0


def test_an_outage_longer_than_the_horizon_counts_the_windows_missed(rig: Rig) -> None:
    rig.poller.poll(USERS)
    cursor = rig.store.cursor(USERS.key)
    assert cursor is not None
    rig.clock.advance(2 * 3600)
    rig.poller.poll(USERS)
    expected = (oldest_available_start(rig.clock(), 3600) - cursor) // WINDOW_S
    assert rig.store.snapshot().windows_missed_total == expected > 0


def test_windows_a_poll_lost_to_the_horizon_while_backing_off_are_not_asked_for(
    rig: Rig,
) -> None:
    rig.clock.set(T0 + 15)  # the oldest window still asked for is 5 s inside the horizon
    edge = oldest_available_start(rig.clock(), 3600)
    assert 0 < edge - (rig.clock() - 3600) < sum(BACKOFF_S)
    rig.store.commit_poll(USERS.key, [], cursor=edge)
    rig.sim.faults.inject(Fault.HTML_500, times=3)  # 1 + 3 + 6 s of back-off
    assert rig.poller.poll(USERS).status is Status.FETCHED
    refused = [one.message for one in rig.sim.refused() if one.fault is None]
    assert refused == [], "the window that fell out was not sent to be refused"
    assert len(rig.sim.requests()) == 4
    assert min(_stored(rig, USERS)) == edge + WINDOW_S
    assert rig.store.snapshot().windows_missed_total == 1


def test_rate_limited_poll_keeps_cursor_and_retries_later(rig: Rig) -> None:
    rig.sim.faults.inject(Fault.CODE_300, message="qpm limit error")
    result = rig.poller.poll(USERS)
    assert result.status is Status.DEFERRED
    assert result.retry_at is not None
    assert result.retry_at >= T0 + 60
    assert rig.store.cursor(USERS.key) is None


def test_the_ledger_holds_back_a_request_that_would_break_the_per_minute_limit(
    tmp_path: Path,
) -> None:
    for rig in _rig(tmp_path, per_minute=2):
        assert rig.poller.poll(USERS).status is Status.FETCHED
        assert rig.poller.poll(FREEZE).status is Status.FETCHED
        result = rig.poller.poll(LOBBY_UIDS)
        assert result.status is Status.DEFERRED
        assert result.retry_at == pytest.approx(T0 + 60)
        assert len(rig.sim.requests()) == 2
        assert rig.sim.refused() == []


def test_server_errors_back_off_one_three_six_seconds_then_fail_keeping_the_cursor(
    rig: Rig,
) -> None:
    rig.sim.faults.inject(Fault.HTML_500, times=4)
    result = rig.poller.poll(USERS)
    assert result.status is Status.FAILED
    assert rig.sleep.waits == list(BACKOFF_S)
    assert rig.store.cursor(USERS.key) is None
    assert rig.stats.snapshot().up == {APPID: False}


def test_a_server_error_then_success_fetches_after_one_backoff(rig: Rig) -> None:
    rig.sim.faults.inject(Fault.HTML_500, times=1)
    assert rig.poller.poll(USERS).status is Status.FETCHED
    assert rig.sleep.waits == [BACKOFF_S[0]]
    assert rig.stats.snapshot().up == {APPID: True}


def test_a_latency_refusal_clamps_the_window_and_retries_once(rig: Rig) -> None:
    rig.sim.faults.inject(Fault.CODE_300, message="query latency limit error")
    assert rig.poller.poll(USERS).status is Status.FETCHED
    assert len(rig.sim.requests()) == 2


def test_bad_credentials_pause_the_app_and_retry_only_after_the_pause(tmp_path: Path) -> None:
    for rig in _rig(tmp_path, secret="wrong-secret"):
        first = rig.poller.poll(USERS)
        assert first.status is Status.FAILED
        assert rig.poller.poll(FREEZE).status is Status.PAUSED
        assert len(rig.sim.requests()) == 1
        assert rig.stats.snapshot().up == {APPID: False}
        assert "wrong-secret" not in (first.error or "")
        rig.clock.advance(AUTH_PAUSE_S + 1)
        assert rig.poller.poll(FREEZE).status is Status.FAILED
        assert len(rig.sim.requests()) == 2


def test_a_window_the_api_left_out_stays_absent(rig: Rig) -> None:
    webrtc_audio = Series(APPID, "WebRTC", "audioFreezeRate", Scope.PROJECT)
    assert rig.poller.poll(webrtc_audio).status is Status.FETCHED
    assert _stored(rig, webrtc_audio) == {}
    assert rig.store.cursor(webrtc_audio.key) == newest_complete_end(T0, 20)


def test_a_poll_tells_the_range_it_fetched_and_its_first_and_newest_windows_with_users(
    rig: Rig,
) -> None:
    result = rig.poller.poll(USERS)
    stored = _stored(rig, USERS)
    busy = [ts for ts, value in stored.items() if value > 0]
    assert result.frame is not None
    assert (result.frame.start, result.frame.end) == (min(stored), rig.store.cursor(USERS.key))
    assert (result.first_busy_ts, result.busy_ts) == (min(busy), max(busy))


def test_skipping_a_quiet_stretch_moves_the_cursor_without_a_request_or_a_miss(rig: Rig) -> None:
    rig.poller.poll(FREEZE)
    cursor = rig.store.cursor(FREEZE.key)
    assert cursor is not None
    rig.poller.skip_quiet(FREEZE, cursor - 200)  # never backwards
    assert rig.store.cursor(FREEZE.key) == cursor
    rig.poller.skip_quiet(FREEZE, cursor + 7200)
    assert rig.store.cursor(FREEZE.key) == cursor + 7200
    assert len(rig.sim.requests()) == 1
    assert rig.store.windows_missed_total == 0
