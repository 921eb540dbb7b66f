"""The SQLite state store: durability, atomicity, pruning, snapshots, bad state dirs."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

import exporter.store.connection as store_module
from exporter.backfill.reader import read_history
from exporter.store import DB_NAME, SeriesData, StateDirError, Store, WindowRow
from exporter.store.schema import MIGRATIONS
from tests.fakes import FakeClock

NOW = 1_700_000_000  # a window boundary
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    with Store(tmp_path, clock=clock) as opened:
        yield opened


def rows(start: int, count: int, *, uid: int | None = None, base: float = 0.0) -> list[WindowRow]:
    return [WindowRow(ts=start + 20 * i, value=base + i, uid=uid) for i in range(count)]


def raw(path: Path) -> sqlite3.Connection:
    """A second connection to the store's file, as another process would have."""
    return sqlite3.connect(path / DB_NAME, isolation_level=None)


def disk_windows(path: Path, key: str) -> dict[tuple[int, int], float]:
    with raw(path) as conn:
        found = conn.execute(
            "SELECT w.uid, w.ts, w.value FROM windows w JOIN series s ON s.id = w.series_id "
            "WHERE s.key = ?",
            (key,),
        ).fetchall()
    return {(uid, ts): value for uid, ts, value in found}


# --- opening -------------------------------------------------------------------


