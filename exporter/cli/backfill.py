"""``agora-exporter backfill``: the store's history as an OpenMetrics file, with clear messages.

The store is read through :func:`exporter.backfill.reader.read_history`: a
read-only SQLite connection that writes, prunes and locks nothing, so a plain
backfill runs safely beside the daemon. ``--fetch`` also spends quota, so it
takes the daemon's ``state_dir`` lock and records its requests in the store's
ledger (see :mod:`exporter.backfill.fetch`); it refuses to run while the daemon
does. The file is written to a temporary name and renamed, so an interrupted
run never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from exporter.backfill.fetch import FetchReport, HistoryFetcher, allowances, history_frames
from exporter.backfill.history import FetchedHistory, load_history, save_history
from exporter.backfill.reader import StoredHistory, read_history
from exporter.backfill.render import (
    ExportSummary,
    Family,
    TimeRange,
    insight_families,
    realtime_families,
    write_openmetrics,
)
from exporter.cli.backfill_args import BackfillRequest, UsageError, time_range, utc
from exporter.insight.plan import expand_insight_series
from exporter.quota.context import agora_client
from exporter.scheduling.planner import expand_series, make_plan
from exporter.settings import Settings
from exporter.store import DB_NAME, StateDirError, Store
from exporter.store.lock import StateDirLock
from exporter.timing.clock import Clock, system_clock

STDOUT = "-"
RECENT_S = 3 * 3600
"""Prometheus calls backfilling its head block (the last ~3 hours) unsafe."""
EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130
MAX_LISTED = 5

Say = Callable[[str], None]


def write_file(out: str, render: Callable[[TextIO], ExportSummary]) -> ExportSummary:
    """Render into ``out`` (``-`` is stdout) atomically: a temporary file, then a rename."""
    if out == STDOUT:
        summary = render(sys.stdout)
        sys.stdout.flush()
        return summary
    target = Path(out)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            summary = render(stream)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return summary


@dataclass
class Fetched:
    """The outcome of ``--fetch``: the report, and whether Ctrl-C cut it short."""

    report: FetchReport | None = None
    interrupted: bool = False
    history: FetchedHistory | None = None
    """The fetched history after this run (None: nothing was fetched)."""
    notes: list[str] = field(default_factory=list)


@contextmanager
def _state_dir_lock(state_dir: Path) -> Iterator[None]:
    """The daemon's lock, with a hint on what works while the daemon holds it."""
    try:
        lock = StateDirLock(state_dir).acquire()
    except StateDirError as error:
        raise StateDirError(
            f"{error}\n--fetch spends quota, so it needs the daemon stopped; without --fetch, "
            "backfill exports what the store holds while the daemon runs"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _fetch(
    settings: Settings,
    history: StoredHistory,
    *,
    clock: Clock,
    sleep: Callable[[float], None],
    say: Say,
) -> Fetched:
    plan = make_plan(settings)
    if not plan.insight:
        return Fetched(notes=["--fetch: no app has insight enabled; nothing to fetch"])
    limits = {budget: one.limits for budget, one in plan.budgets.items()}
    with (
        _state_dir_lock(settings.state_dir),
        Store(settings.state_dir, clock=clock) as store,
        agora_client(settings.agora) as client,
    ):
        now = clock()
        allowance = allowances(plan, settings.state_dir, now)
        kept = load_history(settings.state_dir)  # again: now under the lock
        frames = history_frames(plan.insight, history.insight, kept, limits, now)
        allowed = ", ".join(f"{budget} {count}" for budget, count in allowance.items())
        say(
            f"--fetch: {len(frames)} frames (one request each) of the insight history the "
            f"plan keeps are not stored yet; requests allowed now: {allowed}"
        )
        fetcher = HistoryFetcher(
            client=client,
            store=store,
            limits=limits,
            allowance=allowance,
            history=kept,
            save=lambda done: save_history(settings.state_dir, done),
            clock=clock,
            sleep=sleep,
            progress=say,
        )
        try:
            return Fetched(fetcher.run(frames), history=kept)
        except KeyboardInterrupt:
            return Fetched(fetcher.report, interrupted=True, history=kept)


def _fetch_lines(fetched: Fetched) -> list[str]:
    lines = list(fetched.notes)
    report = fetched.report
    if report is None:
        if fetched.interrupted:
            lines.append("--fetch: interrupted before anything was fetched")
        return lines
    per_budget = ", ".join(f"{budget} {count}" for budget, count in sorted(report.sent.items()))
    lines.append(
        f"--fetch: {report.fetched} of {report.total} frames fetched with {report.requests} "
        f"requests ({per_budget or 'none'}), all recorded in the ledger"
    )
    for budget, reason in sorted(report.stopped.items()):
        left = sum(1 for frame in report.left if frame.series.budget is budget)
        lines.append(
            f"--fetch: stopped on {budget}: {reason}; {left} frames left: run backfill --fetch "
            "again once the ledger frees requests (24 h after they were sent)"
        )
    for failure in report.failed[:MAX_LISTED]:
        lines.append(f"--fetch: failed: {failure}")
    if len(report.failed) > MAX_LISTED:
        lines.append(f"--fetch: ... and {len(report.failed) - MAX_LISTED} more failures")
    if fetched.interrupted:
        untried = report.total - report.fetched - len(report.failed)
        lines.append(
            f"--fetch: interrupted with {untried} of {report.total} frames not fetched; the file "
            "holds the stored history and what was fetched before the interruption (kept in "
            "the state_dir too); run backfill --fetch again for the rest"
        )
    return lines


def _span(families: Iterable[Family]) -> tuple[int, int] | None:
    stamps = [
        edge
        for family in families
        for sources in family.members.values()
        for points in sources
        for edge in (min(points), max(points))
    ]
    return (min(stamps), max(stamps)) if stamps else None


def _summary_lines(
    summary: ExportSummary, *, where: str, families: list[Family], wanted: TimeRange, now: float
) -> list[str]:
    if summary.samples == 0:
        span = _span(families)
        if span is None:
            reason = "the store holds nothing for the configured series"
        else:
            since = "the beginning" if wanted.since is None else utc(wanted.since)
            until = "now" if wanted.until is None else utc(wanted.until)
            reason = (
                f"nothing stored starts between {since} and {until} "
                f"(the store holds {utc(span[0])} to {utc(span[1])})"
            )
        return [f"nothing to export: {reason}; wrote {where} with only '# EOF' (a valid file)"]
    assert summary.first_ts is not None
    assert summary.last_ts is not None
    lines = [
        f"wrote {summary.samples} samples of {summary.label_sets} series in "
        f"{len(summary.families)} families, {utc(summary.first_ts)} to "
        f"{utc(summary.last_ts)}, to {where}",
        f"next: promtool tsdb create-blocks-from openmetrics {where} DIR, then move the "
        "blocks in DIR into Prometheus' data directory (README: Backfilling history)",
    ]
    if summary.last_ts > now - RECENT_S:
        lines.append(
            f"note: the newest sample is {max(0, round((now - summary.last_ts) / 60))} min old; "
            "if Prometheus already scraped this exporter then, it holds those windows already "
            "(shifted by the replay lag) and would show them twice: pass --until=<when "
            "Prometheus started scraping> to leave them out"
        )
    return lines


def _unconfigured(history: StoredHistory, keys: set[str]) -> list[str]:
    stored = set(history.windows.keys()) | set(history.insight) | set(history.fetched.points)
    unknown = len(stored - keys)
    if not unknown:
        return []
    return [f"note: {unknown} series in the store are no longer configured and were left out"]


def _read(settings: Settings, *, fetch: bool) -> StoredHistory:
    if fetch and not (settings.state_dir / DB_NAME).exists():
        return StoredHistory()  # --fetch creates the store for its ledger
    return read_history(settings.state_dir)


def run_backfill(
    settings: Settings,
    request: BackfillRequest,
    *,
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    stderr: TextIO | None = None,
) -> int:
    """Export the history of every configured series (and fetch more); returns the exit code."""
    err = stderr or sys.stderr

    def say(line: str) -> None:
        print(line, file=err, flush=True)

    if not request.out:
        raise UsageError("backfill needs --out=FILE (or --out=- for stdout)")
    now = clock()
    wanted = time_range(request, now)
    history = _read(settings, fetch=request.fetch)
    fetched = Fetched()
    if request.fetch:
        try:
            fetched = _fetch(settings, history, clock=clock, sleep=sleep, say=say)
        except KeyboardInterrupt:
            fetched = Fetched(interrupted=True)
    series, insight = expand_series(settings), expand_insight_series(settings)
    kept = fetched.history or history.fetched
    families = [
        *realtime_families(series, history.windows),
        *insight_families(insight, kept.points, history.insight),
    ]
    where = "stdout" if request.out == STDOUT else request.out
    try:
        summary = write_file(
            request.out, lambda out: write_openmetrics(out, families, time_range=wanted)
        )
    except BrokenPipeError:
        raise  # the reader left (``| head``): main() exits quietly
    except OSError as error:
        say(f"agora-exporter: cannot write {where}: {error.strerror or error}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        say(f"agora-exporter: interrupted; {where} was not written")
        return EXIT_INTERRUPTED
    keys = {one.key for one in series} | {one.key for one in insight}
    for line in [
        *_fetch_lines(fetched),
        *_summary_lines(summary, where=where, families=families, wanted=wanted, now=now),
        *_unconfigured(history, keys),
    ]:
        say(line)
    if fetched.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if fetched.report and fetched.report.failed else EXIT_OK
