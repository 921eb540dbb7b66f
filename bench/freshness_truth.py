"""What the freshness benchmark measures against: the incidents and the shipped rules.

Each project-wide incident of the simulator's own schedule
(``exporter/simulator/incidents.py``), per shipped project-scope alert and
product type: its *first window*, the first 20 s window of the incident in
which the simulator's project rate (``TrafficModel.realtime``, what the API
serves) is beyond the rule's threshold; and how long the rate stays beyond it
without a break. The thresholds are read from the shipped rule file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.freshness_run import PROJECT_ALERTS, Scenario
from bench.soak_driver import SEED
from exporter.cli.demo import DEMO_APPID
from exporter.simulator import TrafficModel
from exporter.simulator.incidents import Incident
from exporter.timing.windows import WINDOW_S

RULE_FILE = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"
_EXPR = re.compile(r'^(\w+)\{job="agora-exporter"\} ([<>]) ([0-9.]+)$')


@dataclass(frozen=True)
class Rule:
    """A shipped alert rule on a project-scope quality family."""

    alert: str
    family: str
    metric: str
    above: bool
    """True: fires above ``threshold``; False: below it."""
    threshold: float
    for_s: int

    def beyond(self, value: float | None) -> bool:
        if value is None:
            return False
        return value > self.threshold if self.above else value < self.threshold

    @property
    def band(self) -> str:
        return f"{'>' if self.above else '<'} {self.threshold:g}"


def shipped_rules(path: Path = RULE_FILE) -> list[Rule]:
    """The project-scope quality alerts of the rule file, as it states them."""
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    rules = {
        rule["alert"]: rule
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    found = []
    for alert in PROJECT_ALERTS:
        matched = _EXPR.match(str(rules[alert.name]["expr"]).strip())
        if matched is None or matched[1] != alert.family:
            raise SystemExit(f"{path}: {alert.name} is no longer 'family > threshold'")
        if rules[alert.name]["for"] != alert.duration:
            raise SystemExit(f"{path}: {alert.name}'s for is not {alert.duration}")
        above, threshold = matched[2] == ">", float(matched[3])
        found.append(Rule(alert.name, alert.family, alert.metric, above, threshold, alert.for_s))
    return found


@dataclass(frozen=True)
class Bad:
    """One incident as one alert's rule sees it on one product type."""

    incident: Incident
    rule: Rule
    product_type: str
    first: int | None
    """The incident's first window beyond the threshold (None: the rate never got there)."""
    longest_s: int
    """The longest stretch of windows beyond it without a break."""
    rates: tuple[float, ...]
    """The rates of the first window and the next ones (to find them among what was served)."""


def _bad(traffic: TrafficModel, incident: Incident, rule: Rule, product_type: str) -> Bad:
    first, run, longest = None, 0, 0
    start = math.floor(incident.start / WINDOW_S) * WINDOW_S
    for window in range(start, incident.end, WINDOW_S):
        value = traffic.realtime(DEMO_APPID, product_type, rule.metric, window)
        if rule.beyond(None if value is None else float(value)):
            first = window if first is None else first
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    rates: list[float] = []
    if first is not None:  # to the incident's end, and a little past it for short ones
        for window in range(first, incident.end + 3 * WINDOW_S, WINDOW_S):
            value = traffic.realtime(DEMO_APPID, product_type, rule.metric, window)
            if value is None:
                break
            rates.append(float(value))
    return Bad(incident, rule, product_type, first, longest * WINDOW_S, tuple(rates))


def incidents(scenario: Scenario, rules: list[Rule], start: float, end: float) -> list[Bad]:
    """Every project-wide incident that begins in ``[start, end)``, per rule and busy
    product type with data for the rule's metric (WebRTC has no audio freeze rate)."""
    traffic = TrafficModel(seed=SEED, idle_product_types=scenario.idle)
    found = []
    for incident in traffic.incidents(DEMO_APPID, int(start), int(end)):
        if not start <= incident.start < end:
            continue
        for rule in rules:
            for product_type in scenario.busy:
                if traffic.realtime(DEMO_APPID, product_type, rule.metric, incident.start) is None:
                    continue
                found.append(_bad(traffic, incident, rule, product_type))
    return found
