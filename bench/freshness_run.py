"""One run of the freshness benchmark (``bench/freshness.py``): the daemon on simulated time.

The exporter's stages as ``build_app`` builds them, on the soak's shared clock,
against the simulator (its incidents on) in a process of its own, the
scheduler's jobs run when due (``bench/soak_driver.py``), and /metrics scraped
as Prometheus scrapes it (OpenMetrics, gzip) every 15 simulated seconds. Each
scrape keeps the project-scope quality families the shipped alerts read, as
served; nothing else of the exposition is read.
"""

from __future__ import annotations

import re
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

from bench.soak import START
from bench.soak_driver import Jobs, SharedClock, VirtualTime, simulator_process
from exporter.agora.limits import DAY, Budget
from exporter.app import App, build_app
from exporter.catalog.alerts import QUALITY_ALERTS, ShippedAlert
from exporter.catalog.realtime import Scope
from exporter.cli.demo import DEMO_APPID, demo_account
from exporter.scheduling.latency import AlertLatency, alert_latencies, alone_latencies
from exporter.scheduling.planner import PollPlan
from exporter.settings import load_settings
from exporter.settings.models import DEFAULT_SCOPE_WEIGHTS, DEFAULT_WEIGHTS

SCRAPE_EVERY_S = 15.0  # deploy/prometheus/prometheus.yml: scrape_interval (and evaluation_interval)
PRODUCT_TYPES = ["Native", "WebRTC"]
PROJECT_ALERTS: tuple[ShippedAlert, ...] = tuple(
    alert for alert in QUALITY_ALERTS if alert.scope is Scope.PROJECT
)
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

SeriesId = tuple[str, str]
"""A served series: its family and product type (one app)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    equal_weights: bool
    idle: tuple[str, ...] = ()
    """Product types without any user for the whole run."""

    @property
    def busy(self) -> list[str]:
        return [one for one in PRODUCT_TYPES if one not in self.idle]


def freshness_config(base_url: str, state_dir: Path, equal_weights: bool) -> dict[str, Any]:
    """The default configuration on Enterprise's own limits: one app, both product types,
    the default metrics and weights (or every series weighing the same)."""
    app: dict[str, Any] = {"appid": DEMO_APPID, "product_types": list(PRODUCT_TYPES)}
    if equal_weights:
        app["realtime"] = {
            "weights": dict.fromkeys(DEFAULT_WEIGHTS, 1.0),
            "scope_weights": dict.fromkeys(DEFAULT_SCOPE_WEIGHTS, 1.0),
        }
    return {
        "agora": demo_account(base_url),
        "state_dir": str(state_dir),
        "apps": [app],
    }


@dataclass
class Served:
    """What Prometheus scraped: per scrape (every ``SCRAPE_EVERY_S`` from ``START``), the
    value of each quality series the alerts read (absent: not in that scrape)."""

    labels: dict[SeriesId, dict[str, str]] = field(default_factory=dict)
    values: dict[SeriesId, dict[int, float]] = field(default_factory=dict)
    """Per series: scrape number (time ``START + n * SCRAPE_EVERY_S``) -> value."""
    scrapes: int = 0

    def keep(self, at: float, body: bytes, families: set[str]) -> None:
        number = round((at - START) / SCRAPE_EVERY_S)
        for line in body.decode().splitlines():
            found = _SAMPLE.match(line)
            if found is None or found[1] not in families:
                continue
            labels = dict(_LABEL.findall(found[2]))
            key = (found[1], labels.get("product_type", ""))
            self.labels[key] = labels
            self.values.setdefault(key, {})[number] = float(found[3])
        self.scrapes = max(self.scrapes, number)


@dataclass(frozen=True)
class Planned:
    """What the plan says of one alert: its latency (lag + ``for``), its series' poll
    interval and replay lag (the longest, if they differ)."""

    latency_s: int
    interval_s: int
    lag_s: int


@dataclass
class RunResult:
    scenario: Scenario
    served: Served
    planned: dict[str, Planned]
    """Per alert, as the configured plan says (every product type busy)."""
    planned_alone: dict[str, Planned] | None
    """Per alert, with the idle product types paused (None: none is idle)."""
    requests_planned: tuple[float, float | None]
    """Real-time requests a day as planned: configured, and with the idle ones paused."""
    series: int
    """Real-time series configured (each polled once more at the start: the catch-up)."""
    switches: list[tuple[float, int]]
    """When the plan in force changed, and how many series it paused."""
    requests: dict[str, int]
    ledger: dict[str, int]
    last_day: int
    """Real-time requests in the run's last 24 h, by the exporter's ledger: the daily
    spend once the start's catch-up (one more poll of every series) is a day behind."""
    refused: list[str]
    missed: int
    per_day: int
    headroom: float
    seconds: float
    polls: int