def test_a_missing_state_dir_is_created_with_a_wal_database(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    with Store(state, clock=FakeClock(NOW)) as store:
        assert store.path == state / DB_NAME
        conn = raw(state)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        conn.close()
    assert list(state.glob(".write-test-*")) == []


def test_everything_survives_close_and_reopen(tmp_path: Path, clock: FakeClock) -> None:
    with Store(tmp_path, clock=clock) as store:
        store.ledger.record("realtime", "realtime_usage", NOW - 30.5)
        store.ledger.record("realtime", "realtime_quality", NOW - 10.25)
        store.ledger.record("insight_usage", "insight_usage", NOW - 5.0)
        store.commit_poll("a", rows(NOW - 200, 5), cursor=NOW - 100, missed_windows=3)
        store.commit_poll("b", rows(NOW - 200, 2, uid=7) + rows(NOW - 200, 2), cursor=NOW - 160)
        store.commit_poll("never-fetched", [], cursor=NOW - 60, missed_windows=4)
        before = store.snapshot()
    with Store(tmp_path, clock=clock) as again:
        assert again.ledger.times("realtime", 0) == [NOW - 30.5, NOW - 10.25]
        assert again.ledger.times("insight_usage", 0) == [NOW - 5.0]
        assert again.ledger.budgets() == ["insight_usage", "realtime"]
        assert again.cursor("a") == NOW - 100
        assert again.cursor("b") == NOW - 160
        assert again.cursor("never-fetched") == NOW - 60
        assert again.windows_missed_total == 7
        after = again.snapshot()
        assert after.windows_missed_total == 7
        assert sorted(after.keys()) == ["a", "b", "never-fetched"]
        for key in ("a", "b"):
            old, new = before.get(key), after.get(key)
            assert old is not None
            assert new is not None
            assert new.newest_ts == old.newest_ts
            assert {uid: dict(v) for uid, v in new.values.items()} == {
                uid: dict(v) for uid, v in old.values.items()
            }
        never = after.get("never-fetched")
        assert never is not None
        assert never.newest_ts is None
        assert never.newest() is None


def test_requests_and_a_poll_recorded_before_kill_9_are_all_there_after_restart(
    tmp_path: Path,
) -> None:
    requests = 25
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from exporter.store import Store, WindowRow

        store = Store(Path(sys.argv[1]), clock=lambda: {NOW})
        for i in range({requests}):
            store.ledger.record("realtime", "realtime_usage", {NOW} - 1000 + i)
        store.commit_poll(
            "killed",
            [WindowRow(ts={NOW} - 200 + 20 * i, value=i * 0.5, uid=4294967296) for i in range(5)],
            cursor={NOW} - 100,
            missed_windows=2,
        )
        store.ledger.record("realtime", "realtime_quality", {NOW} - 1)
        print("ready", flush=True)
        sys.stdin.read()  # wait here until killed; never close()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
    assert process.returncode == -signal.SIGKILL
    assert (tmp_path / f"{DB_NAME}-wal").exists(), "killed before any checkpoint: the WAL remains"
    with Store(tmp_path, clock=FakeClock(NOW)) as store:
        times = store.ledger.times("realtime", 0)
        assert times == [NOW - 1000 + i for i in range(requests)] + [NOW - 1]
        assert store.cursor("killed") == NOW - 100
        assert store.windows_missed_total == 2
        data = store.snapshot().get("killed")
        assert data is not None
        assert data.newest(4294967296) == (NOW - 120, 2.0)


# --- atomicity -------------------------------------------------------------------


def test_a_poll_failing_half_way_changes_neither_disk_nor_memory(
    tmp_path: Path, store: Store
) -> None:
    store.commit_poll("s", rows(NOW - 200, 3, base=1.0), cursor=NOW - 140, missed_windows=1)
    before = store.snapshot()
    with raw(tmp_path) as conn:  # the third window of the next poll fails inside the transaction
        conn.execute(
            f"CREATE TRIGGER fail BEFORE INSERT ON windows WHEN NEW.ts = {NOW - 100} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    with pytest.raises(StateDirError, match="injected failure") as caught:
        store.commit_poll("s", rows(NOW - 140, 5, base=50.0), cursor=NOW - 40, missed_windows=9)
    assert str(tmp_path / DB_NAME) in str(caught.value)
    assert store.cursor("s") == NOW - 140
    assert store.windows_missed_total == 1
    assert store.snapshot() is before
    assert disk_windows(tmp_path, "s") == {
        (-1, NOW - 200): 1.0,
        (-1, NOW - 180): 2.0,
        (-1, NOW - 160): 3.0,
    }
    with raw(tmp_path) as conn:
        conn.execute("DROP TRIGGER fail")
    store.commit_poll("s", rows(NOW - 140, 5, base=50.0), cursor=NOW - 40, missed_windows=9)
    assert store.cursor("s") == NOW - 40
    assert store.windows_missed_total == 10


def test_a_full_disk_raises_state_dir_error_and_changes_nothing(
    tmp_path: Path, store: Store
) -> None:
    store.commit_poll("s", rows(NOW - 200, 3), cursor=NOW - 140)
    store.ledger.record("realtime", "realtime_usage", NOW - 50)
    conn = cast(sqlite3.Connection, store._conn)  # no real full disk in a test: cap the file
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    before = store.snapshot()
    big = [row for uid in range(20) for row in rows(NOW - 3600, 180, uid=uid)]
    with pytest.raises(StateDirError, match="disk is full") as caught:
        store.commit_poll("big", big, cursor=NOW, missed_windows=5)
    assert str(tmp_path) in str(caught.value)
    assert store.snapshot() is before
    assert store.cursor("big") is None
    assert store.windows_missed_total == 0
    assert store.ledger.times("realtime", 0) == [NOW - 50]
    conn.execute("PRAGMA max_page_count = 1073741823")
    store.commit_poll("big", big, cursor=NOW, missed_windows=5)
    assert store.cursor("big") == NOW
    assert len(disk_windows(tmp_path, "big")) == 20 * 180


def test_a_database_locked_too_long_raises_state_dir_error(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 50)
    with Store(tmp_path, clock=clock) as store:
        other = raw(tmp_path)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StateDirError, match="locked"):
                store.ledger.record("realtime", "realtime_usage", NOW)
            with pytest.raises(StateDirError, match="locked"):
                store.commit_poll("s", rows(NOW - 200, 3), cursor=NOW - 140)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.ledger.times("realtime", 0) == []
        assert store.cursor("s") is None
        store.ledger.record("realtime", "realtime_usage", NOW)
        assert store.ledger.times("realtime", 0) == [NOW]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        pytest.param(WindowRow(ts=NOW, value=cast(float, "high")), ValueError, id="a text value"),
        pytest.param(WindowRow(ts=NOW, value=cast(float, None)), TypeError, id="a None value"),
        pytest.param(WindowRow(ts=NOW, value=1.0, uid=2**63), ValueError, id="a uid above 2**63-1"),
        pytest.param(WindowRow(ts=NOW, value=1.0, uid=-1), ValueError, id="a negative uid"),
        pytest.param(WindowRow(ts=cast(int, 1.5), value=1.0), TypeError, id="a fractional ts"),
    ],
)
def test_a_row_that_cannot_be_stored_is_refused_before_anything_is_written(
    tmp_path: Path, store: Store, bad: WindowRow, error: type[Exception]
) -> None:
    store.commit_poll("s", rows(NOW - 200, 3), cursor=NOW - 140)
    before = store.snapshot()
    with pytest.raises(error):
        store.commit_poll("s", [*rows(NOW - 140, 3), bad], cursor=NOW, missed_windows=2)
    assert store.snapshot() is before
    assert store.cursor("s") == NOW - 140
    assert len(disk_windows(tmp_path, "s")) == 3


