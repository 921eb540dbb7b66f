"""Opening the state store: the directory, the connection, the schema's identity.

Each check names the path and the fix; :class:`~exporter.store.sqlite.Store`
runs them in order before it reads anything.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from exporter.store.schema import APPLICATION_ID, MIGRATIONS, StateDirError, state_error


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


def connect(path: Path, *, busy_timeout_ms: float) -> sqlite3.Connection:
    """The one read-write connection, in WAL mode (closed again if WAL is refused)."""
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StateDirError(
                f"state store {path}: SQLite refused WAL mode (got {mode!r}); "
                "put state_dir on a local filesystem"
            )
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


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
