"""The 20-second window maths: boundaries, the API's strict limits, query ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.agora.limits import Budget, Limits, Plan, limits_for
from exporter.timing.windows import (
    WINDOW_S,
    QueryRange,
    ceil_window,
    floor_window,
    newest_complete_end,
    oldest_available_start,
    query_range,
    replay_window,
    shrink_span,
)

T = 1_700_000_000  # a window boundary (a multiple of 20 s)
assert T % WINDOW_S == 0


def _realtime(plan: Plan) -> Limits:
    found = limits_for(plan, Budget.REALTIME)
    assert found is not None
    return found


ENTERPRISE = _realtime(Plan.ENTERPRISE)

# Times from 2001 to 2286, in steps of 1/8 s (exact in binary floating point).
instants = st.integers(min_value=1_000_000_000 * 8, max_value=10_000_000_000 * 8).map(
    lambda eighths: eighths / 8
)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        pytest.param(T, T, id="an aligned time is its own window start"),
        pytest.param(T + 0.5, T, id="half a second in still belongs to the window"),
        pytest.param(T + 19.999, T, id="the last instant of a window still belongs to it"),
        pytest.param(T + 20, T + 20, id="the next boundary starts the next window"),
        pytest.param(T - 0.001, T - 20, id="just before a boundary belongs to the window before"),
        pytest.param(-1, -20, id="times before the epoch round down too"),
    ],
)
def test_floor_window(t: float, expected: int) -> None:
    assert floor_window(t) == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        pytest.param(T, T, id="an aligned time is already a window start"),
        pytest.param(T + 0.001, T + 20, id="just after a boundary moves to the next window"),
        pytest.param(T + 19.5, T + 20, id="inside a window moves to its end"),
        pytest.param(-19, 0, id="times before the epoch round up to zero"),
    ],
)
def test_ceil_window(t: float, expected: int) -> None:
    assert ceil_window(t) == expected


@pytest.mark.parametrize(
    ("now", "delay_s", "expected"),
    [
        pytest.param(T, 20, T - 40, id="at a boundary the end equal to now minus delay is refused"),
        pytest.param(T + 0.5, 20, T - 20, id="half a second later that boundary is allowed"),
        pytest.param(T + 1, 20, T - 20, id="one second later that boundary is allowed"),
        pytest.param(T + 20, 20, T - 20, id="at the next boundary the end is again one behind"),
        pytest.param(T + 19.5, 40, T - 40, id="the premium delay of 40 s moves it back"),
    ],
)
def test_newest_complete_end(now: float, delay_s: int, expected: int) -> None:
    assert newest_complete_end(now, delay_s) == expected


@given(now=instants, delay_s=st.sampled_from([20, 40, 60, 300]))
def test_newest_complete_end_is_the_latest_aligned_end_strictly_before_now_minus_delay(
    now: float, delay_s: int
) -> None:
    end = newest_complete_end(now, delay_s)
    assert end % WINDOW_S == 0
    assert end < now - delay_s
    assert end + WINDOW_S >= now - delay_s


@pytest.mark.parametrize(
    ("now", "horizon_s", "expected"),
    [
        pytest.param(T, 3600, T - 3580, id="at a boundary now minus horizon itself is refused"),
        pytest.param(T + 0.5, 3600, T - 3580, id="half a second later the next window is first"),
        pytest.param(T - 0.5, 3600, T - 3600, id="half a second earlier that boundary is allowed"),
        pytest.param(T + 20, 2400, T - 2360, id="the premium horizon is 40 minutes"),
    ],
)
def test_oldest_available_start(now: float, horizon_s: int, expected: int) -> None:
    assert oldest_available_start(now, horizon_s) == expected


@given(now=instants, horizon_s=st.sampled_from([2400, 3600, 86400]))
def test_oldest_available_start_is_the_first_aligned_start_strictly_after_now_minus_horizon(
    now: float, horizon_s: int
) -> None:
    start = oldest_available_start(now, horizon_s)
    assert start % WINDOW_S == 0
    assert start > now - horizon_s
    assert start - WINDOW_S <= now - horizon_s


def _enterprise(cursor: int | None, now: float, **changes: int) -> QueryRange | None:
    limits = {
        "delay_s": ENTERPRISE.delay_s,
        "horizon_s": ENTERPRISE.horizon_s,
        "max_span_s": ENTERPRISE.max_span_s,
    }
    limits.update(changes)
    return query_range(cursor, now, **limits)


@pytest.mark.parametrize(
    ("cursor", "now", "changes", "expected"),
    [
        pytest.param(
            None,
            T,
            {},
            QueryRange(start=T - 3580, end=T - 40, missed_windows=0),
            id="a first poll backfills every window the horizon still holds",
        ),
        pytest.param(
            T - 400,
            T,
            {},
            QueryRange(start=T - 400, end=T - 40, missed_windows=0),
            id="a cursor inside the horizon asks from the cursor to the newest complete end",
        ),
        pytest.param(
            T - 4000,
            T,
            {},
            QueryRange(start=T - 3580, end=T - 40, missed_windows=21),
            id="a cursor older than the horizon counts the windows lost to it",
        ),
        pytest.param(
            T - 3000,
            T,
            {"max_span_s": 600},
            QueryRange(start=T - 3000, end=T - 2420, missed_windows=0),
            id="the span is clamped strictly below the longest query the plan allows",
        ),
        pytest.param(
            None,
            T,
            {"delay_s": 40, "horizon_s": 2400, "max_span_s": 2400},
            QueryRange(start=T - 2380, end=T - 60, missed_windows=0),
            id="premium limits give a shorter first backfill",
        ),
        pytest.param(
            T - 7200,
            T,
            {"horizon_s": 3600, "delay_s": 3600},
            QueryRange(start=T - 3580, end=T - 3580, missed_windows=181),
            id="missed windows are reported even when nothing is due yet",
        ),
    ],
)
def test_query_range(
    cursor: int | None, now: float, changes: dict[str, int], expected: QueryRange
) -> None:
    assert _enterprise(cursor, now, **changes) == expected


@pytest.mark.parametrize(
    ("cursor", "now"),
    [
        pytest.param(T - 40, T, id="the cursor already at the newest complete end"),
        pytest.param(T - 20, T + 19.5, id="the next window is not old enough yet"),
        pytest.param(T + 600, T, id="a cursor in the future"),
    ],
)
def test_query_range_is_none_when_nothing_is_due(cursor: int, now: float) -> None:
    assert _enterprise(cursor, now) is None


def test_query_range_windows_counts_the_windows_asked_for() -> None:
    assert QueryRange(start=T - 400, end=T - 40, missed_windows=0).windows == 18


def test_polls_every_planned_interval_fetch_each_window_exactly_once() -> None:
    cursor: int | None = None
    now = float(T) + 7.25
    fetched: list[int] = []
    for _ in range(20):
        found = _enterprise(cursor, now)
        assert found is not None
        assert found.missed_windows == 0
        assert found.end - found.start < ENTERPRISE.max_span_s
        fetched += range(found.start, found.end, WINDOW_S)
        cursor = found.end
        now += 400
    assert fetched == list(range(fetched[0], fetched[-1] + WINDOW_S, WINDOW_S))


@pytest.mark.parametrize(
    ("now", "lag_s", "expected"),
    [
        pytest.param(T + 5, 440, T - 440, id="the window that started lag seconds ago"),
        pytest.param(T + 19.9, 440, T - 440, id="it stays for the whole 20 s"),
        pytest.param(T + 20, 440, T - 420, id="and moves on at the next boundary"),
        pytest.param(T, 0, T, id="no lag shows the current window"),
    ],
)
def test_replay_window(now: float, lag_s: float, expected: int) -> None:
    assert replay_window(now, lag_s) == expected


def test_replay_shows_a_window_the_previous_poll_fetched_until_the_next_poll() -> None:
    interval, lag = 400, 400 + ENTERPRISE.delay_s + WINDOW_S
    for offset in (0.0, 0.5, 7.25, 19.75):
        poll = T + offset
        found = _enterprise(T - 3000, poll)
        assert found is not None
        for scrape in (poll, poll + 100, poll + interval - 0.01):
            assert replay_window(scrape, lag) + WINDOW_S <= found.end


@pytest.mark.parametrize(
    ("problem", "unit", "expected"),
    [
        pytest.param("latency", 0, (0, 80), id="a latency refusal moves the end one step back"),
        pytest.param("range", 0, (20, 100), id="a range refusal moves the start one step on"),
        pytest.param("length", 0, (0, 50), id="a length refusal keeps the older half"),
        pytest.param("length", 20, (0, 40), id="in whole units when the span has a unit"),
    ],
)
def test_shrink_span(problem: str, unit: int, expected: tuple[int, int]) -> None:
    assert shrink_span(problem, 0, 100, step=20, unit=unit) == expected


def test_a_span_shrunk_to_nothing_is_none() -> None:
    assert shrink_span("latency", 0, 20, step=20) is None
