"""A real Prometheus scrapes the exporter in demo mode: every dashboard query and rule works.

One exporter with the demo's settings (its simulator: seed 42, the demo's quota)
and one Debian Prometheus (1 s scrapes and rule evaluations, the rules of
deploy/prometheus/alerts.yml with every ``for:`` cut to 10 s) run for the module.
The exporter and its simulator share a clock that runs at real speed but a
constant behind it, chosen so the replayed window is inside a project-wide
incident (one every 7.5 minutes here): the freeze alerts must fire, the health
alerts must not. tests/tools/test_alerts.py shows the demo's own incidents (one every
45 minutes) firing the unshortened rules, with promtool.
Panels whose families the demo does not expose yet (the daily ones while the
demo has no insight) are skipped with the family named, never passed silently.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.agora.limits import Budget
from exporter.app import App, build_app
from exporter.catalog import calls as calls_catalog
from exporter.catalog.insight import INSIGHT_METRICS
from exporter.cli.demo import (
    DEMO_APPID,
    DEMO_CUSTOMER_ID,
    DEMO_CUSTOMER_SECRET,
    DEMO_QUOTA,
    demo_overrides,
)
from exporter.scheduling.planner import make_plan
from exporter.settings import Settings, load_settings
from exporter.simulator import Incident, Simulator
from tests.daemon_helpers import free_port, scrape, wait_until

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
SHORT_FOR = "10s"
# Grafana's built-in variables, as a 1 s scrape needs them; dashboard variables mean "All".
BUILT_INS = {"__rate_interval": "1m", "__range": "5m", "__interval": "15s"}
ALL = ".+"
METRIC = re.compile(r"\b(agora_[a-z0-9_]+|up)\b")
FREEZE_ALERTS = {
    ("AgoraVideoFreezeRateHigh", "Native"),
    ("AgoraVideoFreezeRateHigh", "WebRTC"),
    ("AgoraAudioFreezeRateHigh", "Native"),  # the Web SDK reports no audio freeze
}
HEALTH_GROUP = "agora-exporter-health"
INCIDENT_EVERY_S = 450  # 300 s incidents; the demo's default is one every 45 minutes
MAX_SHIFT_S = 650
PEAK_LEFT_S = 120  # the module needs about 40 s of it


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install Debian's prometheus package (.ci/run does)")
    return found


def substitute(expr: str) -> str:
    """A panel or variable query as Grafana sends it with every variable on "All"."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: BUILT_INS.get(m.group(1), ALL), expr)


def _panels() -> list[Any]:
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in _nested(board["panels"]):
            for target in panel.get("targets", []):
                label = f"{board['title']}: {panel['title']} ({target['refId']}) returns data"
                found.append(pytest.param(target["expr"], id=label))
    return found


def _nested(panels: list[Any]) -> list[Any]:
    """Every panel, those inside collapsed rows included."""
    return [inner for panel in panels for inner in [panel, *panel.get("panels", [])]]


def _read_by_panels() -> set[str]:
    """Every family a dashboard panel reads."""
    return {
        name
        for path in DASHBOARDS
        for panel in _nested(json.loads(path.read_text())["panels"])
        for target in panel.get("targets", [])
        for name in METRIC.findall(target["expr"])
    }


def _variables() -> list[Any]:
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                label = f"{board['title']}: variable {variable['name']} lists values"
                found.append(pytest.param(variable["definition"], id=label))
    return found


