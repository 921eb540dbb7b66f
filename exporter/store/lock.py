"""One daemon per ``state_dir``: an exclusive ``flock`` on ``state_dir/agora-exporter.lock``.

Two exporters on one state directory would each trust a ledger the other
also spends, and overspend the quota. The lock is held for the daemon's life
and released by the kernel when the process ends, however it ends (``kill -9``
included), so a stale lock file never blocks a restart. The file holds the
holder's pid, for the error message only.

The marker can be deleted; what keeps a second exporter out whatever happens
to it is the lock the store holds on the database file itself
(:mod:`exporter.store.guard`). :meth:`StateDirLock.acquire` probes that lock
too, so a command refused by either gets the same error before it opens
anything. :func:`open_state` takes this lock, then opens the store: the
daemon's way in.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from exporter.store.guard import probe
from exporter.store.schema import DB_NAME, StateDirError, state_error
from exporter.store.sqlite import Store
from exporter.store.startover import StartOver
from exporter.timing.clock import Clock

LOCK_NAME = "agora-exporter.lock"
_ACTION = "taking the state_dir lock"


class StateDirLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> StateDirLock:
        """Take the lock or raise :class:`StateDirError` naming the holder."""
        if self._fd is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise state_error(self.path.parent, _ACTION, error, busy_s=0) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StateDirError(
                f"state store {self.path.parent}: another agora-exporter{holder} is already "
                "running on this state_dir; stop it first, or give this one its own state_dir "
                "(two exporters sharing one ledger would overspend the quota)"
            ) from None
        except OSError as error:
            os.close(fd)
            raise state_error(self.path.parent, _ACTION, error, busy_s=0) from None
        try:
            probe(self.path.parent / DB_NAME)  # the marker may have been deleted under a holder
        except StateDirError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> StateDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def open_state(
    state_dir: Path,
    memory_s: float | None,
    *,
    clock: Clock,
    start_over: StartOver | None = None,
) -> tuple[StateDirLock, Store]:
    """Lock ``state_dir`` for this process, then open the store in it (which locks the
    database file itself too), keeping ``memory_s`` of windows in memory; the
    daemon's way in. Raises StateDirError."""
    lock = StateDirLock(state_dir).acquire()
    try:
        return lock, Store(state_dir, clock=clock, memory_s=memory_s, start_over=start_over)
    except BaseException:
        lock.release()
        raise