def test_a_negative_missed_count_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="missed_windows"):
        store.commit_poll("s", [], cursor=NOW, missed_windows=-1)
    assert store.cursor("s") is None


# --- series data -------------------------------------------------------------------


def test_the_cursor_never_moves_backwards(tmp_path: Path, clock: FakeClock) -> None:
    with Store(tmp_path, clock=clock) as store:
        assert store.cursor("s") is None
        store.commit_poll("s", rows(NOW - 200, 5), cursor=NOW - 100)
        store.commit_poll("s", rows(NOW - 400, 2), cursor=NOW - 360)
        assert store.cursor("s") == NOW - 100
        data = store.snapshot().get("s")
        assert data is not None
        assert data.value_at(NOW - 400) == 0.0
    with Store(tmp_path, clock=clock) as again:
        assert again.cursor("s") == NOW - 100


def test_a_poll_answered_without_rows_still_moves_the_newest_window_fetched(
    tmp_path: Path, clock: FakeClock
) -> None:
    with Store(tmp_path, clock=clock) as store:
        store.commit_poll("s", rows(NOW - 200, 2), cursor=NOW - 160)
        before = store.snapshot().get("s")
        store.commit_poll("s", [], cursor=NOW - 60)  # a quiet channel: nobody in it
        after = store.snapshot().get("s")
        assert before is not None
        assert after is not None
        assert (after.newest_ts, after.fetched_ts) == (NOW - 180, NOW - 80)
        assert after.version is not before.version, "a scrape must show it"
        store.keep_in_memory(None)  # memory grows: windows read back from the file
        reread = store.snapshot().get("s")
        assert reread is not None
        assert reread.fetched_ts == NOW - 80
        store.prune(NOW)
        pruned = store.snapshot().get("s")
        assert pruned is not None
        assert pruned.fetched_ts == NOW - 80
    with Store(tmp_path, clock=clock) as again:
        reopened = again.snapshot().get("s")
        assert reopened is not None
        assert reopened.fetched_ts == NOW - 80


def test_a_refetched_window_replaces_the_stored_value(tmp_path: Path, store: Store) -> None:
    store.commit_poll("s", rows(NOW - 200, 5), cursor=NOW - 100)
    store.commit_poll(
        "s",
        [
            WindowRow(ts=NOW - 100, value=9.0),  # new, given before older rows
            WindowRow(ts=NOW - 180, value=7.0),
            WindowRow(ts=NOW - 180, value=8.0),  # duplicate: the last wins
            WindowRow(ts=NOW - 120, value=6.0),
        ],
        cursor=NOW - 80,
    )
    data = store.snapshot().get("s")
    assert data is not None
    assert dict(data.values[None]) == {
        NOW - 200: 0.0,
        NOW - 180: 8.0,
        NOW - 160: 2.0,
        NOW - 140: 3.0,
        NOW - 120: 6.0,
        NOW - 100: 9.0,
    }
    assert list(data.values[None]) == sorted(data.values[None])
    assert data.newest_ts == NOW - 100
    assert data.newest() == (NOW - 100, 9.0)
    assert disk_windows(tmp_path, "s") == {(-1, ts): v for ts, v in data.values[None].items()}


