"""The store's one SQLite connection: transactions, errors that name the file, closing.

``Store`` (and through it every table of the store) writes only inside
:meth:`Connection._transaction`: ``BEGIN IMMEDIATE`` .. ``COMMIT``, where any
failure rolls back and becomes one :class:`StateDirError` naming the file and
the fix. Subclasses set ``_conn``, ``_path`` and ``_write_lock``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Self

from exporter.store.schema import StateDirError, state_error

BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another process's lock (a ``backfill`` reader) before failing."""


class Connection:
    """One connection, its write lock and its transactions."""

    _conn: sqlite3.Connection | None
    _path: Path
    _write_lock: threading.Lock

    def _abandon(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _error(self, action: str, error: BaseException) -> StateDirError:
        return state_error(self._path, action, error, busy_s=BUSY_TIMEOUT_MS / 1000)

    @contextmanager
    def _transaction(self, action: str, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT; any failure rolls back and raises StateDirError.

        ``durable`` syncs the WAL at commit (synchronous=FULL), so the entry
        survives a power cut too, not only a crash of the process.
        """
        conn = self._conn
        if conn is None:
            raise StateDirError(f"state store {self._path}: {action} failed: the store is closed")
        try:
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            rollback(conn)
            raise self._error(action, error) from error
        except BaseException:
            rollback(conn)
            raise
        finally:
            if durable:
                with suppress(sqlite3.Error):
                    conn.execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        with self._write_lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.execute("PRAGMA optimize")
                conn.close()
            except sqlite3.Error as error:
                raise self._error("closing the database", error) from error

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):  # SQLite may have rolled back already (SQLITE_FULL)
            conn.execute("ROLLBACK")
