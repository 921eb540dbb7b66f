"""``Store``: the request ledger, cursors and fetched windows, in SQLite (WAL).

Every write is one transaction, committed before the call returns; memory is
published only after the commit succeeds, so a failed write changes nothing
anywhere. Writers are serialised by one lock around the one connection; readers
(cursors, ledger times, snapshots) take a second, short lock and never wait for
SQLite.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from exporter.store.calls import CallTable
from exporter.store.changes import ChangeLog
from exporter.store.connection import Connection, rollback
from exporter.store.data import (
    EMPTY_SERIES,
    SeriesData,
    StoreSnapshot,
    WindowRow,
    check_rows,
)
from exporter.store.guard import DatabaseGuard
from exporter.store.insight import InsightTable
from exporter.store.ledger import LedgerTable
from exporter.store.loading import EVERYTHING, NULL_UID, read_windows
from exporter.store.opening import prepare_dir
from exporter.store.schema import DB_NAME, StateDirError
from exporter.store.startover import StartOver
from exporter.timing.clock import Clock, system_clock

WINDOW_SLACK_S = 600


class Store(Connection):
    """The exporter's persistent state; thread-safe.

    The file keeps every window of the last ``horizon_s`` (plus slack);
    memory, and so :meth:`snapshot`, only those of the last ``memory_s``
    and each uid's newest (None: as many as the file).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Clock = system_clock,
        horizon_s: int = 3600,
        memory_s: float | None = None,
        start_over: StartOver | None = None,
    ) -> None:
        """Open (creating) the store; ``start_over`` allows replacing a lost or
        unreadable database with a seeded one (``--state.reset``), else that raises."""
        self._dir = Path(state_dir)
        self._path = self._dir / DB_NAME
        self._clock = clock
        self._horizon_s = horizon_s
        self._memory_s = memory_s
        self._write_lock = threading.Lock()  # the connection and every write
        self._mem_lock = threading.Lock()  # the published state below
        self._ids: dict[str, int] = {}
        self._cursors: dict[str, int] = {}
        self._series: dict[str, SeriesData] = {}
        self._missed = 0
        self._published: StoreSnapshot | None = None
        self._changes = ChangeLog()  # the keys of every change published, for scrapes
        self._conn: sqlite3.Connection | None = None
        self._guard: DatabaseGuard | None = None
        self.ledger = LedgerTable(transaction=self._transaction, write_lock=self._write_lock)
        """Send times of the last day's requests, per budget: the quota's memory."""
        self.insight = InsightTable(transaction=self._transaction, write_lock=self._write_lock)
        """Data Insights points and accepted metric names (same file, same rules)."""
        self.calls = CallTable(transaction=self._transaction, write_lock=self._write_lock)
        """Call Inspector calls, sessions, newest samples and search cursors (same rules)."""
        prepare_dir(self._dir, self._path)
        try:
            self._open(start_over)
            self.prune(clock())
        except sqlite3.Error as error:
            self._abandon()
            raise self._error("opening the database", error) from error
        except BaseException:
            self._abandon()
            raise

    def _memory_oldest(self, now: float | None = None) -> int:
        """The oldest window start memory keeps (besides each uid's newest)."""
        if self._memory_s is None:
            return EVERYTHING
        return math.ceil((self._clock() if now is None else now) - self._memory_s)

    def keep_in_memory(self, memory_s: float | None) -> None:
        """Keep the windows of the last ``memory_s`` in memory from now on (None: all).

        Asking for more than before reads them back from the file.
        """
        with self._write_lock:
            more = memory_s is None or (self._memory_s is not None and memory_s > self._memory_s)
            self._memory_s = memory_s
            if not more:
                return  # the next commit or prune lets go of the surplus
            conn = self._conn
            if conn is None:
                raise StateDirError(f"state store {self._path}: the store is closed")
            keys = {series_id: key for key, series_id in self._ids.items()}
            try:
                conn.execute("BEGIN")
                found = read_windows(conn, keys, oldest=self._memory_oldest())
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                rollback(conn)
                raise self._error("reading windows back", error) from error
            with self._mem_lock:
                for key, data in found.items():
                    cursor = self._cursors.get(key)
                    self._series[key] = data if cursor is None else data.fetched_up_to(cursor)
                self._publish(found)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    # --- opening -------------------------------------------------------------

    def _load(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")  # one consistent read of everything
        missed = conn.execute("SELECT value FROM counters WHERE name = 'windows_missed_total'")
        self._missed = int(missed.fetchone()[0])
        keys: dict[int, str] = {}
        for series_id, key, cursor in conn.execute("SELECT id, key, cursor FROM series"):
            keys[series_id] = key
            self._ids[key] = series_id
            self._series[key] = EMPTY_SERIES
            if cursor is not None:
                self._cursors[key] = cursor
        self.ledger.load(conn, self._clock())
        self._series.update(read_windows(conn, keys, oldest=self._memory_oldest()))
        for key, cursor in self._cursors.items():
            self._series[key] = self._series[key].fetched_up_to(cursor)
        self.insight.load(conn)
        self.calls.load(conn)
        conn.execute("COMMIT")

    # --- series --------------------------------------------------------------

    def cursor(self, series_key: str) -> int | None:
        """Start of the next window ``series_key`` needs; None if never polled."""
        with self._mem_lock:
            return self._cursors.get(series_key)

    def commit_poll(
        self,
        series_key: str,
        rows: Sequence[WindowRow],
        *,
        cursor: int,
        missed_windows: int = 0,
    ) -> None:
        """Store one poll's windows, cursor and missed count in one transaction.

        A window fetched again replaces the stored value (the last of duplicate
        rows wins). The cursor never moves backwards: a smaller one is ignored.
        """
        if missed_windows < 0:
            raise ValueError(f"missed_windows must be >= 0, not {missed_windows}")
        rows = list(rows)
        check_rows(rows)
        with self._write_lock:
            data = self._series.get(series_key, EMPTY_SERIES).upserted(rows)
            data = data.since(self._memory_oldest(), keep_newest=True)
            old_cursor = self._cursors.get(series_key)
            new_cursor = int(cursor) if old_cursor is None else max(old_cursor, int(cursor))
            data = data.fetched_up_to(new_cursor)
            params = [
                (NULL_UID if row.uid is None else row.uid, row.ts, float(row.value)) for row in rows
            ]
            with self._transaction(f"storing a poll of {series_key}") as tx:
                series_id = self._ids.get(series_key)
                if series_id is None:
                    found = tx.execute(
                        "INSERT INTO series (key, cursor) VALUES (?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET cursor = excluded.cursor RETURNING id",
                        (series_key, new_cursor),
                    ).fetchall()
                    series_id = int(found[0][0])
                else:
                    tx.execute("UPDATE series SET cursor = ? WHERE id = ?", (new_cursor, series_id))
                tx.executemany(
                    "INSERT INTO windows (series_id, uid, ts, value) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET value = excluded.value",
                    [(series_id, *param) for param in params],
                )
                if missed_windows:
                    tx.execute(
                        "UPDATE counters SET value = value + ? WHERE name = 'windows_missed_total'",
                        (int(missed_windows),),
                    )
            with self._mem_lock:
                self._ids[series_key] = series_id
                self._series[series_key] = data
                self._cursors[series_key] = new_cursor
                self._missed += int(missed_windows)
                self._publish([series_key])

    def prune(self, now: float) -> None:
        """Drop windows older than the horizon (plus 10 min) and ledger entries older than 24 h.

        Memory also lets go of the windows older than ``memory_s``.
        """
        oldest_window = math.ceil(now - self._horizon_s - WINDOW_SLACK_S)
        oldest_in_memory = self._memory_oldest(now)
        with self._write_lock:
            changed: dict[str, SeriesData] = {}
            for key, data in self._series.items():
                kept = data.since(oldest_window).since(oldest_in_memory, keep_newest=True)
                if kept is not data:
                    changed[key] = kept
            with self._transaction("pruning old windows and requests") as tx:
                self.ledger.prune(tx, now)
                # memory no longer tells which series have old rows: ask each one
                tx.executemany(
                    "DELETE FROM windows WHERE series_id = ? AND ts < ?",
                    [(series_id, oldest_window) for series_id in self._ids.values()],
                )
            self.ledger.forget_pruned(now)
            with self._mem_lock:
                self._series.update(changed)
                if changed:
                    self._publish(changed)

    def forget_series(self, keep: Collection[str]) -> None:
        """Drop cursors and windows of every series not in ``keep`` (after a config reload)."""
        keep = set(keep)
        with self._write_lock:
            gone = [key for key in self._ids if key not in keep]
            if not gone:
                return
            ids = [(self._ids[key],) for key in gone]
            with self._transaction(f"forgetting {len(gone)} series") as tx:
                tx.executemany("DELETE FROM windows WHERE series_id = ?", ids)
                tx.executemany("DELETE FROM series WHERE id = ?", ids)
            with self._mem_lock:
                for key in gone:
                    del self._ids[key]
                    self._series.pop(key, None)
                    self._cursors.pop(key, None)
                self._publish(gone)

    # --- reading -------------------------------------------------------------

    def snapshot(self) -> StoreSnapshot:
        """Every series as of now; immutable, so it is safe to read while polls commit.

        Built at most once per change: scrapes between two commits share one.
        """
        with self._mem_lock:
            if self._published is None:
                series = dict(self._series)
                self._published = StoreSnapshot.adopt(series, self._missed, self._changes)
            return self._published

    def _publish(self, keys: Iterable[str]) -> None:
        """The next snapshot shows the series ``keys`` changed (under the memory lock)."""
        self._changes.add(keys)
        self._published = None

    @property
    def windows_missed_total(self) -> int:
        with self._mem_lock:
            return self._missed