def test_uids_keep_their_own_windows_and_a_uid_above_2_32_round_trips(
    tmp_path: Path, clock: FakeClock
) -> None:
    big_uid = 4294967296
    with Store(tmp_path, clock=clock) as store:
        store.commit_poll(
            "u",
            rows(NOW - 200, 3, uid=big_uid) + rows(NOW - 200, 4, uid=0, base=10.0),
            cursor=NOW - 120,
        )
    with Store(tmp_path, clock=clock) as again:
        data = again.snapshot().get("u")
        assert data is not None
        assert set(data.values) == {big_uid, 0}
        assert data.newest(big_uid) == (NOW - 160, 2.0)
        assert data.newest(0) == (NOW - 140, 13.0)
        assert data.newest() is None  # no project-scope windows
        assert data.newest_ts == NOW - 140
        assert data.value_at(NOW - 200, big_uid) == 0.0
        assert data.value_at(NOW - 200) is None
    assert (big_uid, NOW - 200) in disk_windows(tmp_path, "u")


def test_a_nan_value_round_trips_and_infinity_too(tmp_path: Path, clock: FakeClock) -> None:
    with Store(tmp_path, clock=clock) as store:
        store.commit_poll(
            "s",
            [WindowRow(ts=NOW - 40, value=math.nan), WindowRow(ts=NOW - 20, value=math.inf)],
            cursor=NOW,
        )
    with Store(tmp_path, clock=clock) as again:
        data = again.snapshot().get("s")
        assert data is not None
        nan = data.value_at(NOW - 40)
        assert nan is not None
        assert math.isnan(nan)
        assert data.value_at(NOW - 20) == math.inf


def test_forget_series_drops_what_is_no_longer_configured(tmp_path: Path, clock: FakeClock) -> None:
    with Store(tmp_path, clock=clock) as store:
        for key in ("keep", "drop1", "drop2"):
            store.commit_poll(key, rows(NOW - 200, 3), cursor=NOW - 140)
        store.forget_series({"keep", "never-seen"})
        assert store.cursor("drop1") is None
        assert sorted(store.snapshot().keys()) == ["keep"]
        store.forget_series(["keep"])  # nothing to do
    with Store(tmp_path, clock=clock) as again:
        assert sorted(again.snapshot().keys()) == ["keep"]
        assert again.cursor("keep") == NOW - 140
        assert again.cursor("drop2") is None
    assert disk_windows(tmp_path, "drop1") == {}


# --- ledger ----------------------------------------------------------------------------


def test_request_times_are_ascending_and_strictly_after_since(store: Store) -> None:
    for at in (NOW - 30.0, NOW - 60.0, NOW - 10.0, NOW - 60.0):  # out of order, one repeated
        store.ledger.record("realtime", "realtime_usage", at)
    assert store.ledger.times("realtime", 0) == [NOW - 60.0, NOW - 60.0, NOW - 30.0, NOW - 10.0]
    assert store.ledger.times("realtime", NOW - 60.0) == [NOW - 30.0, NOW - 10.0]
    assert store.ledger.times("realtime", NOW - 60.5) == [
        NOW - 60.0,
        NOW - 60.0,
        NOW - 30.0,
        NOW - 10.0,
    ]
    assert store.ledger.times("realtime", NOW) == []
    assert store.ledger.times("insight_usage", 0) == []
    returned = store.ledger.times("realtime", 0)
    returned.clear()  # a copy: the caller cannot change the ledger
    assert len(store.ledger.times("realtime", 0)) == 4
    counts = [store.ledger.count("realtime", since) for since in (0, NOW - 60.5, NOW - 60.0, NOW)]
    assert counts == [4, 4, 2, 0], "what times() holds, counted without a copy"
    assert store.ledger.count("insight_usage", 0) == 0


def test_ledger_budgets_lists_each_budget_with_requests(store: Store) -> None:
    assert store.ledger.budgets() == []
    store.ledger.record("realtime", "realtime_usage", NOW - 1)
    store.ledger.record("call_lists", "call_lists", NOW - 1)
    assert store.ledger.budgets() == ["call_lists", "realtime"]


# --- pruning ---------------------------------------------------------------------------


