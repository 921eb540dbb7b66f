"""Soak benchmark: a week of simulated time without drift (`make bench-soak`).

The exporter's stages as ``exporter.app.build_app`` builds them, on a fake
clock that waits move instead of waiting, against the simulator (its quality
incidents on) in a process of its own reading the same clock. The demo's
configuration at Enterprise's own limits: one app, both product types, the
default metrics, one channel with three uids, Data Insights with hourly
quality, the Call Inspector on for 2 calls. The jobs the scheduler would run
are run when due, each on a thread of its own, the clock moving on only while
every one waits (``bench/soak_driver.py``), and /metrics is rendered every 5
simulated minutes as Prometheus would ask for it.

At the end of each simulated day, after a ``gc.collect()``: the process's
resident memory (VmRSS), the SQLite file and its WAL, the windows the file
holds, the requests per budget in the exporter's ledger and at the simulator,
what the simulator refused, and the store's count of windows missed. The
bounds: memory and the file flat after the first day (within 10 %), the
windows no more than the API's horizon (plus the store's slack and a prune
interval) per series and uid, each day's requests per budget within the plan
(the planned requests a day plus one round, two for real-time, whose first day
holds the start's catch-up; insight: its daily limit, which
late days may spend), the ledger and the simulator agreeing, 0 refusals and
0 windows missed.

    python -m bench.soak [--days 7] [--json out.json]

A benchmark, not a test: it prints the figures per day, a PASS or FAIL per
bound, and exits 1 if one fails. A week took 11 minutes on 2 vCPUs (bench/README.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

from bench.processes import Memory
from bench.soak_driver import Jobs, SharedClock, SimulatorTally, VirtualTime, simulator_process
from exporter.agora.limits import DAY, Budget
from exporter.app import App, build_app
from exporter.cli.demo import demo_overrides
from exporter.insight.plan import INSIGHT_BUDGETS
from exporter.scheduling.jobs import PRUNE_EVERY_S
from exporter.scheduling.planner import PollPlan
from exporter.settings import load_settings
from exporter.store.sqlite import WINDOW_SLACK_S
from exporter.timing.windows import WINDOW_S

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC
SCRAPE_EVERY_S = 300.0  # Prometheus asks every 60 s by default: a fifth of that keeps a week short
FLAT = 1.10  # "flat": at most 10 % above the first day's figure


def soak_config(base_url: str, state_dir: Path) -> dict[str, Any]:
    """The demo's configuration at Enterprise's own limits: one channel of three uids (the
    demo's two fit only its tenfold real-time quota), the Call Inspector on 2 calls of up
    to 3 sessions (each cycle's answers are parsed in full: more calls, a longer run)."""
    config = demo_overrides(base_url, state_dir)
    del config["agora"]["quota"]
    app = config["apps"][0]
    app["realtime"]["channels"] = [{"cname": "stage", "uids": [2001, 2002, 2003]}]
    app["calls"].update(max_calls=2, max_sessions_per_call=3)
    return config


@dataclass
class Day:
    """The figures at the end of one simulated day."""

    rss_mib: float
    db_bytes: int
    wal_bytes: int
    windows: int
    """Rows of the windows table."""
    ledger: dict[str, int]
    """Requests per budget this day, as the exporter's ledger recorded them."""
    simulator: dict[str, int]
    """Requests per budget this day, as the simulator received them."""
    refused: list[str]
    missed: int
    """The store's windows missed so far."""

    @property
    def file_bytes(self) -> int:
        return self.db_bytes + self.wal_bytes


@dataclass
class Report:
    cpus: int
    days: list[Day]
    planned: dict[str, float]
    """Requests a day per budget, as the plan says."""
    bounds: dict[str, int]
    windows_bound: int
    seconds: float
    scrapes: int
    polls: int
    rss_most_mib: float
    notes: list[str] = field(default_factory=list)


def day_bound(budget: Budget, plan: PollPlan) -> int:
    """The most requests one day may hold on ``budget`` within the plan."""
    budget_plan = plan.budgets[budget]
    if budget in INSIGHT_BUDGETS:  # late days are asked again within the daily limit
        return budget_plan.limits.per_day
    # A day's edge may cut a round (or a cycle) in two; the first day also holds the
    # start's catch-up, one extra poll of every real-time series before its spread slot.
    rounds = 2 if budget is Budget.REALTIME else 1
    extra = rounds * budget_plan.series
    return min(budget_plan.limits.per_day, math.ceil(budget_plan.requests_per_day) + extra)


def windows_bound(plan: PollPlan) -> int:
    """The most window rows the file may hold: per series and uid, the real-time horizon,
    the store's slack, and the windows a poll adds before the next prune."""
    horizon = plan.budgets[Budget.REALTIME].limits.horizon_s
    per_key = (horizon + WINDOW_SLACK_S + PRUNE_EVERY_S) // WINDOW_S + 1
    return sum(max(1, len(one.uids)) for one in plan.series) * per_key


def _windows(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (count,) = db.execute("SELECT count(*) FROM windows").fetchone()
        return int(count)


def measure(app: App, tally: SimulatorTally, memory: Memory, since: float) -> Day:
    """The day's figures; ``since`` is when the day before was measured."""
    gc.collect()
    path = app.store.path
    wal = path.with_name(path.name + "-wal")
    budgets = [budget.value for budget in app.plan.budgets]
    return Day(
        rss_mib=round(memory.status("VmRSS"), 1),
        db_bytes=path.stat().st_size,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        windows=_windows(path),
        ledger={budget: len(app.store.ledger.times(budget, since)) for budget in budgets},
        simulator={budget: tally.requests.get(budget, 0) for budget in budgets},
        refused=list(tally.refused),
        missed=app.store.windows_missed_total,
    )


def _soak(
    app: App, time: VirtualTime, tally: Callable[[], SimulatorTally], days: int
) -> tuple[list[Day], Jobs, Memory]:
    memory = Memory(os.getpid())
    jobs = Jobs(app, time)
    jobs.start(SCRAPE_EVERY_S)
    found: list[Day] = []
    mark = time.clock() - 1.0  # the first requests leave at the very start
    for day in range(1, days + 1):
        jobs.run_until(START + day * DAY)
        found.append(measure(app, tally(), memory, since=mark))
        mark = time.clock()
        time.advance(mark + 0.001)  # what is sent from now on is the next day's
        print(f"day {day}: {found[-1].rss_mib} MiB", file=sys.stderr, flush=True)
    memory.stop()
    return found, jobs, memory


def run(days: int) -> Report:
    clock = SharedClock(START)
    started = monotonic()
    with (
        simulator_process(clock) as sim,
        tempfile.TemporaryDirectory(prefix="agora-bench-soak-") as scratch,
    ):
        config = soak_config(sim.base_url, Path(scratch) / "state")
        settings = load_settings(None, environ={}, overrides=config)
        virtual = VirtualTime(clock)
        app = build_app(settings, clock=clock, sleep=virtual.sleep, host="127.0.0.1", port=0)
        plan = app.plan  # as configured: a product type or channel without users pauses
        try:
            found, jobs, memory = _soak(app, virtual, sim.tally, days)
        finally:
            app.stop()
    return Report(
        cpus=os.cpu_count() or 1,
        days=found,
        planned={b.value: bp.requests_per_day for b, bp in plan.budgets.items()},
        bounds={budget.value: day_bound(budget, plan) for budget in plan.budgets},
        windows_bound=windows_bound(plan),
        seconds=round(monotonic() - started, 1),
        scrapes=jobs.scrapes,
        polls=jobs.polls,
        rss_most_mib=round(memory.most, 1),
    )


def _flat(figures: list[float]) -> bool:
    return all(figure <= FLAT * figures[0] for figure in figures[1:])


def verdicts(report: Report) -> list[tuple[str, bool]]:
    days = report.days
    within = all(
        max(day.ledger[budget], day.simulator[budget]) <= bound
        for day in days
        for budget, bound in report.bounds.items()
    )
    return [
        (
            f"resident memory flat after the first day (each later day <= {FLAT:g} x day 1)",
            _flat([day.rss_mib for day in days]),
        ),
        (
            f"SQLite file + WAL flat after the first day (<= {FLAT:g} x day 1)",
            _flat([float(day.file_bytes) for day in days]),
        ),
        (
            f"windows stored bounded by the horizon (<= {report.windows_bound:,} rows)",
            all(day.windows <= report.windows_bound for day in days),
        ),
        ("requests per budget per day within the plan (ledger and simulator)", within),
        (
            "the ledger and the simulator count the same requests every day",
            all(day.ledger == day.simulator for day in days),
        ),
        ("0 refusals at the simulator", not any(day.refused for day in days)),
        ("0 windows missed", all(day.missed == 0 for day in days)),
    ]


def _requests(day: Day, budget: str) -> str:
    ours, theirs = day.ledger[budget], day.simulator[budget]
    return f"{ours:,}" if ours == theirs else f"{ours:,} (simulator {theirs:,})"


def markdown(report: Report) -> str:
    budgets = list(report.bounds)
    header = ["day", "RSS", "SQLite file + WAL", "windows", *budgets, "refused", "missed"]
    bounds = [
        "bound",
        f"<= {FLAT:g} x day 1",
        f"<= {FLAT:g} x day 1",
        f"<= {report.windows_bound:,}",
        *(f"<= {report.bounds[b]:,} (plan {report.planned[b]:,.0f})" for b in budgets),
        "0",
        "0",
    ]
    rows = [f"| {' | '.join(header)} |", "|" + "---|" * len(header), f"| {' | '.join(bounds)} |"]
    for number, day in enumerate(report.days, start=1):
        cells = [
            str(number),
            f"{day.rss_mib:.1f} MiB",
            f"{day.db_bytes / 1024:,.0f} + {day.wal_bytes / 1024:,.0f} KiB",
            f"{day.windows:,}",
            *(_requests(day, budget) for budget in budgets),
            str(len(day.refused)),
            str(day.missed),
        ]
        rows.append(f"| {' | '.join(cells)} |")
    checks = [f"{'PASS' if ok else 'FAIL'}  {text}" for text, ok in verdicts(report)]
    refused = [text for day in report.days for text in day.refused]
    notes = [
        f"{len(report.days)} simulated days in {report.seconds:.0f} s on {report.cpus} CPUs; "
        f"{report.polls:,} real-time polls, {report.scrapes:,} scrapes",
        f"resident memory, most sampled: {report.rss_most_mib:.1f} MiB",
        *(f"refused: {text}" for text in refused[:5]),
        *report.notes,
    ]
    return "\n".join([*rows, "", *checks, "", *notes])


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="simulated days (default 7)")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    report = run(args.days)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    print(markdown(report))
    return 0 if all(ok for _, ok in verdicts(report)) else 1


if __name__ == "__main__":
    sys.exit(main())
