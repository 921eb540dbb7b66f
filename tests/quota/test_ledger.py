"""The ledger gate: every request is recorded before it leaves, never past a limit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from exporter.agora.limits import Budget, Limits
from exporter.quota.ledger import PER_SECOND_MARGIN_S, PERIOD_MARGIN_S, Ledger, free_slot
from exporter.store import Store
from tests.fakes import FakeClock, FakeSleep

T0 = 1_800_000_000.0
PER_MINUTE = Limits(per_minute=2, per_day=100, horizon_s=3600, max_span_s=3600, delay_s=20)
PER_SECOND = Limits(per_second=2, per_day=100, horizon_s=3600, max_span_s=3600, delay_s=60)


@pytest.mark.parametrize(
    ("sent", "limits", "expected"),
    [
        pytest.param([], PER_MINUTE, T0, id="an empty ledger has a slot now"),
        pytest.param([T0 - 30], PER_MINUTE, T0, id="one request in the minute leaves room"),
        pytest.param(
            [T0 - 30, T0 - 10],
            PER_MINUTE,
            T0 + 30 + PERIOD_MARGIN_S,
            id="a full minute frees a second after its oldest leaves",
        ),
        pytest.param(
            [T0 - 60.5, T0 - 10],
            PER_MINUTE,
            T0 + 0.5,
            id="a request just out of the minute still counts until its margin passes",
        ),
        pytest.param(
            [T0 - 0.5, T0 - 0.2],
            PER_SECOND,
            T0 + 0.5 + PER_SECOND_MARGIN_S,
            id="a full second frees a little late so jitter cannot double up",
        ),
    ],
)
def test_free_slot(sent: list[float], limits: Limits, expected: float) -> None:
    assert free_slot(sent, T0, limits) == pytest.approx(expected)


def _ledger(tmp_path: Path, clock: FakeClock, waits: list[float]) -> tuple[Ledger, Store]:
    store = Store(tmp_path / "state", clock=clock)

    return Ledger(store=store, clock=clock, sleep=FakeSleep(clock, waits)), store


def test_take_records_the_request_before_returning(tmp_path: Path) -> None:
    clock, waits = FakeClock(T0), []
    ledger, store = _ledger(tmp_path, clock, waits)
    with store:
        assert ledger.take(Budget.REALTIME, "realtime_usage", PER_MINUTE, max_wait_s=5) is None
        assert store.ledger.times("realtime", 0) == [T0]


def test_take_waits_for_a_slot_that_frees_soon(tmp_path: Path) -> None:
    clock, waits = FakeClock(T0), []
    ledger, store = _ledger(tmp_path, clock, waits)
    with store:
        store.ledger.record("realtime", "realtime_usage", T0 - 58)
        store.ledger.record("realtime", "realtime_usage", T0 - 50)
        assert ledger.take(Budget.REALTIME, "realtime_usage", PER_MINUTE, max_wait_s=5) is None
        assert waits == [pytest.approx(2 + PERIOD_MARGIN_S)]


def test_take_gives_the_slot_back_when_it_is_further_off_than_the_wait(tmp_path: Path) -> None:
    clock, waits = FakeClock(T0), []
    ledger, store = _ledger(tmp_path, clock, waits)
    with store:
        store.ledger.record("realtime", "realtime_usage", T0 - 10)
        store.ledger.record("realtime", "realtime_usage", T0 - 5)
        slot = ledger.take(Budget.REALTIME, "realtime_usage", PER_MINUTE, max_wait_s=5)
        assert slot == pytest.approx(T0 + 50 + PERIOD_MARGIN_S)
        assert waits == []
        assert len(store.ledger.times("realtime", 0)) == 2


def test_threads_sharing_a_ledger_never_take_more_than_the_limit(tmp_path: Path) -> None:
    clock, waits = FakeClock(T0), []
    ledger, store = _ledger(tmp_path, clock, waits)
    taken: list[float | None] = []

    def attempt() -> None:
        taken.append(ledger.try_take(Budget.REALTIME, "realtime_usage", PER_MINUTE))

    with store:
        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert taken.count(None) == 2
        assert len(store.ledger.times("realtime", 0)) == 2
