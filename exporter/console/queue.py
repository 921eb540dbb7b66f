"""The durable queue of Console alerts: ``console-alerts.db`` in ``state_dir``.

A callback is committed here (synchronous=FULL: on disk, not only in the
page cache) before Agora gets its 200, so a crash at any later moment loses
nothing. Tables:

- ``triggers``: one row per accepted callback (its de-duplication key), kept
  a day: Agora resends a callback up to twice when an answer is late;
- ``alerts``: one row per label set (Alertmanager's identity of an alert): its
  labels and annotations (the newest trigger's), when it started and when its
  hold ends; ``version`` grows with each trigger;
- ``deliveries``: per alert and Alertmanager, the version it should have, the
  version it got, and the ``endsAt`` it is sent with. ``version > delivered``
  is the queue; rows whose hold has not ended are re-sent every minute;
- ``projects``: when each project's newest alert arrived (for the gauge).

Its own file, not a table of the store: the bridge starts, stops and reloads
on its own, and the store's connection stays the pollers'.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.console.labels import ForwardedAlert

DB_FILE = "console-alerts.db"
DEDUP_KEEP_S = 86_400.0
KEEP_PROJECTS = 100
BUSY_TIMEOUT_S = 5.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS triggers (
    dedup TEXT PRIMARY KEY, received_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY, alert TEXT NOT NULL, starts_at REAL NOT NULL,
    ends_at REAL NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    fingerprint TEXT NOT NULL, target TEXT NOT NULL, version INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0, ends_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, target)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS projects (
    project TEXT PRIMARY KEY, last_alert_at REAL NOT NULL) WITHOUT ROWID;
"""


class QueueError(Exception):
    """The queue's file cannot be read or written; the message names it."""


@dataclass(frozen=True)
class Delivery:
    """One alert due at one Alertmanager: the version sent and the end it is sent with."""

    fingerprint: str
    version: int
    alert: ForwardedAlert
    ends_at: float


class AlertQueue:
    """The queue; thread-safe (one connection behind a lock)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / DB_FILE
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise QueueError(f"console alert queue {self.path}: cannot open it: {error}") from None

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as error:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise QueueError(f"console alert queue {self.path}: {action}: {error}") from None

    def _read(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as error:
                raise QueueError(f"console alert queue {self.path}: {error}") from None

    def accept(
        self,
        alert: ForwardedAlert,
        dedup: str,
        *,
        now: float,
        hold_s: float,
        targets: Sequence[str],
    ) -> bool:
        """Store one trigger for every target; False (nothing changed) for a resend."""
        with self._transaction("storing an alert") as conn:
            added = conn.execute("INSERT OR IGNORE INTO triggers VALUES (?, ?)", (dedup, now))
            if added.rowcount == 0:
                return False
            fingerprint = alert.fingerprint
            row = conn.execute(
                "SELECT starts_at, ends_at, version FROM alerts WHERE fingerprint = ?",
                (fingerprint,),
            ).fetchone()
            holding = row is not None and row[1] > now
            starts_at = min(row[0], alert.starts_at) if holding else alert.starts_at
            version = row[2] + 1 if row is not None else 1
            ends_at = now + hold_s
            stored = ForwardedAlert(alert.labels, alert.annotations, starts_at, alert.generator_url)
            conn.execute(
                "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?)",
                (fingerprint, json.dumps(stored.to_json()), starts_at, ends_at, version),
            )
            conn.executemany(
                "INSERT INTO deliveries VALUES (?, ?, ?, 0, ?) ON CONFLICT (fingerprint, target) "
                "DO UPDATE SET "
                "version = excluded.version, ends_at = excluded.ends_at",
                [(fingerprint, target, version, ends_at) for target in targets],
            )
            if alert.project:
                conn.execute("INSERT OR REPLACE INTO projects VALUES (?, ?)", (alert.project, now))
        return True

    def due(self, target: str, *, now: float, resend: bool, hold_s: float) -> list[Delivery]:
        """What ``target`` should get now: every undelivered version and, with ``resend``,
        every alert still holding. An undelivered one whose hold ended while it waited
        gets a new hold from now: an alert is never first shown already over."""
        with self._transaction("reading what is due") as conn:
            rows = conn.execute(
                "SELECT d.fingerprint, d.version, d.delivered, d.ends_at, a.alert "
                "FROM deliveries d JOIN alerts a USING (fingerprint) "
                "WHERE d.target = ? AND (d.delivered < d.version OR (? AND d.ends_at > ?)) "
                "ORDER BY a.starts_at",
                (target, resend, now),
            ).fetchall()
            found = []
            for fingerprint, version, delivered, ends_at, text in rows:
                if delivered < version and ends_at <= now:
                    ends_at = now + hold_s
                    conn.execute(
                        "UPDATE deliveries SET ends_at = ? WHERE fingerprint = ? AND target = ?",
                        (ends_at, fingerprint, target),
                    )
                alert = ForwardedAlert.from_json(json.loads(text))
                found.append(Delivery(fingerprint, version, alert, ends_at))
        return found

    def delivered(self, target: str, sent: Sequence[Delivery]) -> None:
        """``target`` has ``sent``; a version that grew meanwhile stays queued."""
        with self._transaction("marking alerts delivered") as conn:
            conn.executemany(
                "UPDATE deliveries SET delivered = version "
                "WHERE fingerprint = ? AND target = ? AND version = ?",
                [(one.fingerprint, target, one.version) for one in sent],
            )

    def set_targets(self, targets: Sequence[str], *, now: float) -> None:
        """Forget removed Alertmanagers; queue the alerts still holding for new ones."""
        marks = ",".join("?" * len(targets))
        with self._transaction("changing the Alertmanagers") as conn:
            conn.execute(f"DELETE FROM deliveries WHERE target NOT IN ({marks})", tuple(targets))
            conn.executemany(
                "INSERT OR IGNORE INTO deliveries "
                "SELECT fingerprint, ?, version, 0, ends_at FROM alerts WHERE ends_at > ?",
                [(target, now) for target in targets],
            )

    def prune(self, *, now: float) -> None:
        """Drop what can no longer matter: delivered alerts past their hold, old triggers."""
        with self._transaction("pruning") as conn:
            conn.execute("DELETE FROM triggers WHERE received_at < ?", (now - DEDUP_KEEP_S,))
            conn.execute(
                "DELETE FROM deliveries WHERE delivered = version AND ends_at <= ?", (now,)
            )
            conn.execute(
                "DELETE FROM alerts WHERE ends_at <= ? AND fingerprint NOT IN "
                "(SELECT fingerprint FROM deliveries)",
                (now,),
            )
            conn.execute(
                "DELETE FROM projects WHERE project NOT IN (SELECT project FROM projects "
                "ORDER BY last_alert_at DESC LIMIT ?)",
                (KEEP_PROJECTS,),
            )

    def depth(self) -> int:
        """Deliveries waiting: one per alert trigger and Alertmanager that lacks it."""
        rows = self._read("SELECT COUNT(*) FROM deliveries WHERE delivered < version")
        return int(rows[0][0])

    def active(self, *, now: float) -> int:
        rows = self._read("SELECT COUNT(*) FROM alerts WHERE ends_at > ?", now)
        return int(rows[0][0])

    def last_alerts(self) -> dict[str, float]:
        rows = self._read(
            "SELECT project, last_alert_at FROM projects ORDER BY last_alert_at DESC LIMIT ?",
            KEEP_PROJECTS,
        )
        return {str(project): float(at) for project, at in rows}

    def close(self) -> None:
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()
