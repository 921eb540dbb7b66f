"""The database file's own lock and identity (``exporter.store.guard``).

A second process is refused whatever happened to the ``agora-exporter.lock``
marker, the kernel drops the lock with its holder, a read-only reader needs no
lock, and a database deleted, replaced or emptied under an open store stops
every commit, loudly once.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exporter.backfill.reader import read_history
from exporter.store import DB_NAME, StateDirError, Store, WindowRow
from exporter.store.guard import flock_holder
from exporter.store.lock import LOCK_NAME, StateDirLock
from tests.fakes import FakeClock

NOW = 1_700_000_000
REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path
    from exporter.store import Store, WindowRow

    store = Store(Path(sys.argv[1]), clock=lambda: {NOW})
    store.commit_poll("held", [WindowRow(ts={NOW} - 40, value=7.0)], cursor={NOW} - 20)
    print("ready", flush=True)
    sys.stdin.read()  # hold the store until killed
    """
)


@contextmanager
def holder(state: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with the store open (as a running exporter has it)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


# --- one process per database ----------------------------------------------------


def test_a_store_another_process_holds_is_refused_naming_its_pid(tmp_path: Path) -> None:
    with holder(tmp_path) as other, pytest.raises(StateDirError) as caught:
        Store(tmp_path, clock=FakeClock(NOW))
    message = str(caught.value)
    assert f"another agora-exporter (pid {other.pid}) is already running" in message
    assert str(tmp_path) in message
    assert "overspend" in message


def test_the_state_dir_lock_refuses_too_although_the_holder_never_wrote_a_marker(
    tmp_path: Path,
) -> None:
    with holder(tmp_path) as other:
        assert not (tmp_path / LOCK_NAME).exists()
        with pytest.raises(StateDirError, match=f"pid {other.pid}"):
            StateDirLock(tmp_path).acquire()
        assert StateDirLock(tmp_path).held is False
    with StateDirLock(tmp_path) as lock:  # free again once the holder is gone
        assert lock.held


def test_the_kernel_drops_the_lock_when_the_holder_is_killed(tmp_path: Path) -> None:
    with holder(tmp_path) as other:
        os.kill(other.pid, signal.SIGKILL)
        other.wait()
    with Store(tmp_path, clock=FakeClock(NOW)) as store:
        assert store.cursor("held") == NOW - 20


def test_a_read_only_reader_needs_no_lock_beside_the_holder(tmp_path: Path) -> None:
    with holder(tmp_path):
        history = read_history(tmp_path)
    held = history.windows.get("held")
    assert held is not None
    assert held.newest() == (NOW - 40, 7.0)


def test_closing_a_store_lets_the_next_one_in_and_a_store_never_closed_lets_go_when_collected(
    tmp_path: Path,
) -> None:
    Store(tmp_path, clock=FakeClock(NOW)).close()
    with Store(tmp_path, clock=FakeClock(NOW)):
        pass
    Store(tmp_path, clock=FakeClock(NOW))  # dropped without close()
    gc.collect()
    with Store(tmp_path, clock=FakeClock(NOW)):
        pass


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(["1: FLOCK  ADVISORY  WRITE 4242 fe:01:77 0 EOF"], 4242, id="the holder"),
        pytest.param(
            [
                "1: POSIX  ADVISORY  READ 11 fe:01:77 128 128",
                "2: FLOCK  ADVISORY  WRITE 12 fe:01:78 0 EOF",
                "3: FLOCK  ADVISORY  WRITE 13 fe:01:77 0 EOF",
                "3: -> FLOCK  ADVISORY  WRITE 14 fe:01:77 0 EOF",
            ],
            13,
            id="not SQLite's own POSIX lock, another file or a waiter",
        ),
        pytest.param(["1: FLOCK  ADVISORY  WRITE 0 fe:01:77 0 EOF"], None, id="a pid not shown"),
        pytest.param([], None, id="no lock listed"),
    ],
)
def test_the_holder_is_read_from_proc_locks(
    tmp_path: Path, lines: list[str], expected: int | None
) -> None:
    locks = tmp_path / "locks"
    locks.write_text("".join(f"{line}\n" for line in lines))
    stat = os.stat_result((0o100644, 77, os.makedev(0xFE, 1), 1, 0, 0, 0, 0, 0, 0))
    assert flock_holder(stat, locks) == expected
    assert flock_holder(stat, tmp_path / "absent") is None


# --- a database swapped under a running store ------------------------------------


def _delete(path: Path) -> None:
    path.unlink()


def _replace(path: Path) -> None:
    copy = path.with_name("restored-backup")
    shutil.copyfile(path, copy)
    os.replace(copy, path)


def _empty(path: Path) -> None:
    os.truncate(path, 0)


def _overwrite(path: Path) -> None:
    with path.open("r+b") as file:
        file.write(b"\x00" * 100)


SWAPS = [
    pytest.param(_delete, "was deleted", id="deleted"),
    pytest.param(_replace, "was replaced by another file", id="replaced by a copy"),
    pytest.param(_empty, "was emptied", id="emptied"),
    pytest.param(_overwrite, "was overwritten", id="its header overwritten"),
]


@pytest.mark.parametrize(("swap", "said"), SWAPS)
def test_a_database_swapped_under_the_store_fails_every_commit_after_and_says_so_once(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    swap: Callable[[Path], None],
    said: str,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="exporter.store")
    with Store(tmp_path, clock=FakeClock(NOW)) as store:
        store.ledger.record("realtime", "realtime_usage", NOW - 30)
        store.commit_poll("s", [WindowRow(ts=NOW - 60, value=1.0)], cursor=NOW - 40)
        before = store.snapshot()
        swap(tmp_path / DB_NAME)
        for attempt in range(3):
            with pytest.raises(StateDirError) as caught:
                store.ledger.record("realtime", "realtime_usage", NOW + attempt)
            message = str(caught.value)
            assert said in message
            assert str(tmp_path / DB_NAME) in message
            assert "--state.reset" in message
            with pytest.raises(StateDirError, match=said):
                store.commit_poll("s", [WindowRow(ts=NOW - 40, value=2.0)], cursor=NOW - 20)
        assert store.ledger.times("realtime", 0) == [NOW - 30], "memory keeps only what was kept"
        assert store.snapshot() is before
        assert store.cursor("s") == NOW - 40
    loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(loud) == 1, "logged once, however many commits fail after"
    assert getattr(loud[0], "path", None) == str(tmp_path / DB_NAME)


def test_a_database_left_alone_passes_the_check_on_every_commit(tmp_path: Path) -> None:
    with Store(tmp_path, clock=FakeClock(NOW)) as store:
        for n in range(50):
            store.ledger.record("realtime", "realtime_usage", NOW + n)
        assert len(store.ledger.times("realtime", 0)) == 50
