"""Simulated time for the soak benchmark (``bench/soak.py``).

A clock in shared memory that only moves when told to; the simulator in a
process of its own reading that clock (so the exporter's process holds only
the exporter, and the simulator's request log does not count as the
exporter's memory); :class:`VirtualTime`, which runs jobs on threads of their
own and moves the clock on only while every one of them waits, so waits cost
no real time; and :class:`Jobs`: what the daemon's scheduler runs, through
the same entry points (the scheduler's own queue of real-time polls,
``InsightPasses.tick``, ``CallInspector.run_cycle``, ``Store.prune``) on the
same intervals (``TICK_S``, the call plan's, ``PRUNE_EVERY_S``).

The freshness benchmark (``bench/freshness.py``) uses the same pieces: it passes
the simulator options of its own (``simulator_process(clock, **options)``) and
reads each scrape's body (``Jobs.start(..., scraped=...)``).
"""

from __future__ import annotations

import ctypes
import gzip
import heapq
import itertools
import math
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import RawValue
from typing import Any

from bench.scale import PROMETHEUS
from exporter.agora.limits import Endpoint
from exporter.app import App
from exporter.cli.demo import DEMO_CUSTOMER_ID, DEMO_CUSTOMER_SECRET
from exporter.insight.passes import TICK_S
from exporter.scheduling.jobs import PRUNE_EVERY_S
from exporter.simulator import RequestLogEntry, Simulator

SEED = 42
HUNG_S = 120.0  # real seconds a job may run without waiting or ending
_BUDGETS = {endpoint.value: endpoint.budget.value for endpoint in Endpoint}


class SharedClock:
    """A fake clock (callable like ``time.time``) that a child process reads too."""

    def __init__(self, start: float) -> None:
        self._now = RawValue(ctypes.c_double, start)

    def __call__(self) -> float:
        return float(self._now.value)

    def set(self, now: float) -> None:
        self._now.value = now


@dataclass(frozen=True)
class SimulatorTally:
    """What the simulator saw since the last tally: requests per budget, and refusals."""

    requests: dict[str, int]
    refused: list[str]


def tally(entries: list[RequestLogEntry]) -> SimulatorTally:
    requests = Counter(_BUDGETS.get(entry.path, entry.path) for entry in entries)
    refused = [
        f"{entry.path} at {entry.at:.0f} ({_asked(entry.params)}): HTTP {entry.http_status}, "
        f"code {entry.body_code}, {entry.message}"
        for entry in entries
        if not entry.success
    ]
    return SimulatorTally(dict(requests), refused)


def _asked(params: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(params.items()) if key != "appid")


def _simulate(clock: SharedClock, link: Connection, options: dict[str, Any]) -> None:
    """The child process: the simulator (its incidents on; ``options``: more keyword
    arguments of :class:`Simulator`), answering tallies on ``link``."""
    with Simulator(
        plan="enterprise",
        customer_id=DEMO_CUSTOMER_ID,
        customer_secret=DEMO_CUSTOMER_SECRET,
        seed=SEED,
        clock=clock,
        **options,
    ) as sim:
        link.send(sim.base_url)
        seen = 0
        while link.recv():
            entries = sim.requests()[seen:]
            seen += len(entries)
            link.send(tally(entries))


@dataclass
class SimulatorProcess:
    base_url: str
    _link: Connection

    def tally(self) -> SimulatorTally:
        """Requests and refusals since the last tally."""
        self._link.send(True)
        found: SimulatorTally = self._link.recv()
        return found


@contextmanager
def simulator_process(clock: SharedClock, **options: Any) -> Iterator[SimulatorProcess]:
    """The simulator in a process of its own; ``options`` go to :class:`Simulator`."""
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(target=_simulate, args=(clock, theirs, options), daemon=True)
    child.start()
    try:
        if not ours.poll(30):
            raise SystemExit("the simulator process did not start")
        yield SimulatorProcess(ours.recv(), ours)
    finally:
        ours.send(False)
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()


