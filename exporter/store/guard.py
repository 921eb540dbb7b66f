"""The database file's own lock and identity: one writer per file, and no silent swap.

``state_dir/agora-exporter.lock`` (:mod:`exporter.store.lock`) is a marker
file: deleted, it no longer keeps a second exporter out. :class:`DatabaseGuard`
locks the database file itself: ``flock(LOCK_EX)`` on a descriptor of
``agora-exporter.sqlite3``, taken when the store opens and held until it
closes (the daemon's life). Deleting the marker changes nothing, the kernel
drops the lock with the process however it ends (``kill -9`` included), and
read-only readers (``backfill`` beside the daemon) take no lock at all.

Why ``flock`` and not a byte-range lock: SQLite takes POSIX (``fcntl``) locks
on the same file. On Linux the two kinds never interact, so this lock neither
blocks SQLite nor is dropped when SQLite closes one of its descriptors (POSIX
locks belong to the process and go with any close; ``flock`` locks belong to
the open file). The reverse does hold: closing *this* descriptor drops the
POSIX locks SQLite holds in this process, so it is closed only once the
connection is (``Store.close``), and a process opens its store once.

The guard also tells whether the path still names the file it locked
(:meth:`DatabaseGuard.problem`): the same device and inode, and SQLite's
16-byte header at its start. A file deleted, replaced or emptied under a
running store fails that check at the next commit.
"""

from __future__ import annotations

import fcntl
import os
import weakref
from collections.abc import Callable
from pathlib import Path

from exporter.store.schema import StateDirError, state_error

SQLITE_HEADER = b"SQLite format 3\x00"
_ACTION = "locking the database"


class DatabaseGuard:
    """An exclusive ``flock`` on the database file, and its identity; not thread-safe
    (the store calls it under its write lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._close: Callable[[], None] = lambda: None

    def acquire(self) -> DatabaseGuard:
        """Open (creating an empty file if missing) and lock the database, or raise
        :class:`StateDirError` naming the holder."""
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise state_error(self.path, _ACTION, error, busy_s=0) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = flock_holder(os.fstat(fd))
            os.close(fd)
            raise held_error(self.path, pid) from None
        except OSError as error:
            os.close(fd)
            raise state_error(self.path, _ACTION, error, busy_s=0) from None
        self._fd = fd
        self._close = weakref.finalize(self, os.close, fd)  # a store never closed: at collection
        return self

    def release(self) -> None:
        """Close the descriptor, which drops the lock (after the connection is closed)."""
        self._fd = None
        self._close()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def size(self) -> int:
        """The locked file's size in bytes."""
        assert self._fd is not None
        return os.fstat(self._fd).st_size

    def problem(self) -> str | None:
        """None while the path names the locked file and it starts with SQLite's header;
        otherwise what happened to it. Raises StateDirError when the path cannot be
        checked (the directory turned unreadable)."""
        fd = self._fd
        if fd is None:
            return None
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted"
        except OSError as error:
            raise state_error(self.path, "checking the database file", error, busy_s=0) from None
        mine = os.fstat(fd)
        if (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino):
            return "was replaced by another file"
        header = os.pread(fd, len(SQLITE_HEADER), 0)
        if not header:
            return "was emptied (it is 0 bytes long)"
        if header != SQLITE_HEADER:
            return "was overwritten (its SQLite header is gone)"
        return None


def held_error(path: Path, pid: int | None) -> StateDirError:
    """The refusal when another process holds the database's lock."""
    holder = f" (pid {pid})" if pid else ""
    return StateDirError(
        f"state store {path.parent}: another agora-exporter{holder} is already running on "
        f"this state_dir: it holds the lock on {path.name}; stop it first, or give this one "
        "its own state_dir (two exporters sharing one ledger would overspend the quota)"
    )


def probe(path: Path) -> None:
    """Raise :func:`held_error` when another process holds ``path``'s lock; else nothing.

    Takes the lock for a moment and drops it. Call it before this process opens
    the database with SQLite (closing a descriptor drops this process's POSIX locks).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as error:
        raise state_error(path, _ACTION, error, busy_s=0) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise held_error(path, flock_holder(os.fstat(fd))) from None
    except OSError as error:
        raise state_error(path, _ACTION, error, busy_s=0) from None
    finally:
        os.close(fd)


def flock_holder(stat: os.stat_result, locks: Path = Path("/proc/locks")) -> int | None:
    """The pid holding a ``flock`` on the file ``stat`` describes, from ``/proc/locks``
    (Linux); None when it cannot be told."""
    file_id = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        lines = locks.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2171794 0 EOF"; waiters have "->" after "1:"
        fields = line.split()
        if "FLOCK" in fields and file_id in fields:
            pid = fields[fields.index(file_id) - 1]
            if pid.isdigit() and int(pid) > 0:
                return int(pid)
    return None