def test_prune_drops_old_windows_and_requests_from_memory_and_disk(
    tmp_path: Path, clock: FakeClock
) -> None:
    horizon = 3600
    with Store(tmp_path, clock=clock, horizon_s=horizon) as store:
        window_cut = NOW - horizon - 600
        store.commit_poll("old", rows(window_cut - 100, 5), cursor=window_cut)  # all before
        store.commit_poll("mixed", rows(window_cut - 40, 4, uid=3), cursor=window_cut + 40)
        store.commit_poll("new", rows(NOW - 200, 3), cursor=NOW - 140)
        request_cut = NOW - 86400 - 60
        for at in (request_cut - 1, request_cut, request_cut + 1, NOW - 5):
            store.ledger.record("realtime", "realtime_usage", at)
        store.ledger.record("insight_usage", "insight_usage", request_cut - 10)
        before = store.snapshot()
        store.prune(NOW)
        assert store.ledger.times("realtime", 0) == [request_cut, request_cut + 1, NOW - 5]
        assert store.ledger.budgets() == ["realtime"]
        snap = store.snapshot()
        assert snap is not before
        old = snap.get("old")
        assert old is not None
        assert old.newest_ts is None
        assert dict(old.values) == {}
        assert store.cursor("old") == window_cut  # the cursor stays: the next poll counts the gap
        mixed = snap.get("mixed")
        assert mixed is not None
        assert dict(mixed.values[3]) == {
            window_cut: 2.0,
            window_cut + 20: 3.0,
        }
        assert snap.get("new") is before.get("new")  # untouched series are shared, not copied
        old_before = before.get("old")
        assert old_before is not None
        assert len(old_before.values[None]) == 5
    assert disk_windows(tmp_path, "old") == {}
    assert set(disk_windows(tmp_path, "mixed")) == {(3, window_cut), (3, window_cut + 20)}
    with raw(tmp_path) as conn:
        assert conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == 3