class VirtualTime:
    """Simulated time for jobs on threads of their own, as the daemon's run on its workers.

    The clock moves on only while every job waits in :meth:`sleep` (the pollers'
    ``Sleep``) or is done, and only as far as the earliest end of a wait or the
    next due job; so a wait costs no real time, and one job's wait (an insight
    pass pacing itself) never holds back the others, as on the daemon's threads.
    """

    def __init__(self, clock: SharedClock) -> None:
        self.clock = clock
        self._state = threading.Condition()
        self._busy = 0  # jobs started or woken, not yet waiting or done
        self._waits: list[tuple[float, int, threading.Event]] = []
        self._orders = itertools.count()
        self._failure: BaseException | None = None

    def sleep(self, seconds: float) -> bool:
        woken = threading.Event()
        with self._state:
            wake = (self.clock() + max(0.0, seconds), next(self._orders), woken)
            heapq.heappush(self._waits, wake)
            self._busy -= 1
            self._state.notify_all()
        woken.wait()
        return True

    def start(self, job: Callable[[], object], done: Callable[[], None]) -> None:
        """Run ``job`` on a thread of its own; ``done`` once it returned."""
        with self._state:
            self._busy += 1
        threading.Thread(target=self._run, args=(job, done), daemon=True).start()

    def _run(self, job: Callable[[], object], done: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # the exporter's entry points never raise
            self._failure = self._failure or error
        finally:
            done()
            with self._state:
                self._busy -= 1
                self._state.notify_all()

    def settle(self) -> float:
        """Wait (in real time) until every job waits or is done; the earliest wait's end."""
        with self._state:
            if not self._state.wait_for(lambda: self._busy == 0, timeout=HUNG_S):
                raise RuntimeError(f"a job neither waited nor ended within {HUNG_S:g} s")
            if self._failure is not None:
                raise RuntimeError("a job failed") from self._failure
            return self._waits[0][0] if self._waits else math.inf

    def advance(self, to: float) -> None:
        """Move the clock on to ``to`` (never back) and end the waits due by then."""
        with self._state:
            if to > self.clock():
                self.clock.set(to)
            while self._waits and self._waits[0][0] <= self.clock():
                self._busy += 1
                heapq.heappop(self._waits)[2].set()


@dataclass(order=True)
class _Periodic:
    """A job run every ``interval`` from ``first``: missed runs coalesce into one, and a run
    still going when the next is due means that one is skipped (APScheduler's way)."""

    at: float
    order: int
    first: float = field(compare=False)
    interval: float = field(compare=False)
    job: Callable[[], object] = field(compare=False)
    running: bool = field(default=False, compare=False)

    def next_after(self, now: float) -> float:
        return self.first + (math.floor((now - self.first) / self.interval) + 1) * self.interval


class Jobs:
    """The daemon's jobs on simulated time: the scheduler's own queue of real-time polls
    (``PollScheduler.run_due``), and the periodic jobs it leaves to APScheduler
    (``exporter.scheduling.periodic``), run here on the same intervals."""

    def __init__(self, app: App, time: VirtualTime) -> None:
        self._app = app
        self._time = time
        self._clock = time.clock
        self._queue: list[_Periodic] = []
        self._orders = itertools.count()
        self._counting = threading.Lock()
        self.polls = 0
        self.scrapes = 0
        self._scraped: Callable[[float, bytes], object] | None = None

    def start(
        self, scrape_every_s: float, scraped: Callable[[float, bytes], object] | None = None
    ) -> None:
        """Queue every first poll and periodic job from now, as ``App.start`` would, and a
        scrape of /metrics every ``scrape_every_s``, as Prometheus asks for it; ``scraped``
        gets each scrape's time and body (unzipped)."""
        self._scraped = scraped
        app, now = self._app, self._clock()
        app.scheduler.arm()
        if app.insight is not None:
            for budget in app.insight.budgets:
                self._every(now, TICK_S, partial(app.insight.tick, budget))
        if app.calls is not None and app.plan.calls.targets:
            self._every(now, app.plan.calls.interval_s, app.calls.run_cycle)
        self._every(now + PRUNE_EVERY_S, PRUNE_EVERY_S, lambda: app.store.prune(self._clock()))
        self._every(now + scrape_every_s, scrape_every_s, self._scrape)

    def run_until(self, end: float) -> None:
        """Run every job due before ``end``; returns with every job waiting or done, and the
        clock at ``end`` or later."""
        while True:
            wake_at = self._time.settle()
            polls_at = self._next_poll()
            at = min(wake_at, polls_at, self._queue[0].at if self._queue else math.inf)
            if at >= end:
                break
            self._time.advance(at)
            if polls_at <= self._clock():
                self._time.start(self._poll, lambda: None)
            while self._queue and self._queue[0].at <= self._clock():
                self._run(heapq.heappop(self._queue))
        self._time.advance(end)
        self._time.settle()

    def _next_poll(self) -> float:
        """When the scheduler's next real-time poll is due (from its list of jobs; listed to
        the microsecond, so a microsecond later)."""
        due = [job["next_run"] for job in self._app.scheduler.jobs()]
        return min((at.timestamp() + 1e-6 for at in due if at is not None), default=math.inf)

    def _poll(self) -> None:
        polled = self._app.scheduler.run_due()
        with self._counting:  # two may run at once: one waits for the ledger
            self.polls += polled

    def _every(self, first: float, interval: float, job: Callable[[], object]) -> None:
        heapq.heappush(self._queue, _Periodic(first, next(self._orders), first, interval, job))

    def _run(self, periodic: _Periodic) -> None:
        if not periodic.running:
            periodic.running = True
            self._time.start(periodic.job, lambda: setattr(periodic, "running", False))
        periodic.at, periodic.order = periodic.next_after(self._clock()), next(self._orders)
        heapq.heappush(self._queue, periodic)

    def _scrape(self) -> None:
        parts, headers = self._app.exposition.payload(
            PROMETHEUS["Accept"], PROMETHEUS["Accept-Encoding"]
        )
        self.scrapes += 1
        if self._scraped is not None:
            body = b"".join(parts)
            gzipped = headers.get("Content-Encoding") == "gzip"
            self._scraped(self._clock(), gzip.decompress(body) if gzipped else body)
