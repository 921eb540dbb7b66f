"""The store's one SQLite connection: transactions, errors that name the file, closing.

``Store`` (and through it every table of the store) writes only inside
:meth:`Connection._transaction`: ``BEGIN IMMEDIATE`` .. ``COMMIT``, where any
failure rolls back and becomes one :class:`StateDirError` naming the file and
the fix. Subclasses set ``_conn``, ``_guard``, ``_dir``, ``_path``, ``_clock`` and
``_write_lock``, call :meth:`Connection._open` and implement ``_load``.

Before every ``BEGIN`` and ``COMMIT`` the transaction checks that the path
still names the file the store locked and opened (:meth:`DatabaseGuard.problem`:
three system calls, microseconds): a database deleted, replaced or emptied
while running would otherwise take commits that no restart ever sees. Once
that check fails the store is lost for good: that transaction and every later
one raise ``StateDirError`` (logged once, as critical), so no ledger entry is
written and no request leaves; polls record ``store_error`` and ``agora_up``
goes to 0 until the exporter is restarted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Self

from exporter.store.guard import DatabaseGuard
from exporter.store.opening import Opened, open_checked, schema_version
from exporter.store.schema import APPLICATION_ID, MIGRATIONS, StateDirError, state_error
from exporter.store.startover import StartOver, write_created
from exporter.timing.clock import Clock

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another process's lock (a ``backfill`` reader) before failing."""


class Connection:
    """One connection, its write lock and its transactions."""

    _conn: sqlite3.Connection | None
    _guard: DatabaseGuard | None
    _dir: Path
    _path: Path
    _clock: Clock
    _write_lock: threading.Lock
    started_over: bool = False
    """True when this store replaced a lost or unreadable database (``start_over``)."""
    _lost: str | None = None
    """What happened to the database file, once the check before a commit failed."""

    def _abandon(self) -> None:
        conn, self._conn = self._conn, None
        guard, self._guard = self._guard, None
        if conn is not None:
            conn.close()
        if guard is not None:
            guard.release()  # after the connection: see exporter.store.guard

    def _check_file(self, action: str) -> None:
        """Raise StateDirError when the database file is no longer the one opened."""
        if self._lost is None:
            problem = None if self._guard is None else self._guard.problem()
            if problem is None:
                return
            self._lost = (
                f"the database file {problem} while the exporter was running; nothing more "
                "is stored or sent until it is restarted. Stop it; restore the file from a "
                "backup, or restart with --state.reset to start over (the new ledger counts "
                "the last 24 h of every budget as used)"
            )
            log.critical(
                "the state database is gone from under the exporter; no request will be sent",
                extra={"path": str(self._path), "error": self._lost},
            )
        raise StateDirError(f"state store {self._path}: {action} failed: {self._lost}")

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
        self._check_file(action)  # before SQLite meets a swapped file with errors of its own
        try:
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            self._check_file(action)
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

    # --- opening ---------------------------------------------------------------

    def _open(self, start_over: StartOver | None) -> None:
        """Lock and check the database (starting over when allowed), then load it."""
        now = self._clock()
        opened = open_checked(
            self._dir, self._path, start_over=start_over, now=now, busy_timeout_ms=BUSY_TIMEOUT_MS
        )
        self.started_over = bool(opened.seeds)
        self._adopt(opened, now)

    def _adopt(self, opened: Opened, now: float) -> None:
        """Take the checked connection: schema (and seeds), the sidecar, then everything."""
        self._conn, self._guard = opened.conn, opened.guard
        self._migrate(opened.conn, opened.seeds)
        if opened.mark:
            write_created(self._dir, now, started_over=bool(opened.seeds))
        self._load(opened.conn)

    def _migrate(self, conn: sqlite3.Connection, seeds: list[tuple[float, str, str]]) -> None:
        """Bring the schema up to date; a start over's ledger seeds in the same transaction."""
        version = schema_version(conn, self._path)
        if version == len(MIGRATIONS) and not seeds:
            return
        with self._transaction("creating the schema", durable=bool(seeds)) as tx:
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    tx.execute(statement)
            tx.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            tx.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            tx.executemany("INSERT INTO ledger (at, budget, endpoint) VALUES (?, ?, ?)", seeds)

    def _load(self, conn: sqlite3.Connection) -> None:
        """Read everything into memory (the subclass's tables)."""
        raise NotImplementedError

    # --- closing ---------------------------------------------------------------

    def close(self) -> None:
        with self._write_lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if self._lost is None:
                    conn.execute("PRAGMA optimize")
                conn.close()
            except sqlite3.Error as error:
                raise self._error("closing the database", error) from error
            finally:
                self._abandon()  # the lock, once the connection is closed

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