def test_opening_a_store_prunes_what_went_stale_while_it_was_closed(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with Store(tmp_path, clock=clock) as store:
        store.ledger.record("realtime", "realtime_usage", NOW - 10)
        store.commit_poll("s", rows(NOW - 200, 3), cursor=NOW - 140)
    clock.advance(2 * 86400)
    with Store(tmp_path, clock=clock) as again:
        assert again.ledger.times("realtime", 0) == []
        data = again.snapshot().get("s")
        assert data is not None
        assert data.newest_ts is None
        assert again.cursor("s") == NOW - 140
    assert disk_windows(tmp_path, "s") == {}


# --- snapshots and concurrency ---------------------------------------------------------


def test_a_snapshot_taken_before_a_commit_does_not_change(store: Store) -> None:
    store.commit_poll("s", rows(NOW - 200, 3), cursor=NOW - 140, missed_windows=1)
    store.commit_poll("t", rows(NOW - 200, 3), cursor=NOW - 140)
    before = store.snapshot()
    assert store.snapshot() is before  # nothing changed: the same snapshot is shared
    store.commit_poll("s", [WindowRow(NOW - 200, 99.0), *rows(NOW - 140, 2)], cursor=NOW - 100)
    store.commit_poll("new", rows(NOW - 200, 1), cursor=NOW - 180, missed_windows=2)
    store.forget_series({"s", "new"})
    data = before.get("s")
    assert data is not None
    assert data.value_at(NOW - 200) == 0.0
    assert data.newest() == (NOW - 160, 2.0)
    assert sorted(before.keys()) == ["s", "t"]
    assert len(before) == 2
    assert before.windows_missed_total == 1
    after = store.snapshot()
    assert sorted(after.keys()) == ["new", "s"]
    assert after.windows_missed_total == 3
    new_data = after.get("s")
    assert new_data is not None
    assert new_data.newest() == (NOW - 120, 1.0)
    with pytest.raises(TypeError):
        data.values[None][NOW] = 1.0  # type: ignore[index]


def test_concurrent_commits_and_requests_from_several_threads_are_all_kept(
    tmp_path: Path, clock: FakeClock
) -> None:
    threads, polls = 4, 12
    start = threading.Barrier(threads + 2)  # workers, reader, this thread
    problems: list[BaseException] = []
    stop_reading = threading.Event()

    with Store(tmp_path, clock=clock, horizon_s=2 * 86400) as store:

        def poll(worker: int) -> None:
            try:
                start.wait()
                for i in range(polls):
                    ts = NOW - 86400 + 20 * (worker * polls + i)
                    store.ledger.record("realtime", "realtime_usage", float(ts))
                    store.commit_poll(f"own{worker}", [WindowRow(ts, float(i))], cursor=ts + 20)
                    store.commit_poll(
                        "shared", [WindowRow(ts, float(worker), uid=worker)], cursor=ts + 20
                    )
                    store.commit_poll("missed", [], cursor=0, missed_windows=1)
            except BaseException as error:  # pragma: no cover - reported below
                problems.append(error)

        def read() -> None:
            start.wait()
            while not stop_reading.is_set():
                snap = store.snapshot()
                for key in snap:
                    data = snap[key]
                    newest = [ts for values in data.values.values() for ts in values]
                    if max(newest, default=None) != data.newest_ts:
                        problems.append(AssertionError(f"{key}: newest_ts inconsistent"))

        workers = [threading.Thread(target=poll, args=(n,)) for n in range(threads)]
        reader = threading.Thread(target=read)
        for thread in [*workers, reader]:
            thread.start()
        start.wait()
        for thread in workers:
            thread.join()
        stop_reading.set()
        reader.join()
        assert problems == []
        expected_times = sorted(float(NOW - 86400 + 20 * n) for n in range(threads * polls))
        assert store.ledger.times("realtime", 0) == expected_times
        assert store.windows_missed_total == threads * polls

    with Store(tmp_path, clock=clock, horizon_s=2 * 86400) as again:
        assert again.ledger.times("realtime", 0) == expected_times
        assert again.windows_missed_total == threads * polls
        snap = again.snapshot()
        shared = snap.get("shared")
        assert shared is not None
        assert sum(len(values) for values in shared.values.values()) == threads * polls
        assert again.cursor("shared") == NOW - 86400 + 20 * threads * polls
        for worker in range(threads):
            own = snap.get(f"own{worker}")
            assert own is not None
            assert len(own.values[None]) == polls


@pytest.mark.slow
def test_a_snapshot_of_22000_series_with_180_windows_each_is_complete_and_isolated(
    tmp_path: Path, clock: FakeClock
) -> None:
    series, windows, first = 22_000, 180, NOW - 3600
    Store(tmp_path, clock=clock).close()
    fill_in_one_transaction(tmp_path, series=series, windows=windows, first=first)
    with Store(tmp_path, clock=clock) as store:
        snap = store.snapshot()
        assert len(snap) == series
        assert store.snapshot() is snap
        last = snap.get(f"s{series}")
        assert last is not None
        assert last.newest() == (first + 20 * (windows - 1), float(series + windows - 1))
        assert len(last.values[None]) == windows
        store.commit_poll(f"s{series}", [WindowRow(NOW, -1.0)], cursor=NOW + 20)
        after = store.snapshot()
        assert after is not snap
        assert len(after) == series
        assert last.newest_ts == first + 20 * (windows - 1)
        changed = after.get(f"s{series}")
        assert changed is not None
        assert changed.newest() == (NOW, -1.0)
        assert after.get("s1") is snap.get("s1")


def fill_in_one_transaction(path: Path, *, series: int, windows: int, first: int) -> None:
    """Write ``series`` x ``windows`` rows straight into the store's tables, in SQL."""
    with raw(path) as conn:
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO series (id, key, cursor) SELECT i, 's' || i, ? FROM n",
            (series, first + 20 * windows),
        )
        conn.execute(
            "WITH RECURSIVE w(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM w WHERE j < ?) "
            "INSERT INTO windows (series_id, uid, ts, value) "
            "SELECT s.id, -1, ? + 20 * w.j, s.id + w.j FROM series s CROSS JOIN w",
            (windows - 1, first),
        )
        conn.execute("COMMIT")


def test_series_data_works_on_plain_dicts_too() -> None:
    data = SeriesData(newest_ts=NOW, values={None: {NOW - 20: 1.0, NOW: 2.0}, 5: {}})
    assert data.value_at(NOW) == 2.0
    assert data.value_at(NOW, uid=5) is None
    assert data.newest() == (NOW, 2.0)
    assert data.newest(5) is None
    assert data.newest(6) is None


