"""A snapshot says which series changed since an older one of the same store."""

from __future__ import annotations

from pathlib import Path

from exporter.store import Store, StoreSnapshot, WindowRow
from exporter.store.changes import ChangeLog
from tests.fakes import FakeClock

NOW = 1_700_000_000
A, B, C = "series/a", "series/b", "series/c"


def _commit(store: Store, key: str, ts: int = NOW - 100) -> None:
    store.commit_poll(key, [WindowRow(ts, 0.5)], cursor=ts + 20)


def test_a_later_snapshot_names_the_series_committed_since(tmp_path: Path) -> None:
    with Store(tmp_path, clock=FakeClock(NOW)) as store:
        _commit(store, A)
        older = store.snapshot().position
        _commit(store, B)
        _commit(store, C)
        assert sorted(store.snapshot().changed_since(older) or ()) == [B, C]
        assert store.snapshot().changed_since(store.snapshot().position) == []


def test_pruning_and_forgetting_name_the_series_they_changed(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock) as store:
        _commit(store, A, ts=NOW - 3600)
        _commit(store, B)
        older = store.snapshot().position
        store.prune(NOW + 3600)  # A's window is past the horizon
        assert A in (store.snapshot().changed_since(older) or ())
        older = store.snapshot().position
        store.forget_series({A})
        assert store.snapshot().changed_since(older) == [B]


def test_a_snapshot_of_another_store_or_of_none_is_not_known(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path / "one", clock=clock) as one, Store(tmp_path / "two", clock=clock) as two:
        assert one.snapshot().changed_since(two.snapshot().position) is None
        assert one.snapshot().changed_since(StoreSnapshot().position) is None
        assert StoreSnapshot().changed_since(one.snapshot().position) is None


def test_a_log_that_no_longer_reaches_back_says_it_does_not_know() -> None:
    log = ChangeLog(keep=2)
    log.add([A])
    since = log.generation
    log.add([B, C])
    assert log.between(since, log.generation) == [B, C]
    log.add([A, B])  # past twice keep: the older half goes
    assert log.between(since, log.generation) is None
    assert log.between(log.generation - 2, log.generation) == [A, B]
