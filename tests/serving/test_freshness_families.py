"""The freshness families: one series per request shape, whatever its uids, with its own
poll interval from the plan's timing."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from prometheus_client.core import Metric

from exporter.agora.limits import Budget, Plan, limits_for
from exporter.catalog.own import NEWEST_WINDOW_TIMESTAMP, SHAPE_POLL_INTERVAL, WINDOW_TIMESTAMP
from exporter.catalog.realtime import Scope
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.series import Series
from exporter.realtime.view import Mode, SeriesTiming
from exporter.serving.collector import BudgetState, CollectorInput, realtime_families
from tests.windowdata import FakeSeriesWindows, FakeWindowSource

APPID = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000
PROJECT = Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT)
CHANNEL = Series(APPID, "Native", "audioFreezeRate", Scope.CHANNEL, "lobby")
USERS = Series(APPID, "Native", "audioFreezeRate", Scope.USER, "lobby", (1001, 1002, 1003))
BUDGET_INTERVAL_S, BUDGET_LAG_S = 1_300, 1_340


def _input(
    windows: Mapping[str, FakeSeriesWindows],
    *,
    now: float = T0 + 400,
    mode: Mode = Mode.REPLAY,
    timing: Mapping[str, SeriesTiming] | None = None,
) -> CollectorInput:
    limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
    assert limits is not None
    budget = BudgetState(limits, BUDGET_INTERVAL_S, BUDGET_LAG_S, {"minute": 0, "day": 0})
    return CollectorInput(
        now=now,
        series=[PROJECT, CHANNEL, USERS],
        budgets={Budget.REALTIME: budget},
        windows=FakeWindowSource(dict(windows)),
        windows_missed_total=0,
        stats=RuntimeStats().snapshot(),
        mode=mode,
        timing={} if timing is None else dict(timing),
    )


def _family(data: CollectorInput, name: str) -> dict[tuple[str, ...], float]:
    found: dict[str, Metric] = {one.name: one for one in realtime_families(data)}
    labels = list(WINDOW_TIMESTAMP.labels)
    return {
        tuple(sample.labels[label] for label in labels): sample.value
        for sample in found[name.removesuffix("_total")].samples
    }


def _shape(series: Series) -> tuple[str, ...]:
    uids = ",".join(str(uid) for uid in series.uids)
    return (APPID, "Native", series.scope.value, series.cname or "", uids, series.metric)


EVERY_WINDOW = {
    PROJECT.key: FakeSeriesWindows({None: {T0: 0.01, T0 + 20: 0.02}}),
    CHANNEL.key: FakeSeriesWindows({None: {T0: 0.03}}),
    USERS.key: FakeSeriesWindows({1001: {T0: 0.1, T0 + 20: 0.2}, 1002: {T0: 0.3}}),
}
LAGS = {
    PROJECT.key: SeriesTiming(340, 380),  # replay at T0 + 400 shows T0 + 20
    USERS.key: SeriesTiming(1_300, 400),  # ... and T0
}


@pytest.mark.parametrize(
    "name", [NEWEST_WINDOW_TIMESTAMP.name, SHAPE_POLL_INTERVAL.name, WINDOW_TIMESTAMP.name]
)
def test_each_freshness_family_has_one_series_per_request_shape_not_per_uid(name: str) -> None:
    shown = _family(_input(EVERY_WINDOW, mode=Mode.LATEST, timing=LAGS), name)
    assert set(shown) == {_shape(PROJECT), _shape(CHANNEL), _shape(USERS)}


def test_each_shape_shows_the_window_its_own_lag_replays_and_its_newest_window() -> None:
    data = _input(EVERY_WINDOW, timing=LAGS)
    # CHANNEL has no timing: the budget's lag replays T0 - 940, a window it does not hold
    assert _family(data, WINDOW_TIMESTAMP.name) == {_shape(PROJECT): T0 + 20, _shape(USERS): T0}
    assert _family(data, NEWEST_WINDOW_TIMESTAMP.name) == {
        _shape(PROJECT): T0 + 20,
        _shape(CHANNEL): T0,
        _shape(USERS): T0 + 20,  # the newest of any of its uids
    }


def test_each_shape_shows_its_own_poll_interval_and_the_budgets_when_the_plan_has_none() -> None:
    assert _family(_input(EVERY_WINDOW, timing=LAGS), SHAPE_POLL_INTERVAL.name) == {
        _shape(PROJECT): 340,
        _shape(CHANNEL): BUDGET_INTERVAL_S,
        _shape(USERS): 1_300,
    }


def test_a_shape_none_of_whose_uids_has_the_replayed_window_shows_none_but_stays_fresh() -> None:
    windows = {USERS.key: FakeSeriesWindows({1001: {T0 + 20: 0.2}, 1002: {T0 + 40: 0.3}})}
    data = _input(windows, timing={USERS.key: SeriesTiming(1_300, 400)})  # replays T0
    assert _shape(USERS) not in _family(data, WINDOW_TIMESTAMP.name)
    assert _family(data, NEWEST_WINDOW_TIMESTAMP.name) == {_shape(USERS): T0 + 40}
    assert _shape(USERS) in _family(data, SHAPE_POLL_INTERVAL.name), "polled, so planned"


def test_a_quiet_shape_whose_polls_are_answered_shows_the_newest_window_fetched() -> None:
    windows = {CHANNEL.key: FakeSeriesWindows({None: {T0: 0.03}}, fetched=T0 + 360)}
    data = _input(windows, timing=LAGS)
    assert _family(data, NEWEST_WINDOW_TIMESTAMP.name) == {_shape(CHANNEL): T0 + 360}


def test_a_shape_never_fetched_shows_only_its_poll_interval() -> None:
    data = _input({}, timing=LAGS)
    assert _family(data, WINDOW_TIMESTAMP.name) == {}
    assert _family(data, NEWEST_WINDOW_TIMESTAMP.name) == {}
    assert len(_family(data, SHAPE_POLL_INTERVAL.name)) == 3


def test_in_latest_mode_a_shape_shows_the_newest_window_any_of_its_uids_shows() -> None:
    data = _input(EVERY_WINDOW, mode=Mode.LATEST, timing=LAGS)
    assert _family(data, WINDOW_TIMESTAMP.name)[_shape(USERS)] == T0 + 20
