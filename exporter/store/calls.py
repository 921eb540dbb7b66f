"""The store's Call Inspector side: inspected calls, their sessions and newest samples.

``Store`` owns one ``CallTable`` (``store.calls``) and lends it its connection's
transactions and write lock, so call writes follow the same rules as the rest:
one transaction per call, memory published only after the commit.

Per inspected call the table keeps the call as the search listed it, the
metrics cursor (the first second not fetched yet, so nothing is fetched
twice), when its last window was fetched (``done_at``), the user sessions of
the last frame and the newest sample of each (session, metric ID, peer)
series. Per call search it keeps the list cursor: where the next search starts.
:func:`read_calls` reads all of it read-only, beside a running daemon.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

Transaction = Callable[[str], AbstractContextManager[sqlite3.Connection]]


@dataclass(frozen=True)
class CallSession:
    """One user's stay in a call, as the sessions endpoint described it."""

    sid: str
    uid: int
    join_ts: int
    leave_ts: int | None = None
    finished: bool = False
    platform: str = ""
    network: str = ""
    device_type: str = ""
    sdk_version: str = ""


@dataclass(frozen=True)
class CallSample:
    """The newest sample fetched of one series: a session's metric ID towards a peer (0: own)."""

    sid: str
    mid: int
    peer_uid: int
    ts: int
    value: float


@dataclass(frozen=True)
class TrackedCall:
    """One inspected call and what was fetched for it."""

    appid: str
    call_id: str
    cname: str
    created_ts: int
    destroyed_ts: int | None = None
    finished: bool = False
    cursor: int | None = None
    """First second whose metrics are not fetched yet (None: nothing fetched)."""
    done_at: float | None = None
    """When its last window was fetched (finished calls): the series go one cycle later."""
    sessions: tuple[CallSession, ...] = ()
    samples: tuple[CallSample, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.appid, self.call_id)


_CALL_COLUMNS = "appid, call_id, cname, created_ts, destroyed_ts, finished, cursor, done_at"
_SESSION_COLUMNS = (
    "appid, call_id, sid, uid, join_ts, leave_ts, finished, platform, network, device_type, "
    "sdk_version"
)
_SAMPLE_COLUMNS = "appid, call_id, sid, mid, peer_uid, ts, value"


def _call_row(call: TrackedCall) -> tuple[object, ...]:
    return (
        call.appid,
        call.call_id,
        call.cname,
        call.created_ts,
        call.destroyed_ts,
        int(call.finished),
        call.cursor,
        call.done_at,
    )


def _session_row(key: tuple[str, str], s: CallSession) -> tuple[object, ...]:
    info = (s.platform, s.network, s.device_type, s.sdk_version)
    return (*key, s.sid, s.uid, s.join_ts, s.leave_ts, int(s.finished), *info)


def _read_all(
    conn: sqlite3.Connection,
) -> tuple[dict[tuple[str, str], TrackedCall], dict[str, int]]:
    sessions: dict[tuple[str, str], list[CallSession]] = {}
    for appid, call_id, sid, uid, join, leave, finished, *info in conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM call_sessions ORDER BY appid, call_id, join_ts DESC, sid"
    ):
        session = CallSession(str(sid), int(uid), int(join), leave, bool(finished), *info)
        sessions.setdefault((appid, call_id), []).append(session)
    samples: dict[tuple[str, str], list[CallSample]] = {}
    for appid, call_id, sid, mid, peer, ts, value in conn.execute(
        f"SELECT {_SAMPLE_COLUMNS} FROM call_samples ORDER BY appid, call_id, sid, mid, peer_uid"
    ):
        sample = CallSample(str(sid), int(mid), int(peer), int(ts), float(value))
        samples.setdefault((appid, call_id), []).append(sample)
    calls: dict[tuple[str, str], TrackedCall] = {}
    for appid, call_id, cname, created, destroyed, finished, cursor, done_at in conn.execute(
        f"SELECT {_CALL_COLUMNS} FROM calls"
    ):
        key = (str(appid), str(call_id))
        calls[key] = TrackedCall(
            key[0],
            key[1],
            str(cname),
            int(created),
            destroyed,
            bool(finished),
            cursor,
            done_at,
            tuple(sessions.get(key, ())),
            tuple(samples.get(key, ())),
        )
    cursors = {str(key): int(cursor) for key, cursor in conn.execute("SELECT * FROM call_cursors")}
    return calls, cursors


