"""The store keeps the hour in its file and only what a scrape can show in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.backfill.reader import read_history
from exporter.scheduling.planner import make_plan
from exporter.settings import load_settings
from exporter.store import Store, WindowRow
from exporter.store.sqlite import WINDOW_SLACK_S
from exporter.timing.windows import WINDOW_S, replay_window
from tests.fakes import FakeClock

NOW = 1_700_000_000  # a window boundary
KEY = "realtime_quality|appid|Native|audioFreezeRate|channel|room"
HOUR = 180  # windows


def hour(*, uid: int | None = None, end: int = NOW, count: int = HOUR) -> list[WindowRow]:
    """``count`` windows ending just before ``end``, valued by their start."""
    return [WindowRow(ts, ts / 1e9, uid) for ts in range(end - 20 * count, end, 20)]


def in_memory(store: Store, uid: int | None = None) -> list[int]:
    found = store.snapshot().get(KEY)
    assert found is not None
    return sorted(found.values.get(uid, {}))


def on_disk(state_dir: Path, uid: int | None = None) -> list[int]:
    found = read_history(state_dir).windows.get(KEY)
    assert found is not None
    return sorted(found.values.get(uid, {}))


def test_memory_keeps_the_last_memory_s_and_the_file_keeps_the_hour(tmp_path: Path) -> None:
    with Store(tmp_path, clock=FakeClock(NOW), memory_s=200) as store:
        store.commit_poll(KEY, hour(uid=7), cursor=NOW)
        assert in_memory(store, 7) == list(range(NOW - 200, NOW, 20))
        assert len(on_disk(tmp_path, 7)) == HOUR


def test_a_uid_gone_quiet_keeps_its_newest_window_however_old(tmp_path: Path) -> None:
    quiet = hour(uid=8, end=NOW - 1200, count=10)
    with Store(tmp_path, clock=FakeClock(NOW), memory_s=200) as store:
        store.commit_poll(KEY, [*hour(uid=7), *quiet], cursor=NOW)
        assert in_memory(store, 8) == [quiet[-1].ts]
        data = store.snapshot().get(KEY)
        assert data is not None
        assert data.newest(8) == (quiet[-1].ts, quiet[-1].value)


def test_a_restart_reads_back_what_memory_held_and_no_more(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock, memory_s=200) as store:
        store.commit_poll(KEY, [*hour(uid=7), *hour(uid=8, end=NOW - 1200, count=10)], cursor=NOW)
        before = store.snapshot().get(KEY)
    with Store(tmp_path, clock=clock, memory_s=200) as store:
        after = store.snapshot().get(KEY)
    assert before is not None
    assert after is not None
    assert {uid: dict(one) for uid, one in after.values.items()} == {
        uid: dict(one) for uid, one in before.values.items()
    }


@pytest.mark.parametrize(
    ("longer", "kept"),
    [(600, 30), (None, HOUR)],
    ids=["a longer memory reads its windows back", "no limit reads the whole hour back"],
)
def test_asking_for_more_memory_reads_older_windows_back_from_the_file(
    tmp_path: Path, longer: int | None, kept: int
) -> None:
    with Store(tmp_path, clock=FakeClock(NOW), memory_s=200) as store:
        store.commit_poll(KEY, hour(uid=7), cursor=NOW)
        before = store.snapshot()
        store.keep_in_memory(longer)
        assert in_memory(store, 7) == list(range(NOW - 20 * kept, NOW, 20))
        assert store.snapshot() is not before  # a new snapshot: the exposition renders again


def test_asking_for_less_memory_lets_go_at_the_next_prune(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock) as store:
        store.commit_poll(KEY, hour(), cursor=NOW)
        store.keep_in_memory(200)
        assert len(in_memory(store)) == HOUR
        store.prune(clock())
        assert in_memory(store) == list(range(NOW - 200, NOW, 20))
        assert len(on_disk(tmp_path)) == HOUR


def test_time_passing_moves_memory_on_and_the_file_keeps_its_horizon(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock, horizon_s=3600, memory_s=200) as store:
        store.commit_poll(KEY, hour(), cursor=NOW)
        clock.advance(600)
        store.commit_poll(KEY, hour(end=NOW + 600, count=30), cursor=NOW + 600)
        assert in_memory(store) == list(range(NOW + 400, NOW + 600, 20))
        clock.advance(3600)
        store.prune(clock())
        assert in_memory(store) == [NOW + 580]  # the newest stays
        oldest_on_disk = clock() - 3600 - WINDOW_SLACK_S  # the horizon, and some slack
        assert on_disk(tmp_path) == list(range(int(oldest_on_disk), NOW + 600, 20))


@pytest.mark.parametrize(
    "plan",
    ["enterprise", "premium"],
    ids=["on enterprise memory covers every replayed window", "on premium too"],
)
@pytest.mark.parametrize("offset", [0.0, 0.5, 19.99], ids=["at a boundary", "", "just before one"])
def test_memory_covers_the_window_every_series_replays(plan: str, offset: float) -> None:
    channels = [{"cname": "room", "uids": [1, 2]}]
    settings = load_settings(
        None,
        environ={},
        overrides={
            "agora": {"customer_id": "c", "customer_secret": "s", "plan": plan},
            "state_dir": "/nonexistent",
            "apps": [
                {
                    "appid": "0123456789abcdef0123456789abcdef",
                    "realtime": {"quality": ["audioFreezeRate"], "channels": channels},
                }
            ],
        },
    )
    plan_made = make_plan(settings)
    now = NOW + offset
    for one in plan_made.series:
        shown = replay_window(now, plan_made.lag_s(one.budget))
        assert shown >= now - plan_made.memory_s + WINDOW_S  # a window of margin, at least


def test_letting_go_of_old_windows_keeps_the_version_and_a_fetch_makes_a_new_one(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock) as store:
        store.commit_poll(KEY, [*hour(uid=7), *hour(uid=8, end=NOW - 1200, count=10)], cursor=NOW)
        fetched = store.snapshot().get(KEY)
        store.keep_in_memory(200)
        store.prune(clock())
        trimmed = store.snapshot().get(KEY)
        store.commit_poll(KEY, hour(uid=7, end=NOW + 20, count=1), cursor=NOW + 20)
        refetched = store.snapshot().get(KEY)
    assert fetched is not None and trimmed is not None and refetched is not None  # noqa: PT018
    assert trimmed is not fetched
    assert trimmed.version is fetched.version
    assert refetched.version is not trimmed.version


def test_a_uid_leaving_with_the_horizon_makes_a_new_version(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock, horizon_s=3600) as store:
        store.commit_poll(KEY, [*hour(uid=7), *hour(uid=8, end=NOW - 1200, count=10)], cursor=NOW)
        before = store.snapshot().get(KEY)
        clock.advance(3600 + WINDOW_SLACK_S - 600)  # uid 8's windows leave the file, 7's stay
        store.prune(clock())
        after = store.snapshot().get(KEY)
    assert before is not None and after is not None  # noqa: PT018
    assert set(after.values) == {7}
    assert after.version is not before.version
