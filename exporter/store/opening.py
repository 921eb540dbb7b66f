"""Opening the state store: the directory, the lock, the connection, the schema, integrity.

Each check names the path and the fix; :class:`~exporter.store.sqlite.Store`
runs them (:func:`open_checked`) before it reads anything. A database that is
missing, empty or unreadable where one existed is refused, or started over
when the caller allows it (:mod:`exporter.store.startover`).

Integrity at open is ``PRAGMA quick_check``, not ``integrity_check``: it reads
every page of every table and checks the b-trees, which is what a damaged page
breaks, in time linear in the file (0.5 s for the 100 MB of 22,010 series and
an hour of windows), while ``integrity_check`` also matches every index to its
table, which costs more and adds nothing the store's reads rely on. It stops
after :data:`INTEGRITY_BUDGET_S` with a warning, so a huge file on a slow disk
delays a start by that much at most; SQLite still reports a damaged page when
a read meets it.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from exporter.store.guard import DatabaseGuard
from exporter.store.schema import APPLICATION_ID, MIGRATIONS, StateDirError, state_error
from exporter.store.startover import (
    CREATED_NAME,
    StartOver,
    evidence,
    had_database,
    move_aside,
    refusal,
    seed_rows,
)

log = logging.getLogger(__name__)

INTEGRITY_BUDGET_S = 10.0
"""The longest the integrity check at open may take before the start goes on without it."""
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
EMPTY = "is empty (0 bytes)"
NO_SCHEMA = "holds no agora-exporter schema (it is empty)"


def prepare_dir(state_dir: Path, path: Path) -> None:
    """Create ``state_dir`` if needed and check that ``path`` can be a database there."""
    action = "creating the state directory"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if not state_dir.is_dir():
            raise StateDirError(
                f"state store {state_dir}: exists but is not a directory; "
                "point state_dir at a directory (it is created if missing)"
            )
        action = "writing a file in the state directory"
        with tempfile.TemporaryFile(dir=state_dir, prefix=".write-test-"):
            pass
        action = "checking the database file"
        if path.exists() and not path.is_file():
            raise StateDirError(
                f"state store {path}: exists but is not a regular file; "
                "move it aside or point state_dir elsewhere"
            )
    except OSError as error:
        raise state_error(state_dir, action, error, busy_s=0) from error


def connect(path: Path, *, busy_timeout_ms: float, wal: bool = True) -> sqlite3.Connection:
    """The one read-write connection, in WAL mode (closed again if WAL is refused).

    ``wal=False`` leaves the file's journal mode alone, so checks can read a
    file without writing to it; :func:`use_wal` switches later.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if wal:
            use_wal(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def use_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Put the database in WAL mode, or raise StateDirError."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StateDirError(
            f"state store {path}: SQLite refused WAL mode (got {mode!r}); "
            "put state_dir on a local filesystem"
        )
    conn.execute("PRAGMA synchronous = NORMAL")


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; raises when the file is not ours or is newer than this code."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise StateDirError(
            f"state store {path}: schema version {version} was written by a newer "
            f"agora-exporter (this one knows up to {len(MIGRATIONS)}); upgrade the exporter "
            "or move the file aside"
        )
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise StateDirError(
            f"state store {path}: the file is an SQLite database of another program; "
            "move it aside or point state_dir elsewhere"
        )
    if version > 0 and conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
        raise StateDirError(
            f"state store {path}: the file is not an agora-exporter database; "
            "move it aside or point state_dir elsewhere"
        )
    return version


def is_corrupt(error: BaseException) -> bool:
    """True for SQLite's "corrupt" and "not a database" errors."""
    return str(getattr(error, "sqlite_errorname", "")).startswith(_CORRUPT)


def quick_check(conn: sqlite3.Connection, path: Path, budget_s: float) -> str | None:
    """None when ``PRAGMA quick_check`` finds nothing wrong (or runs out of time);
    otherwise what it found."""
    deadline = time.monotonic() + budget_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorname", "") != "SQLITE_INTERRUPT":
            raise
        log.warning(
            "the integrity check of the state database ran out of time; starting without it",
            extra={"path": str(path), "budget_s": budget_s},
        )
        return None
    finally:
        conn.set_progress_handler(None, 0)
    if found == ["ok"]:
        return None
    return f"is corrupt (PRAGMA quick_check: {'; '.join(found)})"


