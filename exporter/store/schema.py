"""The store's SQLite schema (versioned by ``PRAGMA user_version``) and its errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

DB_NAME = "agora-exporter.sqlite3"
APPLICATION_ID = 0x41474F52  # "AGOR": marks the file as ours

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: ledger, series (key -> id, cursor), windows, counters.
    (
        """CREATE TABLE ledger (
            at REAL NOT NULL,
            budget TEXT NOT NULL,
            endpoint TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX ledger_at ON ledger (at)",
        """CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            cursor INTEGER
        ) STRICT""",
        # uid -1 is project or channel scope (real uids are >= 0); value NULL is NaN.
        """CREATE TABLE windows (
            series_id INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            value REAL,
            PRIMARY KEY (series_id, uid, ts)
        ) WITHOUT ROWID, STRICT""",
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID, STRICT""",
        "INSERT INTO counters (name, value) VALUES ('windows_missed_total', 0)",
    ),
    # 2: Data Insights points (ts and value as the API gave them) and the metric
    # names the API accepted (the peak metrics have two spellings).
    (
        """CREATE TABLE insight_points (
            key TEXT NOT NULL,
            ts INTEGER NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (key, ts)
        ) WITHOUT ROWID, STRICT""",
        """CREATE TABLE insight_names (
            metric TEXT PRIMARY KEY,
            name TEXT NOT NULL
        ) WITHOUT ROWID, STRICT""",
    ),
    # 3: Call Inspector: inspected calls (metrics cursor, when the last window was
    # fetched), their sessions, the newest sample per series, call-search cursors.
    (
        """CREATE TABLE calls (
            appid TEXT NOT NULL,
            call_id TEXT NOT NULL,
            cname TEXT NOT NULL,
            created_ts INTEGER NOT NULL,
            destroyed_ts INTEGER,
            finished INTEGER NOT NULL,
            cursor INTEGER,
            done_at REAL,
            PRIMARY KEY (appid, call_id)
        ) WITHOUT ROWID, STRICT""",
        """CREATE TABLE call_sessions (
            appid TEXT NOT NULL,
            call_id TEXT NOT NULL,
            sid TEXT NOT NULL,
            uid INTEGER NOT NULL,
            join_ts INTEGER NOT NULL,
            leave_ts INTEGER,
            finished INTEGER NOT NULL,
            platform TEXT NOT NULL,
            network TEXT NOT NULL,
            device_type TEXT NOT NULL,
            sdk_version TEXT NOT NULL,
            PRIMARY KEY (appid, call_id, sid)
        ) WITHOUT ROWID, STRICT""",
        """CREATE TABLE call_samples (
            appid TEXT NOT NULL,
            call_id TEXT NOT NULL,
            sid TEXT NOT NULL,
            mid INTEGER NOT NULL,
            peer_uid INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (appid, call_id, sid, mid, peer_uid)
        ) WITHOUT ROWID, STRICT""",
        """CREATE TABLE call_cursors (
            key TEXT PRIMARY KEY,
            cursor INTEGER NOT NULL
        ) WITHOUT ROWID, STRICT""",
    ),
)
"""Append only: entry ``n`` takes a database from user_version ``n`` to ``n + 1``."""


class StateDirError(Exception):
    """The state directory or its database cannot be used; the message says why and what to do."""


_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_READONLY = ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")


def state_error(path: Path, action: str, error: BaseException, *, busy_s: float) -> StateDirError:
    """One readable ``StateDirError`` for a failed sqlite3 or OS call on ``path``."""
    name = getattr(error, "sqlite_errorname", "") or ""
    number = getattr(error, "errno", None)
    detail = str(error) or type(error).__name__
    if name.startswith("SQLITE_FULL") or number in (errno.ENOSPC, errno.EDQUOT):
        problem = "the disk is full"
        todo = "free space on that filesystem or point state_dir at another one"
    elif name.startswith(_BUSY):
        problem = f"the database stayed locked for more than {busy_s:g} s"
        todo = (
            "make sure no other agora-exporter (or sqlite3 shell) holds this state_dir; "
            "two exporters on one state_dir would also overspend the quota"
        )
    elif name.startswith(_CORRUPT):
        problem = "the database file is corrupt or is not an agora-exporter database"
        todo = (
            "stop the exporter; restore the database from a backup, or restart it with "
            "--state.reset: the broken file is moved aside and the new ledger counts the "
            "last 24 h of every budget as used, so the lost ledger cannot overspend"
        )
    elif name.startswith(_READONLY) or isinstance(error, PermissionError):
        problem = "it is not writable"
        todo = (
            f"make the directory and its files writable by uid {os.geteuid()}, "
            "or point state_dir at a writable directory"
        )
    elif isinstance(error, NotADirectoryError | FileExistsError):
        problem = "a path component is a file, not a directory"
        todo = "point state_dir at a directory (it is created if missing)"
    elif name.startswith("SQLITE_IOERR") or isinstance(error, OSError):
        problem = "an I/O error occurred"
        todo = "check the disk and filesystem holding state_dir"
    else:
        problem = "SQLite failed"
        todo = "check the disk holding state_dir; if this persists, move the database aside"
    return StateDirError(f"state store {path}: {action} failed: {problem} ({detail}); {todo}")
