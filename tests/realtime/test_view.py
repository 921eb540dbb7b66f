"""Which window each series shows: replay walks through every window, latest shows the newest."""

from __future__ import annotations

import pytest

from exporter.catalog.realtime import Scope
from exporter.realtime.series import Series
from exporter.realtime.view import Mode, shown_windows
from tests.windowdata import FakeSeriesWindows, FakeWindowSource

APPID = "0123456789abcdef0123456789abcdef"
PROJECT = Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT)
USERS = Series(APPID, "Native", "audioFreezeRate", Scope.USER, "lobby", (1001, 4294967296))
T0 = 1_700_000_000  # a window boundary (divisible by 20)

STORED = FakeWindowSource(
    {
        PROJECT.key: FakeSeriesWindows({None: {T0: 0.01, T0 + 20: 0.02, T0 + 60: 0.04}}),
        USERS.key: FakeSeriesWindows({1001: {T0: 0.1}, 4294967296: {T0: 0.2, T0 + 20: 0.3}}),
    }
)


def _shown(now: float, mode: Mode, lag: float = 100.0) -> dict[tuple[str, int | None], tuple]:
    return {
        (s.series.key, s.uid): (s.window_ts, s.value)
        for s in shown_windows([PROJECT, USERS], STORED, now=now, mode=mode, lag_s=lambda _: lag)
    }


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(T0 + 100, (T0, 0.01), id="at lag past a window it shows that window"),
        pytest.param(T0 + 119.9, (T0, 0.01), id="until the next boundary it keeps showing it"),
        pytest.param(T0 + 120, (T0 + 20, 0.02), id="one window later it shows the next one"),
        pytest.param(T0 + 140, None, id="a window the api did not return is absent not zero"),
        pytest.param(T0 + 160, (T0 + 60, 0.04), id="after the gap it resumes"),
        pytest.param(T0 + 99, None, id="before the first window is due nothing is shown"),
    ],
)
def test_replay_shows_the_window_started_lag_ago(now: float, expected: tuple | None) -> None:
    assert _shown(now, Mode.REPLAY).get((PROJECT.key, None)) == expected


def test_replay_shows_each_uid_its_own_window_and_omits_missing_ones() -> None:
    shown = _shown(T0 + 120, Mode.REPLAY)
    assert shown[(USERS.key, 4294967296)] == (T0 + 20, 0.3)
    assert (USERS.key, 1001) not in shown


def test_latest_shows_the_newest_window_whatever_the_time() -> None:
    shown = _shown(T0 + 10_000, Mode.LATEST)
    assert shown[(PROJECT.key, None)] == (T0 + 60, 0.04)
    assert shown[(USERS.key, 1001)] == (T0, 0.1)


def test_an_empty_store_shows_nothing() -> None:
    empty = FakeWindowSource({})
    assert list(shown_windows([PROJECT], empty, now=T0, mode=Mode.REPLAY, lag_s=lambda _: 0)) == []


def test_each_series_replays_at_the_lag_of_its_own_interval() -> None:
    lags = {PROJECT.key: 100.0, USERS.key: 120.0}
    shown = {
        (one.series.key, one.uid): one.window_ts
        for one in shown_windows(
            [PROJECT, USERS], STORED, now=T0 + 120, mode=Mode.REPLAY, lag_s=lambda s: lags[s.key]
        )
    }
    assert shown == {
        (PROJECT.key, None): T0 + 20,
        (USERS.key, 1001): T0,
        (USERS.key, 4294967296): T0,
    }
