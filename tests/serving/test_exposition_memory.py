"""What 22,000 series cost in memory: the cached exposition holds on to nothing old,
and the store keeps the window starts a series' uids share once."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from pathlib import Path

from exporter.catalog.realtime import Scope
from exporter.realtime.series import Series
from exporter.serving.exposition import Exposition
from exporter.store import Store
from exporter.store.data import EMPTY_SERIES, WindowRow
from tests.fakes import FakeClock
from tests.serving.test_exposition import APPID, T0, Rig, _series

WINDOWS = 180


def test_uids_with_the_same_windows_keep_one_copy_of_the_window_starts() -> None:
    rows = [WindowRow(T0 + 20 * step, 0.5, uid) for step in range(WINDOWS) for uid in range(10)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        data = EMPTY_SERIES.upserted(rows)
        del rows
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert data.value_at(T0 + 20 * 7, uid=3) == 0.5
    # 8 bytes a value, 8 a window start shared by the ten uids, a little for the objects
    assert kept < 10 * WINDOWS * 12


def test_uids_with_other_windows_keep_their_own(tmp_path: Path) -> None:
    one = Series(APPID, "Native", "audioFreezeRate", Scope.USER, "lobby", (1, 2))
    with Store(tmp_path / "state", clock=lambda: T0 + 3600) as store:
        rows = [WindowRow(T0, 0.1, 1), WindowRow(T0 + 20, 0.2, 1), WindowRow(T0 + 20, 0.3, 2)]
        store.commit_poll(one.key, rows, cursor=T0 + 40)
        data = store.snapshot()[one.key]
        assert data.newest(1) == (T0 + 20, 0.2)
        assert data.newest(2) == (T0 + 20, 0.3)
        assert data.value_at(T0, 1) == 0.1
        assert data.value_at(T0, 2) is None


def test_a_scrape_keeps_no_replaced_snapshot_or_series_alive(tmp_path: Path) -> None:
    store = Store(tmp_path / "state", clock=lambda: T0 + 3600)
    series = _series()
    rig = Rig(store, FakeClock(T0 + 3600), series)
    for one in series[:40]:
        rig.commit(one, T0, 180)
    cache = Exposition(rig.source)
    cache.payload("", "gzip")
    old_snapshot = weakref.ref(store.snapshot())
    old_series = weakref.ref(store.snapshot()[series[0].key])
    rig.commit(series[0], T0 + 3600, 1)
    cache.payload("", "gzip")
    gc.collect()
    assert old_snapshot() is None
    assert old_series() is None
    store.close()
