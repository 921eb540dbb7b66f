"""The figures of one run of the freshness benchmark, and the targets they must meet.

Per project-scope quality alert and busy product type: the incidents of the
run (those that began before it are only used to explain alerts served from
the start's catch-up), the delay of each to its alert firing, once with the
rules evaluated at the scrapes' own instants and once ``LATE_S`` after them.
With an idle product type, the incidents that began before the exporter
paused it are counted apart: until then the plan of two busy product types
was in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.freshness_delays import Delay, Summary, all_delays, summary, unexplained
from bench.freshness_rules import Firing, firing
from bench.freshness_run import PROJECT_ALERTS, Planned, RunResult
from bench.freshness_truth import RULE_FILE, Bad, incidents, shipped_rules
from bench.soak import START

FREEZE = ("AgoraAudioFreezeRateHigh", "AgoraVideoFreezeRateHigh")
BOTH_S, ALONE_S = 12 * 60, 9 * 60
HORIZON_S = 3600  # Enterprise's: the start's catch-up serves the hour before the start
BEFORE = "before the pause"


LATE_S = 14
"""The latest a rule evaluated every 15 s can run after a scrape (whole seconds)."""


@dataclass
class Measured:
    result: RunResult
    summaries: list[Summary]
    """Per alert and product type (and, with a pause, before and after it)."""
    late: list[Summary]
    """The same, with each rule evaluation ``LATE_S`` after a scrape."""
    phases: dict[int, str]
    """Index into ``summaries`` -> which part of the run it covers."""
    unexplained: dict[str, list[float]]
    paused_at: float | None
    earlier: int
    """Incidents that began in the hour before the start (served from the catch-up)."""


def _paused_at(result: RunResult) -> float | None:
    return next((at for at, paused in result.switches if paused), None)


@dataclass
class _Found:
    summaries: list[Summary] = field(default_factory=list)
    phases: dict[int, str] = field(default_factory=dict)
    unexplained: dict[str, list[float]] = field(default_factory=dict)


def _summaries(
    result: RunResult, bads: list[Bad], fired: Firing, end: float, paused_at: float | None
) -> _Found:
    expected = {name: one.latency_s for name, one in result.planned.items()}
    delays = all_delays(bads, result.served, fired, end, expected)
    found = _Found()
    for alert in PROJECT_ALERTS:
        for product in result.scenario.busy:
            mine = [
                d for d in delays if (d.bad.rule.alert, d.bad.product_type) == (alert.name, product)
            ]
            if not mine:
                continue
            times = fired.get((alert.name, product), [])
            found.unexplained[f"{alert.name} {product}"] = unexplained(times, mine)
            judged = [d for d in mine if d.bad.incident.start >= START]
            for phase, part in _phases(judged, paused_at):
                found.phases[len(found.summaries)] = phase
                found.summaries.append(summary(alert.name, product, part))
    return found


def measure(result: RunResult, hours: float) -> Measured:
    rules = shipped_rules()
    end = START + hours * 3600
    bads = incidents(result.scenario, rules, START - HORIZON_S, end)
    paused_at = _paused_at(result)
    found = _summaries(result, bads, firing(result.served, rules, RULE_FILE), end, paused_at)
    late = firing(result.served, rules, RULE_FILE, offset_s=LATE_S)
    return Measured(
        result=result,
        summaries=found.summaries,
        late=_summaries(result, bads, late, end, paused_at).summaries,
        phases=found.phases,
        unexplained=found.unexplained,
        paused_at=paused_at,
        earlier=len({bad.incident for bad in bads if bad.incident.start < START}),
    )


def _phases(delays: list[Delay], paused_at: float | None) -> list[tuple[str, list[Delay]]]:
    if paused_at is None:
        return [("", delays)]
    before = [d for d in delays if d.bad.incident.start < paused_at]
    after = [d for d in delays if d.bad.incident.start >= paused_at]
    return [(BEFORE, before), ("after the pause", after)]


def _target_s(result: RunResult, phase: str) -> int:
    return ALONE_S if result.scenario.idle and phase != BEFORE else BOTH_S


def planned_for(result: RunResult, phase: str) -> dict[str, Planned]:
    """The plan's figures per alert for the part of the run ``phase`` names."""
    if result.planned_alone is None or phase == BEFORE:
        return result.planned
    return result.planned_alone


def minutes(seconds: float | None) -> str:
    """``705`` is ``11:45``; None is ``-``."""
    if seconds is None:
        return "-"
    whole, rest = divmod(round(seconds), 60)
    return f"{whole}:{rest:02d}"


def _latency_verdicts(measured: Measured) -> list[tuple[str, bool]]:
    """The freeze alerts' targets (default weights only)."""
    found = []
    result = measured.result
    for index, one in enumerate(measured.summaries):
        if one.alert not in FREEZE:
            continue
        phase = measured.phases[index]
        limit = _target_s(result, phase)
        worst = one.figures[2] if one.figures else None
        late = measured.late[index].figures
        where = result.scenario.name + (f", {phase}" if phase else "")
        text = (
            f"{where}: {one.alert} {one.product_type} fires <= {limit // 60} min after each "
            f"incident's first window (max {minutes(worst)}; not targets: "
            f"{minutes(late[2] if late else None)} evaluated {LATE_S} s after each scrape, "
            f"{minutes(max(one.from_start, default=None))} from the incident's start)"
        )
        found.append((text, worst is not None and worst <= limit and one.missed == 0))
    return found


def verdicts(runs: list[Measured]) -> list[tuple[str, bool]]:
    """Every target: the freeze alerts' latency and the daily budget with the default
    weights; 0 windows missed and 0 refusals in every run."""
    found = []
    for measured in runs:
        result = measured.result
        name = result.scenario.name
        found += [
            (f"{name}: 0 windows missed ({result.missed})", result.missed == 0),
            (f"{name}: 0 refusals ({len(result.refused)})", not result.refused),
        ]
        if result.scenario.equal_weights:
            continue
        found += _latency_verdicts(measured)
        daily = (1 - result.headroom) * result.per_day
        text = f"{name}: real-time requests in the last 24 h <= {daily:,.0f} ({result.last_day:,})"
        found.append((text, result.last_day <= daily))
    return found
