"""The store's request ledger: the send time of every request of the last 24 h, per budget.

``Store`` owns one ``LedgerTable`` (``store.ledger``) and lends it its
connection's transactions and write lock. An entry is committed, and synced to
disk (``synchronous=FULL``), before the request leaves: a crash or a power cut
right after still counts it, so a restart never overspends. Reads come from
memory, sorted per budget, and never wait for SQLite.
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

KEEP_S = 86400 + 60
"""Entries are kept a day and a minute: the longest period any limit counts over."""

DurableTransaction = Callable[..., AbstractContextManager[sqlite3.Connection]]


class LedgerTable:
    """Request send times per budget; thread-safe."""

    def __init__(self, *, transaction: DurableTransaction, write_lock: threading.Lock) -> None:
        self._transaction = transaction
        self._write_lock = write_lock
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = {}

    def load(self, conn: sqlite3.Connection, now: float) -> None:
        """Read the last day's entries (inside the store's opening transaction)."""
        found: dict[str, list[float]] = {}
        rows = conn.execute(
            "SELECT budget, at FROM ledger WHERE at >= ? ORDER BY at", (now - KEEP_S,)
        )
        for budget, at in rows:
            found.setdefault(budget, []).append(at)
        with self._lock:
            self._times = found

    def record(self, budget: str, endpoint: str, at: float) -> None:
        """Record a request about to be sent; committed (and synced) before returning."""
        budget, at = str(budget), float(at)
        with self._write_lock:
            with self._transaction("recording a request", durable=True) as tx:
                tx.execute(
                    "INSERT INTO ledger (at, budget, endpoint) VALUES (?, ?, ?)",
                    (at, budget, str(endpoint)),
                )
            with self._lock:
                bisect.insort(self._times.setdefault(budget, []), at)

    def times(self, budget: str, since: float) -> list[float]:
        """Send times of ``budget``'s requests strictly after ``since``, ascending."""
        with self._lock:
            times = self._times.get(str(budget))
            if not times:
                return []
            return times[bisect.bisect_right(times, since) :]

    def count(self, budget: str, since: float) -> int:
        """How many of ``budget``'s requests were sent strictly after ``since`` (no copy:
        a scrape asks every period of every budget, and a day may hold 270,000)."""
        with self._lock:
            times = self._times.get(str(budget))
            return 0 if not times else len(times) - bisect.bisect_right(times, since)

    def budgets(self) -> list[str]:
        """Budgets with requests in the ledger (the last 24 h), sorted."""
        with self._lock:
            return sorted(budget for budget, times in self._times.items() if times)

    def prune(self, tx: sqlite3.Connection, now: float) -> None:
        """Delete entries older than a day, in the caller's transaction."""
        tx.execute("DELETE FROM ledger WHERE at < ?", (now - KEEP_S,))

    def forget_pruned(self, now: float) -> None:
        """Let memory go of what :meth:`prune` deleted (after the commit)."""
        oldest = now - KEEP_S
        with self._lock:
            for budget, times in list(self._times.items()):
                del times[: bisect.bisect_left(times, oldest)]
                if not times:
                    del self._times[budget]