# --- bad state dirs --------------------------------------------------------------------


@pytest.fixture
def unwritable_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state_dir that cannot be written; as root (chmod is no obstacle) one under a file."""
    if os.geteuid() == 0:
        blocker = tmp_path / "afile"
        blocker.write_text("not a directory\n")
        yield blocker / "state"
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        yield locked
    finally:
        locked.chmod(0o700)


def test_an_unwritable_state_dir_raises_state_dir_error_naming_the_path(
    unwritable_state_dir: Path,
) -> None:
    with pytest.raises(StateDirError) as caught:
        Store(unwritable_state_dir, clock=FakeClock(NOW))
    message = str(caught.value)
    assert str(unwritable_state_dir) in message
    assert "not writable" in message or "is a file, not a directory" in message
    assert "state_dir" in message  # says what to do


def test_a_state_dir_refusing_writes_raises_state_dir_error_saying_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a non-root user meets in a chmod 0o500 directory, whoever runs the tests.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(StateDirError) as caught:
        Store(tmp_path, clock=FakeClock(NOW))
    message = str(caught.value)
    assert message.startswith(f"state store {tmp_path}:")
    assert "not writable" in message
    assert f"uid {os.geteuid()}" in message
    assert not (tmp_path / DB_NAME).exists()


def test_a_state_dir_that_is_a_file_raises_state_dir_error(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_text("")
    with pytest.raises(StateDirError, match="not a directory"):
        Store(path, clock=FakeClock(NOW))


def test_a_database_path_that_is_a_directory_raises_state_dir_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).mkdir()
    with pytest.raises(StateDirError, match="not a regular file"):
        Store(tmp_path, clock=FakeClock(NOW))


def garbage_everywhere(path: Path) -> None:
    path.write_bytes(b"\x00garbage\xff" * 1000)


def garbage_after_the_header(path: Path) -> None:
    with Store(path.parent, clock=FakeClock(NOW)) as store:
        for n in range(50):
            store.commit_poll(f"series-{n}", rows(NOW - 3600, 180), cursor=NOW)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xde\xad\xbe\xef" * ((size - 4096) // 4))


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(garbage_everywhere, id="garbage bytes instead of a database"),
        pytest.param(garbage_after_the_header, id="garbage pages after a valid header"),
    ],
)
def test_a_corrupt_database_raises_state_dir_error(
    tmp_path: Path, corrupt: Callable[[Path], None]
) -> None:
    path = tmp_path / DB_NAME
    corrupt(path)
    with pytest.raises(StateDirError) as caught:
        Store(tmp_path, clock=FakeClock(NOW))
    message = str(caught.value)
    assert str(path) in message
    assert "corrupt" in message
    assert "--state.reset" in message  # what to do


def test_another_programs_sqlite_database_is_refused(tmp_path: Path) -> None:
    with raw(tmp_path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    with pytest.raises(StateDirError, match="another program"):
        Store(tmp_path, clock=FakeClock(NOW))


@pytest.mark.parametrize(
    "read",
    [lambda path: Store(path, clock=FakeClock(NOW)), read_history],
    ids=["by the daemon's store", "by the read-only reader backfill uses"],
)
def test_a_database_from_a_newer_exporter_is_refused(
    tmp_path: Path, read: Callable[[Path], object]
) -> None:
    Store(tmp_path, clock=FakeClock(NOW)).close()
    with raw(tmp_path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StateDirError, match="newer"):
        read(tmp_path)


def test_a_closed_store_raises_state_dir_error_and_closing_twice_is_harmless(
    store: Store,
) -> None:
    store.commit_poll("s", rows(NOW - 200, 3), cursor=NOW - 140)
    store.close()
    store.close()
    with pytest.raises(StateDirError, match="closed"):
        store.ledger.record("realtime", "realtime_usage", NOW)
    with pytest.raises(StateDirError, match="closed"):
        store.commit_poll("s", [], cursor=NOW)
    assert store.cursor("s") == NOW - 140  # memory stays readable
    assert len(store.snapshot()) == 1