class Shifted:
    """Real time plus a constant: the simulator and the exporter agree on it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass(frozen=True)
class Stack:
    app: App
    settings: Settings
    prometheus: httpx.Client
    exposed: frozenset[str]
    incident: Incident
    clock: Shifted


def _demo_simulator(clock: Shifted) -> Simulator:
    """The simulator ``exporter.cli.demo.start_demo`` starts, on a shifted clock and with an
    incident every ``INCIDENT_EVERY_S`` so one is always close to now."""
    simulator = Simulator(
        plan="enterprise",
        customer_id=DEMO_CUSTOMER_ID,
        customer_secret=DEMO_CUSTOMER_SECRET,
        seed=42,
        clock=clock,
        incident_every_s=INCIDENT_EVERY_S,
    )
    for budget, limits in DEMO_QUOTA.items():
        simulator.set_quota(Budget(budget), **limits)
    return simulator


def _aim_at_incident(simulator: Simulator, settings: Settings, clock: Shifted) -> Incident:
    """Set the clock back so the window replayed now is on a project-wide incident's peak.

    Back, not ahead: APScheduler waits on the real clock, so the jobs the exporter
    schedules in its past run at once. At most ``MAX_SHIFT_S`` back (the health
    test takes the shift off AgoraDataStale's overdue seconds). The
    peak must last ``PEAK_LEFT_S`` more; with 300 s incidents every 450 s, any
    stretch of ``MAX_SHIFT_S - 30`` seconds reaches such a moment of one of them.
    """
    lag = make_plan(settings).lag_s(Budget.REALTIME)
    now = time.time()
    earliest, latest = now - lag - MAX_SHIFT_S, now - lag - 30
    for incident in reversed(
        simulator.traffic.incidents(DEMO_APPID, int(earliest) - 900, int(latest))
    ):
        # The peak runs from one ramp after the start to one ramp before the end.
        first, last = incident.start + 60, incident.end - 60 - PEAK_LEFT_S
        target = max(first, earliest)
        if target <= min(last, latest):
            clock.offset = target + lag - now
            return incident
    raise AssertionError(f"no incident peak between {earliest} and {latest}")


def _prometheus_files(base: Path, exporter_port: int) -> Path:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = SHORT_FOR
    (base / "alerts.yml").write_text(yaml.safe_dump(rules))
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"] = {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    config["rule_files"] = [str(base / "alerts.yml")]
    config.pop("alerting")
    (job,) = config["scrape_configs"]
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{exporter_port}"]}]
    (base / "prometheus.yml").write_text(yaml.safe_dump(config))
    return base / "prometheus.yml"


def _expected_families(settings: Settings) -> set[str]:
    """Every real-time family the plan fills, the daily ones when insight is on, and
    every call family a panel reads when calls are on."""
    names = {one.family for one in make_plan(settings).series}
    if any(app.insight.enabled for app in settings.apps):
        names.add(INSIGHT_METRICS["userCount"].daily_family)
    if any(app.calls.enabled for app in settings.apps):
        call_families = {metric.family for metric in calls_catalog.CALL_METRICS.values()}
        call_families |= {one.name for one in calls_catalog.CALL_SELF_METRICS}
        names |= call_families & _read_by_panels()
    return names


def _populated(port: int, expected: set[str], keep: set[str]) -> bool:
    names = {name for name, _ in scrape(port)}
    keep.update(names)
    return expected <= names


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("prometheus-e2e")
    clock = Shifted()
    with ExitStack() as stack:
        simulator = stack.enter_context(_demo_simulator(clock))
        overrides = demo_overrides(simulator.base_url, base / "state")
        settings = load_settings(None, environ={}, overrides=overrides)
        incident = _aim_at_incident(simulator, settings, clock)
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0)
        app.start()
        stack.callback(app.stop)
        config = _prometheus_files(base, app.port)
        port = free_port()
        log = stack.enter_context((base / "prometheus.log").open("w"))
        command = [
            _binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        process = stack.enter_context(subprocess.Popen(command, stdout=log, stderr=log))
        stack.callback(process.wait, timeout=30)
        stack.callback(process.terminate)
        api = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10))
        wait_until(lambda: _ready(api), timeout_s=30, what="Prometheus to be ready")
        exposed: set[str] = {"up"}
        expected = _expected_families(settings)
        wait_until(
            lambda: _populated(app.port, expected, exposed),
            timeout_s=60,
            what=f"the demo to expose {sorted(expected)}",
        )
        yield Stack(app, settings, api, frozenset(exposed), incident, clock)


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/-/ready").status_code == 200
    except httpx.TransportError:
        return False


def _query(api: httpx.Client, expr: str) -> list[dict[str, Any]]:
    answer = api.get("/api/v1/query", params={"query": expr}).json()
    assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _alerts(api: httpx.Client) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = api.get("/api/v1/alerts").json()["data"]["alerts"]
    return alerts


@pytest.mark.parametrize("expr", _panels())
def test_panel_query(stack: Stack, expr: str) -> None:
    missing = sorted(set(METRIC.findall(expr)) - stack.exposed)
    if missing:
        pytest.skip(f"not verifiable yet: the demo's /metrics has no {', '.join(missing)}")
    query = substitute(expr)
    wait_until(lambda: bool(_query(stack.prometheus, query)), timeout_s=30, what=query)


@pytest.mark.parametrize("definition", _variables())
def test_dashboard_variable(stack: Stack, definition: str) -> None:
    found = re.fullmatch(r"label_values\((.+), (\w+)\)", definition)
    assert found, definition
    selector, label = found[1], found[2]
    url = f"/api/v1/label/{label}/values"
    params = {"match[]": substitute(selector)}
    wait_until(
        lambda: bool(stack.prometheus.get(url, params=params).json()["data"]),
        timeout_s=30,
        what=f"values of {label} for {selector}",
    )


def test_prometheus_evaluates_every_rule_without_an_error(stack: Stack) -> None:
    def all_ok() -> bool:
        groups = stack.prometheus.get("/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        return bool(rules) and not bad

    wait_until(all_ok, timeout_s=30, what="every rule to be evaluated with health ok")
    groups = stack.prometheus.get("/api/v1/rules").json()["data"]["groups"]
    shipped = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in shipped)


def test_demo_incident_fires_the_project_freeze_alerts(stack: Stack) -> None:
    def firing() -> set[tuple[str, str]]:
        return {
            (alert["labels"]["alertname"], alert["labels"].get("product_type", ""))
            for alert in _alerts(stack.prometheus)
            if alert["state"] == "firing"
        }

    wait_until(
        lambda: firing() >= FREEZE_ALERTS,
        timeout_s=60,
        what=f"{sorted(FREEZE_ALERTS)} to fire during {stack.incident}",
    )
    for alert in _alerts(stack.prometheus):
        if (alert["labels"]["alertname"], alert["labels"].get("product_type")) in FREEZE_ALERTS:
            assert alert["labels"]["appid"] == DEMO_APPID
            assert float(alert["value"]) > 0.03


def test_health_alerts_stay_quiet_while_the_demo_is_healthy(stack: Stack) -> None:
    groups = stack.prometheus.get("/api/v1/rules").json()["data"]["groups"]
    (health,) = [group for group in groups if group["name"] == HEALTH_GROUP]
    # Let every health rule see data for longer than its shortened `for:` first.
    scrapes = int(SHORT_FOR.rstrip("s")) + 5
    seen = f'count_over_time(up{{job="agora-exporter"}}[1m]) >= {scrapes}'
    wait_until(lambda: bool(_query(stack.prometheus, seen)), timeout_s=60, what=seen)
    names = {rule["name"] for rule in health["rules"]} - {"AgoraDataStale"}
    active = [a["labels"] for a in _alerts(stack.prometheus) if a["labels"]["alertname"] in names]
    assert active == []
    # Prometheus' time() runs ahead of the exporter's clock, set back to aim at an
    # incident: every window looks that much older to it. Less the shift, no request
    # shape may be overdue (AgoraDataStale's record is above 0 when one is).
    record = "appid:agora_realtime_fetch_overdue_seconds:max"
    overdue = _query(stack.prometheus, f"{record} + ({stack.clock.offset:.3f})")
    assert overdue, f"{record} has no value"
    values = [float(one["value"][1]) for one in overdue]
    assert max(values) <= 0, values


def test_dockerfile_healthcheck_passes_against_a_live_exporter_and_fails_without_one(
    stack: Stack,
) -> None:
    script = ROOT / "deploy" / "docker" / "healthcheck.py"
    assert "agora-exporter-healthcheck" in (ROOT / "Dockerfile").read_text()

    def run(port: int) -> int:
        argv = [sys.executable, str(script), f"--web.listen-address=127.0.0.1:{port}"]
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode

    assert run(stack.app.port) == 0
    assert run(free_port()) != 0