class CallTable:
    """Inspected calls and call-search cursors; thread-safe."""

    def __init__(self, *, transaction: Transaction, write_lock: threading.Lock) -> None:
        self._transaction = transaction
        self._write_lock = write_lock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], TrackedCall] = {}
        self._cursors: dict[str, int] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        """Read everything (inside the store's opening transaction)."""
        calls, cursors = _read_all(conn)
        with self._lock:
            self._calls, self._cursors = calls, cursors

    # --- reading ---------------------------------------------------------------

    def tracked(self, appid: str | None = None) -> list[TrackedCall]:
        """Inspected calls (of one app), oldest first."""
        with self._lock:
            found = [c for c in self._calls.values() if appid is None or c.appid == appid]
        return sorted(found, key=lambda c: (c.created_ts, c.call_id))

    def get(self, appid: str, call_id: str) -> TrackedCall | None:
        with self._lock:
            return self._calls.get((appid, call_id))

    def list_cursor(self, key: str) -> int | None:
        """Where the call search ``key`` starts next; None: never searched."""
        with self._lock:
            return self._cursors.get(key)

    def snapshot(self) -> tuple[TrackedCall, ...]:
        """Every inspected call, as immutable values."""
        return tuple(self.tracked())

    # --- writing ---------------------------------------------------------------

    def set_list_cursor(self, key: str, cursor: int) -> None:
        with self._write_lock:
            with self._transaction(f"storing the call search cursor {key}") as tx:
                tx.execute(
                    "INSERT INTO call_cursors (key, cursor) VALUES (?, ?) "
                    "ON CONFLICT DO UPDATE SET cursor = excluded.cursor",
                    (key, int(cursor)),
                )
            with self._lock:
                self._cursors[key] = int(cursor)

    def upsert(self, calls: Iterable[TrackedCall]) -> None:
        """Start inspecting calls, or update what the search says of them (not sessions)."""
        rows = list(calls)
        if not rows:
            return
        with self._write_lock:
            with self._transaction(f"storing {len(rows)} inspected calls") as tx:
                tx.executemany(
                    f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET cname = excluded.cname, "
                    "destroyed_ts = excluded.destroyed_ts, finished = excluded.finished, "
                    "cursor = excluded.cursor, done_at = excluded.done_at",
                    [_call_row(call) for call in rows],
                )
            with self._lock:
                for call in rows:
                    old = self._calls.get(call.key)
                    if old is not None:
                        call = replace(call, sessions=old.sessions, samples=old.samples)
                    self._calls[call.key] = call

    def commit_details(self, call: TrackedCall) -> None:
        """Replace one call's row, sessions and samples with ``call``'s, in one transaction."""
        key = call.key
        with self._write_lock:
            with self._transaction(f"storing the details of call {call.call_id}") as tx:
                tx.execute(
                    f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET cname = excluded.cname, "
                    "destroyed_ts = excluded.destroyed_ts, finished = excluded.finished, "
                    "cursor = excluded.cursor, done_at = excluded.done_at",
                    _call_row(call),
                )
                tx.execute("DELETE FROM call_sessions WHERE appid = ? AND call_id = ?", key)
                tx.execute("DELETE FROM call_samples WHERE appid = ? AND call_id = ?", key)
                tx.executemany(
                    f"INSERT INTO call_sessions ({_SESSION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_session_row(key, session) for session in call.sessions],
                )
                tx.executemany(
                    f"INSERT INTO call_samples ({_SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(*key, s.sid, s.mid, s.peer_uid, s.ts, s.value) for s in call.samples],
                )
            with self._lock:
                self._calls[key] = call

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        """Stop inspecting calls: their rows, sessions and samples go."""
        gone = list(keys)
        if not gone:
            return
        with self._write_lock:
            with self._transaction(f"forgetting {len(gone)} inspected calls") as tx:
                for table in ("calls", "call_sessions", "call_samples"):
                    tx.executemany(f"DELETE FROM {table} WHERE appid = ? AND call_id = ?", gone)
            with self._lock:
                for key in gone:
                    self._calls.pop(key, None)


@dataclass(frozen=True)
class StoredCalls:
    """What :func:`read_calls` found: every inspected call and call-search cursor."""

    calls: tuple[TrackedCall, ...] = ()
    cursors: Mapping[str, int] | None = None


def read_calls(path: Path) -> StoredCalls:
    """The inspected calls in the database at ``path``, read-only (safe beside the daemon).

    A database from before the Call Inspector, or none at all, holds no calls.
    Raises ``sqlite3.Error`` when the file cannot be read.
    """
    if not path.is_file():
        return StoredCalls()
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
        conn.execute("BEGIN")
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'call_cursors'"
            ).fetchone()
            if found is None:
                return StoredCalls()
            calls, cursors = _read_all(conn)
        finally:
            conn.execute("COMMIT")
    return StoredCalls(
        tuple(sorted(calls.values(), key=lambda c: (c.created_ts, c.call_id))), cursors
    )