def _planned(plan: PollPlan, latencies: list[AlertLatency], busy: str) -> dict[str, Planned]:
    found = {}
    for latency in latencies:
        alert = latency.alert
        timing = max(
            (
                plan.timing[one.key]
                for one in plan.active
                if (one.metric, one.scope, one.product_type) == (alert.metric, alert.scope, busy)
            ),
            key=lambda timing: timing.lag_s,
        )
        found[alert.name] = Planned(latency.longest_s, timing.interval_s, timing.lag_s)
    return found


def paused_plan(plan: PollPlan, scenario: Scenario) -> PollPlan:
    """The plan once the idle product types are paused (the plan itself: none is idle)."""
    return plan.with_idle({g for g in plan.gates.values() if g.product_type in scenario.idle})


def planned(
    plan: PollPlan, scenario: Scenario
) -> tuple[dict[str, Planned], dict[str, Planned] | None]:
    """What the plan expects with every product type busy, and with the idle ones paused."""
    busy = scenario.busy[0]
    configured = _planned(plan, alert_latencies(plan), busy)
    if not scenario.idle:
        return configured, None
    alone = paused_plan(plan, scenario)
    for group, latencies in alone_latencies(plan):
        if [group.product_type] == scenario.busy:
            return configured, _planned(alone, latencies, busy)
    raise SystemExit(f"the plan has no latency for {scenario.busy} alone")


class _Recorder:
    """Each scrape's quality families, and each change of the plan in force."""

    def __init__(self, app: App) -> None:
        self.served = Served()
        self.switches: list[tuple[float, int]] = []
        self._app = app
        self._plan: PollPlan | None = None
        self._families = {alert.family for alert in PROJECT_ALERTS}
        self._lock = threading.Lock()

    def __call__(self, at: float, body: bytes) -> None:
        with self._lock:
            self.served.keep(at, body, self._families)
            plan = self._app.scheduler.plan
            if plan is not self._plan:
                self._plan = plan
                self.switches.append((at, len(plan.paused)))


def run(scenario: Scenario, hours: float) -> RunResult:
    clock = SharedClock(START)
    started = monotonic()
    with (
        simulator_process(clock, idle_product_types=scenario.idle) as sim,
        tempfile.TemporaryDirectory(prefix="agora-bench-freshness-") as scratch,
    ):
        config = freshness_config(sim.base_url, Path(scratch) / "state", scenario.equal_weights)
        settings = load_settings(None, environ={}, overrides=config)
        virtual = VirtualTime(clock)
        app = build_app(settings, clock=clock, sleep=virtual.sleep, host="127.0.0.1", port=0)
        plan = app.plan
        expected = planned(plan, scenario)
        alone = paused_plan(plan, scenario)
        recorder = _Recorder(app)
        try:
            jobs = Jobs(app, virtual)
            jobs.start(SCRAPE_EVERY_S, recorder)
            jobs.run_until(START + hours * 3600)
            tally = sim.tally()
            budgets = [budget.value for budget in plan.budgets]
            ledger = {one: len(app.store.ledger.times(one, START - 1.0)) for one in budgets}
            end = START + hours * 3600
            last_day = len(app.store.ledger.times(Budget.REALTIME.value, end - DAY))
            missed = app.store.windows_missed_total
        finally:
            app.stop()
    realtime = plan.budgets[Budget.REALTIME]
    print(f"{scenario.name}: {monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return RunResult(
        scenario=scenario,
        served=recorder.served,
        planned=expected[0],
        planned_alone=expected[1],
        series=len(plan.series),
        requests_planned=(
            realtime.requests_per_day,
            alone.budgets[Budget.REALTIME].requests_per_day if scenario.idle else None,
        ),
        switches=recorder.switches,
        requests={one: tally.requests.get(one, 0) for one in budgets},
        ledger=ledger,
        last_day=last_day,
        refused=list(tally.refused),
        missed=missed,
        per_day=realtime.limits.per_day,
        headroom=realtime.headroom,
        seconds=round(monotonic() - started, 1),
        polls=jobs.polls,
    )