@dataclass
class Opened:
    """A locked, checked database and what the store must do before reading it."""

    conn: sqlite3.Connection
    guard: DatabaseGuard
    seeds: list[tuple[float, str, str]] = field(default_factory=list)
    """Ledger rows to write with the schema (a start over)."""
    mark: bool = False
    """Write the sidecar saying a database was created here, once the schema is in."""


def open_checked(
    state_dir: Path,
    path: Path,
    *,
    start_over: StartOver | None,
    now: float,
    busy_timeout_ms: float,
    budget_s: float | None = None,
) -> Opened:
    """Lock ``path`` and open it after the checks, or start over when allowed.

    Raises :class:`StateDirError` when another process holds the database, or
    when it is lost or unreadable and ``start_over`` is None.
    """
    existed = had_database(state_dir, path)
    marked = (state_dir / CREATED_NAME).exists()
    missing = not path.exists()
    guard = DatabaseGuard(path).acquire()
    try:
        budget = INTEGRITY_BUDGET_S if budget_s is None else budget_s
        conn, problem = _examine(guard, path, (existed, marked), busy_timeout_ms, budget)
    except BaseException:
        guard.release()
        raise
    if conn is not None:
        if start_over is not None:
            log.info(
                "--state.reset: the state database is sound and is kept as it is; remove the flag",
                extra={"path": str(path)},
            )
        return Opened(conn, guard, mark=not marked)
    if problem == EMPTY and missing:
        problem = "is missing"
    if start_over is None:
        if missing:
            path.unlink(missing_ok=True)  # the lock's descriptor created it: leave no trace
        guard.release()
        lost = evidence(state_dir) if problem in (EMPTY, "is missing", NO_SCHEMA) else None
        raise refusal(path, problem, existed=lost)
    return start_fresh(
        path, guard, start_over, now=now, problem=problem, busy_timeout_ms=busy_timeout_ms
    )


def start_fresh(
    path: Path,
    guard: DatabaseGuard,
    start_over: StartOver,
    *,
    now: float,
    problem: str,
    busy_timeout_ms: float,
) -> Opened:
    """Move the lost database aside and open a new one, its ledger to be seeded."""
    moved = move_aside(path, now)
    guard.release()  # no connection is open on the old file: closing drops no SQLite lock
    fresh = DatabaseGuard(path).acquire()
    try:
        conn = connect(path, busy_timeout_ms=busy_timeout_ms)
    except BaseException:
        fresh.release()
        raise
    log.warning(
        "--state.reset: starting over with a new state database; the ledger counts the "
        "last 24 h of every budget as used, so polls ramp up over a day",
        extra={"path": str(path), "problem": problem, "moved_aside": [str(p) for p in moved]},
    )
    return Opened(conn, fresh, seeds=seed_rows(start_over.limits, now), mark=True)


def _examine(
    guard: DatabaseGuard,
    path: Path,
    signs: tuple[bool, bool],
    busy_timeout_ms: float,
    budget_s: float,
) -> tuple[sqlite3.Connection | None, str]:
    """The open connection when the file is sound (or a first start), else what is wrong.

    ``signs``: whether anything says a database existed here, and whether
    the sidecar does. A file without tables is lost only when the sidecar says
    it had them: a ``-wal`` alone may hold a first start's schema, never committed.
    """
    existed, marked = signs
    if guard.size() == 0 and existed:
        return None, EMPTY
    conn = connect(path, busy_timeout_ms=busy_timeout_ms, wal=False)  # read before any write
    try:
        version = schema_version(conn, path)
        if version == 0:
            problem = NO_SCHEMA if marked else None
        else:
            problem = quick_check(conn, path, budget_s)
        if problem is None:
            use_wal(conn, path)
            return conn, ""
    except sqlite3.DatabaseError as error:
        conn.close()
        if not is_corrupt(error):
            raise
        if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
            return None, f"is not an SQLite database ({error})"
        return None, f"is corrupt ({error})"
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None, problem
