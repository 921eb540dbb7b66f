"""Read the store's windows without writing anything: safe beside a running daemon.

``Store`` opens read-write, migrates and prunes; that is the daemon's job. Tools
that only look at history (``agora-exporter backfill``) use :func:`read_history`
instead: a ``mode=ro`` SQLite connection and one read transaction, so the copy is
consistent while the daemon keeps committing (WAL), nothing is pruned, and no
lock on ``state_dir`` is needed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote

from exporter.backfill.history import FetchedHistory, load_history
from exporter.store.connection import BUSY_TIMEOUT_MS
from exporter.store.data import StoreSnapshot, WindowValues
from exporter.store.loading import read_windows
from exporter.store.opening import schema_version
from exporter.store.schema import DB_NAME, StateDirError, state_error


@dataclass(frozen=True)
class StoredHistory:
    """Everything stored: real-time windows and Data Insights points by series key."""

    windows: StoreSnapshot = field(default_factory=StoreSnapshot)
    insight: Mapping[str, WindowValues] = field(default_factory=lambda: MappingProxyType({}))
    fetched: FetchedHistory = field(default_factory=FetchedHistory)
    """Older insight points ``backfill --fetch`` kept beside the database."""


def _connect(path: Path, *, immutable: bool) -> sqlite3.Connection:
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    uri = f"file:{quote(str(path.resolve()))}?{flags}"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path) -> bool:
    """True when the file holds an agora-exporter schema; False when it is still empty."""
    return schema_version(conn, path) > 0


def _insight(conn: sqlite3.Connection) -> Mapping[str, WindowValues]:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'insight_points'"
    ).fetchone()
    if found is None:  # a store from before Data Insights
        return MappingProxyType({})
    points: dict[str, dict[int, float]] = {}
    for key, ts, value in conn.execute("SELECT key, ts, value FROM insight_points"):
        points.setdefault(str(key), {})[int(ts)] = float(value)
    return MappingProxyType({key: WindowValues(one.items()) for key, one in points.items()})


def _read(conn: sqlite3.Connection, path: Path) -> StoredHistory:
    conn.execute("BEGIN")  # one consistent read, whatever the daemon commits meanwhile
    try:
        if not _check_schema(conn, path):
            return StoredHistory()
        found = conn.execute("SELECT value FROM counters WHERE name = 'windows_missed_total'")
        row = found.fetchone()
        missed = int(row[0]) if row else 0
        rows = conn.execute("SELECT id, key, cursor FROM series").fetchall()
        keys = {series_id: key for series_id, key, _ in rows}
        series = read_windows(conn, keys)
        for _, key, cursor in rows:
            if cursor is not None and key in series:
                series[key] = series[key].fetched_up_to(cursor)
        return StoredHistory(StoreSnapshot.adopt(series, missed), _insight(conn))
    finally:
        conn.execute("COMMIT")


def read_history(state_dir: Path) -> StoredHistory:
    """Everything stored under ``state_dir``: windows as the daemon's ``Store.snapshot()``
    shows them, every Data Insights point, and the history ``backfill --fetch`` kept.

    Nothing is written or pruned. Raises ``StateDirError`` (naming the path) when
    there is no database or it cannot be read.
    """
    path = Path(state_dir) / DB_NAME
    if not path.is_file():
        raise StateDirError(
            f"state store {path}: no database there; check state_dir, or run the "
            "exporter with this configuration first"
        )
    fetched = load_history(state_dir)
    try:
        with closing(_connect(path, immutable=False)) as conn:
            return replace(_read(conn, path), fetched=fetched)
    except sqlite3.OperationalError as error:
        # A read-only state_dir without -shm: no writer can be running, so read it as is.
        if "readonly" not in str(error) and "unable to open" not in str(error):
            raise state_error(path, "reading the database", error, busy_s=5) from error
    except sqlite3.Error as error:
        raise state_error(path, "reading the database", error, busy_s=5) from error
    try:
        with closing(_connect(path, immutable=True)) as conn:
            return replace(_read(conn, path), fetched=fetched)
    except sqlite3.Error as error:
        raise state_error(path, "reading the database", error, busy_s=5) from error


def ledger_counts(state_dir: Path, *, budget: str, since: float) -> dict[str, int]:
    """Requests of ``budget`` recorded after ``since``, counted by the ledger's endpoint column."""
    path = Path(state_dir) / DB_NAME
    if not path.is_file():
        return {}
    try:
        with closing(_connect(path, immutable=False)) as conn:
            found = conn.execute(
                "SELECT endpoint, count(*) FROM ledger WHERE budget = ? AND at > ? GROUP BY 1",
                (budget, since),
            ).fetchall()
    except sqlite3.Error as error:
        raise state_error(path, "reading the ledger", error, busy_s=5) from error
    return {str(endpoint): int(count) for endpoint, count in found}
