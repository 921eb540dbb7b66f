"""The store's Data Insights side: points per insight series, and accepted metric names.

``Store`` owns one ``InsightTable`` (``store.insight``) and lends it its
connection's transactions and write lock, so insight writes follow the same
rules as the rest: one transaction per call, memory published only after the
commit. Points are kept as the API gave them (``ts`` untouched, durations in
minutes); a point fetched again replaces the stored value.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from types import MappingProxyType

from exporter.store.data import EMPTY_WINDOWS, WindowValues

Transaction = Callable[[str], AbstractContextManager[sqlite3.Connection]]

KEEP_S = 8 * 86400
"""Points older than this before a series' newest are dropped (the longest query is 7 days)."""


class InsightTable:
    """Insight points and metric names; thread-safe."""

    def __init__(self, *, transaction: Transaction, write_lock: threading.Lock) -> None:
        self._transaction = transaction
        self._write_lock = write_lock
        self._lock = threading.Lock()
        self._points: dict[str, WindowValues] = {}
        self._names: dict[str, str] = {}
        self._published: Mapping[str, WindowValues] | None = None

    def load(self, conn: sqlite3.Connection) -> None:
        """Read everything (inside the store's opening transaction)."""
        found: dict[str, dict[int, float]] = {}
        for key, ts, value in conn.execute("SELECT key, ts, value FROM insight_points"):
            found.setdefault(key, {})[int(ts)] = float(value)
        names = dict(conn.execute("SELECT metric, name FROM insight_names"))
        with self._lock:
            self._points = {key: WindowValues(points.items()) for key, points in found.items()}
            self._names = {str(metric): str(name) for metric, name in names.items()}
            self._published = None

    def newest_ts(self, key: str) -> int | None:
        """The newest stored point of a series; None if it has none."""
        with self._lock:
            found = self._points.get(key)
        newest = found.newest() if found is not None else None
        return None if newest is None else newest[0]

    def commit(self, key: str, points: Iterable[tuple[int, float]]) -> None:
        """Upsert one answer's points and drop those older than ``KEEP_S`` before the newest."""
        newer = {int(ts): float(value) for ts, value in points}
        if not newer:
            return
        with self._write_lock:
            with self._lock:
                merged = self._points.get(key, EMPTY_WINDOWS).merged(newer)
            newest = merged.newest()
            assert newest is not None
            cutoff = newest[0] - KEEP_S
            with self._transaction(f"storing insight points of {key}") as tx:
                tx.executemany(
                    "INSERT INTO insight_points (key, ts, value) VALUES (?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET value = excluded.value",
                    [(key, ts, value) for ts, value in newer.items()],
                )
                tx.execute("DELETE FROM insight_points WHERE key = ? AND ts < ?", (key, cutoff))
            with self._lock:
                self._points[key] = merged.since(cutoff)
                self._published = None

    def name_for(self, metric: str) -> str | None:
        """The spelling of ``metric`` the API last accepted; None if never asked."""
        with self._lock:
            return self._names.get(metric)

    def remember_name(self, metric: str, name: str) -> None:
        """Remember the spelling the API accepted (kept across restarts)."""
        with self._write_lock:
            with self._transaction(f"remembering the API's name for {metric}") as tx:
                tx.execute(
                    "INSERT INTO insight_names (metric, name) VALUES (?, ?) "
                    "ON CONFLICT DO UPDATE SET name = excluded.name",
                    (metric, name),
                )
            with self._lock:
                self._names[metric] = name

    def snapshot(self) -> Mapping[str, WindowValues]:
        """Every series' points as of now; immutable, built at most once per change."""
        with self._lock:
            if self._published is None:
                self._published = MappingProxyType(dict(self._points))
            return self._published
