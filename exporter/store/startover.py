"""Knowing a database existed, and starting over without overspending when it is lost.

``state_dir/agora-exporter.created`` says that an agora-exporter database was
created in this directory: it is written once the database holds its schema,
before any request is recorded. While it exists, a database that is missing,
empty (0 bytes or no schema) or unreadable is a lost ledger, not a first
start: the store refuses to open (``StateDirError``) unless told to start over
(``serve --state.reset``). A ``-wal`` file with frames is the same evidence for
stores older than the sidecar. A directory with neither starts fresh.

A start over moves what is left aside (``agora-exporter.sqlite3.broken-<UTC
time>``, with its ``-wal``), creates a new database and, in the transaction
that creates its schema, fills the ledger with :func:`seed_rows`: for every
budget, as if the last 24 h had used its whole daily limit, evenly, and the
last minute (or second) its whole limit. The ledger then lets requests go no
faster than the daily limit spread over 24 h (one Enterprise real-time request
a minute, the first about a minute after the start), until the seeds age out a
day later: a lost ledger cannot make the exporter spend the day again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from exporter.agora.limits import DAY, MINUTE, Limits
from exporter.store.schema import StateDirError, state_error

CREATED_NAME = "agora-exporter.created"
SEED_ENDPOINT = "start_over"
"""The ledger's endpoint column of the seeded entries."""
SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True)
class StartOver:
    """Permission to start over a lost or unreadable store, and the limits to seed
    the new ledger with (budget name -> the plan's limits)."""

    limits: Mapping[str, Limits]


def had_database(state_dir: Path, path: Path) -> bool:
    """True when ``state_dir`` says a database was created there."""
    if (state_dir / CREATED_NAME).exists():
        return True
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False


def write_created(state_dir: Path, now: float, *, started_over: bool) -> None:
    """Write the sidecar that marks the database as created (synced, with its directory)."""
    path = state_dir / CREATED_NAME
    stamp = _utc(now)
    what = f"started over at {stamp}" if started_over else f"created at {stamp}"
    text = (
        f"agora-exporter's database in this directory was {what}.\n"
        "While this file exists, a missing, empty or unreadable database stops the "
        "exporter from starting: its ledger of the last 24 h is lost. Restore it, or "
        "start over with agora-exporter --state.reset.\n"
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        _sync_dir(state_dir)
    except OSError as error:
        raise state_error(state_dir, "marking the database as created", error, busy_s=0) from None


def move_aside(path: Path, now: float) -> list[Path]:
    """Move the database and its ``-wal`` aside (empty files are deleted, ``-shm`` too);
    the new names, to report."""
    moved: list[Path] = []
    stamp = _utc(now).replace("-", "").replace(":", "")
    try:
        for suffix in ("", "-wal"):
            source = Path(f"{path}{suffix}")
            if not source.exists():
                continue
            if source.stat().st_size == 0:
                source.unlink()
                continue
            target = Path(f"{path}.broken-{stamp}{suffix}")
            os.replace(source, target)
            moved.append(target)
        Path(f"{path}-shm").unlink(missing_ok=True)
        _sync_dir(path.parent)
    except OSError as error:
        raise state_error(path, "moving the lost database aside", error, busy_s=0) from None
    return moved


def seed_times(limits: Limits, now: float) -> list[float]:
    """Send times as if every period's limit had just been used up evenly, ascending.

    Each period's window ending at ``now`` (the last second, minute, day) holds
    exactly its limit: the shortest period's limit spread evenly over it, each
    longer period's remainder spread evenly over the rest of it. A day's worth
    in all (no more than the largest limit), so as the seeds leave the window
    requests fit again at the day's limit spread over 24 h.
    """
    found: list[float] = []
    inner, placed = 0.0, 0
    for length, cap in ((1, limits.per_second), (MINUTE, limits.per_minute), (DAY, limits.per_day)):
        if not cap:
            continue
        count, span = cap - placed, length - inner
        if count > 0:
            found += [now - inner - span * k / count for k in range(count)]
            placed += count
        inner = length
    return sorted(found)


def seed_rows(limits: Mapping[str, Limits], now: float) -> list[tuple[float, str, str]]:
    """The ledger rows (at, budget, endpoint) a start over begins with."""
    return [
        (at, budget, SEED_ENDPOINT)
        for budget, one in sorted(limits.items())
        for at in seed_times(one, now)
    ]


def evidence(state_dir: Path) -> str:
    """What says a database existed here, for :func:`refusal`."""
    if (state_dir / CREATED_NAME).exists():
        return f"{CREATED_NAME} says one was created here"
    return "its -wal file shows one was in use here"


def refusal(path: Path, problem: str, *, existed: str | None = None) -> StateDirError:
    """Why the store will not open a lost or unreadable database, and the two ways on.

    ``existed`` says what shows a database existed (for one missing or empty).
    """
    since = f"{existed}, so " if existed else ""
    return StateDirError(
        f"state store {path}: the database {problem}; {since}its ledger of the last 24 h "
        "of requests is lost, and starting afresh could spend that quota again. Stop every "
        "exporter on this state_dir; restore the database from a backup (with its -wal "
        "file), or start over with agora-exporter --state.reset: what is left is moved "
        "aside and the new ledger counts the last 24 h of every budget as used, so polls "
        "ramp up over a day"
    )


def _utc(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
