"""Opening a store: lost or unreadable databases refused, or started over when allowed.

A database missing, empty or corrupt where ``agora-exporter.created`` says one
was created is refused with the path and the fix, and nothing is changed; with
a ``StartOver`` it is moved aside and the new ledger starts seeded. A first
start in an empty directory runs normally, without seeds.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import exporter.store.opening as opening
import exporter.store.startover as startover
from exporter.agora.limits import Budget, Limits, Plan, limits_for
from exporter.store import DB_NAME, StateDirError, Store, WindowRow
from exporter.store.startover import CREATED_NAME, SEED_ENDPOINT, StartOver
from tests.fakes import FakeClock

NOW = 1_700_000_000
REALTIME = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
assert REALTIME is not None
START_OVER = StartOver({"realtime": REALTIME})


def filled(state: Path, series: int = 5) -> None:
    """A store with requests and windows, closed (so its pages are in the main file)."""
    with Store(state, clock=FakeClock(NOW)) as store:
        store.ledger.record("realtime", "realtime_usage", NOW - 100)
        for n in range(series):
            rows = [WindowRow(ts=NOW - 3600 + 20 * i, value=float(i)) for i in range(180)]
            store.commit_poll(f"series-{n}", rows, cursor=NOW)


def open_store(state: Path, start_over: StartOver | None = None) -> Store:
    return Store(state, clock=FakeClock(NOW), start_over=start_over)


# --- starting normally -------------------------------------------------------------


def test_a_first_start_in_an_empty_directory_runs_normally_and_marks_the_database(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "state") as store:
        assert not store.started_over
        assert store.ledger.budgets() == []
    assert "created at" in (tmp_path / "state" / CREATED_NAME).read_text()


def test_a_zero_length_file_nothing_says_was_a_database_is_a_first_start(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"")  # a start killed before SQLite wrote a byte
    with open_store(tmp_path) as store:
        assert not store.started_over
        store.ledger.record("realtime", "realtime_usage", NOW)
    assert (tmp_path / CREATED_NAME).exists()


def test_a_store_from_before_the_marker_gets_one_and_keeps_everything(tmp_path: Path) -> None:
    filled(tmp_path)
    (tmp_path / CREATED_NAME).unlink()
    with open_store(tmp_path) as store:
        assert store.ledger.times("realtime", 0) == [NOW - 100]
    assert (tmp_path / CREATED_NAME).exists()


# --- a lost or broken database -------------------------------------------------------


def deleted(path: Path) -> None:
    path.unlink()


def emptied(path: Path) -> None:
    os.truncate(path, 0)


def without_schema(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:  # a valid SQLite file whose tables are all gone
        conn.execute("CREATE TABLE t (a)")
        conn.execute("DROP TABLE t")
    conn.close()
    assert path.stat().st_size > 0


def random_last_page(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,), "the page is in use"
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as file:
        file.seek(-page, os.SEEK_END)
        file.write(random.Random(7).randbytes(page))


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage\xff" * 1000)


BROKEN = [
    pytest.param(deleted, "is missing", True, id="deleted"),
    pytest.param(emptied, "is empty (0 bytes)", True, id="zero-length"),
    pytest.param(without_schema, "holds no agora-exporter schema", True, id="an empty SQLite file"),
    pytest.param(random_last_page, "is corrupt (", False, id="random bytes in the last page"),
    pytest.param(garbage, "is not an SQLite database (", False, id="garbage"),
]


@pytest.mark.parametrize(("breakage", "said", "lost"), BROKEN)
def test_a_lost_or_broken_database_is_refused_naming_it_and_the_fix_and_left_as_it_is(
    tmp_path: Path, breakage: Callable[[Path], None], said: str, lost: bool
) -> None:
    path = tmp_path / DB_NAME
    filled(tmp_path)
    breakage(path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(StateDirError) as caught:
        open_store(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"state store {path}: the database {said}")
    assert "--state.reset" in message
    assert "restore the database from a backup" in message
    assert (f"{CREATED_NAME} says one was created here" in message) is lost
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before, "a refusal changes nothing in state_dir"


@pytest.mark.parametrize(("breakage", "said", "lost"), BROKEN)
def test_starting_over_moves_what_is_left_aside_and_seeds_the_ledger(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    breakage: Callable[[Path], None],
    said: str,
    lost: bool,
) -> None:
    caplog.set_level(logging.WARNING, logger="exporter.store")
    path = tmp_path / DB_NAME
    filled(tmp_path)
    breakage(path)
    kept = path.read_bytes() if path.exists() else b""
    with open_store(tmp_path, START_OVER) as store:
        assert store.started_over
        assert len(store.ledger.times("realtime", NOW - 86400)) == REALTIME.per_day
        assert store.ledger.budgets() == ["realtime"]
        assert store.snapshot().keys() == set()
        store.commit_poll("fresh", [WindowRow(ts=NOW - 20, value=1.0)], cursor=NOW)
    aside = sorted(tmp_path.glob(f"{DB_NAME}.broken-*"))
    if kept:
        assert [p.read_bytes() for p in aside if not p.name.endswith("-wal")] == [kept]
    else:
        assert aside == [], "nothing worth keeping"
    assert "started over at" in (tmp_path / CREATED_NAME).read_text()
    warned = [r for r in caplog.records if "starting over" in r.getMessage()]
    assert len(warned) == 1
    assert said.split(" (")[0] in str(getattr(warned[0], "problem", ""))
    with open_store(tmp_path) as again:  # a restart keeps the seeds
        assert not again.started_over
        assert len(again.ledger.times("realtime", NOW - 86400)) == REALTIME.per_day
        assert again.cursor("fresh") == NOW


def test_seeds_are_marked_as_such_in_the_ledger(tmp_path: Path) -> None:
    filled(tmp_path)
    emptied(tmp_path / DB_NAME)
    open_store(tmp_path, START_OVER).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        found = conn.execute("SELECT DISTINCT budget, endpoint FROM ledger").fetchall()
    conn.close()
    assert found == [("realtime", SEED_ENDPOINT)]


def test_a_sound_database_is_kept_as_it_is_when_told_to_start_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exporter.store")
    filled(tmp_path)
    with open_store(tmp_path, START_OVER) as store:
        assert not store.started_over
        assert store.ledger.times("realtime", 0) == [NOW - 100]
        assert store.cursor("series-0") == NOW
    assert list(tmp_path.glob("*.broken-*")) == []
    assert any("remove the flag" in r.getMessage() for r in caplog.records)


def test_another_programs_database_is_refused_even_when_told_to_start_over(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(StateDirError, match="another program"):
        open_store(tmp_path, START_OVER)
    assert list(tmp_path.glob("*.broken-*")) == []


def test_a_start_over_failing_half_way_is_refused_again_never_a_silent_fresh_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled(tmp_path)
    emptied(tmp_path / DB_NAME)

    def unstorable(limits: dict[str, Limits], now: float) -> list[tuple[object, str, str]]:
        return [("not a time", "realtime", SEED_ENDPOINT)]  # the STRICT table refuses it

    with monkeypatch.context() as patched:
        patched.setattr(opening, "seed_rows", unstorable)
        with pytest.raises(StateDirError, match="creating the schema"):
            open_store(tmp_path, START_OVER)
    with pytest.raises(StateDirError, match="holds no agora-exporter schema"):
        open_store(tmp_path)
    with open_store(tmp_path, START_OVER) as store:
        assert len(store.ledger.times("realtime", 0)) == REALTIME.per_day


def test_the_integrity_check_gives_up_after_its_budget_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="exporter.store")
    filled(tmp_path, series=50)
    monkeypatch.setattr(opening, "INTEGRITY_BUDGET_S", 0.0)
    with open_store(tmp_path) as store:
        assert store.cursor("series-49") == NOW
    assert any("ran out of time" in r.getMessage() for r in caplog.records)


def test_the_marker_is_evidence_and_so_is_a_wal_with_frames(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    assert not startover.had_database(tmp_path, path)
    (tmp_path / f"{DB_NAME}-wal").write_bytes(b"")
    assert not startover.had_database(tmp_path, path), "an empty -wal says nothing"
    (tmp_path / f"{DB_NAME}-wal").write_bytes(b"\x37\x7f\x06\x82" + bytes(28))
    assert startover.had_database(tmp_path, path)
    (tmp_path / f"{DB_NAME}-wal").unlink()
    (tmp_path / CREATED_NAME).write_text("")
    assert startover.had_database(tmp_path, path)


def test_a_first_start_killed_before_its_schema_was_committed_starts_afresh(
    tmp_path: Path,
) -> None:
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA cache_size = 1")  # a transaction too big for the cache spills
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE ledger (at REAL)")
    conn.executemany("INSERT INTO ledger VALUES (?)", [(float(n),) for n in range(5000)])
    copy = {suffix: Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal")}
    conn.execute("ROLLBACK")
    conn.close()
    for suffix, data in copy.items():  # the files as a kill -9 at that moment leaves them
        Path(f"{path}{suffix}").write_bytes(data)
    assert startover.had_database(tmp_path, path), "the -wal has frames, none committed"
    with open_store(tmp_path) as store:
        assert not store.started_over
        store.ledger.record("realtime", "realtime_usage", NOW)
