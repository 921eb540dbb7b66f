"""The alert rules: generated and current, promtool's checks and unit tests, the mixin
conventions, the job selector and the runbooks, the dashboards' thresholds, and the demo's own
incidents firing the freeze alerts at the compose setup's scrape rate."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog.insight import INSIGHT_METRICS
from exporter.catalog.own import API_DURATION, QUOTA_USED, SELF_METRICS, WINDOWS_MISSED
from exporter.catalog.realtime import REALTIME_METRICS, Scope
from exporter.cli.demo import DEMO_APPID
from exporter.simulator.traffic import TrafficModel
from tools.dashboards import ALERTS_FILE, PROMETHEUS_RULE_FILE, dashboards, render_all
from tools.dashboards.__main__ import main
from tools.dashboards.config import DEFAULT, Config

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
SYSTEMD_UNIT = ROOT / "deploy" / "systemd" / "agora-exporter.service"
BANDS = DEFAULT.bands()
JOB = DEFAULT.job_selector
# Every series a rule reads: a catalog family, up, or a recorded name (level:metric:ops).
SERIES = re.compile(r"(?<![:\w])(agora_[a-z0-9_]+|up|[a-z_]+:[a-z0-9_]+:[a-z0-9_]+)(?![:\w])")
SEVERITIES = {"critical", "warning", "info"}
DEMO_SEED = 42
COMPOSE_SCRAPE_S = 15  # deploy/prometheus/prometheus.yml
DAY_START = 1_699_920_000  # 2023-11-14 00:00 UTC: any stretch of the demo will do
SPAN_S = 6 * 3600  # eight incidents; a whole day takes promtool 12 s


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install Debian's prometheus package (.ci/run does)")
    return found


def _groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _groups() for rule in group["rules"] if "alert" in rule]


def _recorded() -> set[str]:
    return {rule["record"] for group in _groups() for rule in group["rules"] if "record" in rule}


def _known_names() -> set[str]:
    names = {API_DURATION.name + "_bucket", "up", *_recorded()}
    for metric in REALTIME_METRICS.values():
        names.update(family for family in metric.families.values())
    names.update(metric.daily_family for metric in INSIGHT_METRICS.values())
    names.update(metric.name for metric in SELF_METRICS)
    return names


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("promtool"), *args], capture_output=True, text=True, timeout=120, check=False
    )


# -- promtool -----------------------------------------------------------------------------


@pytest.mark.prometheus
def test_promtool_check_rules_accepts_the_shipped_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.prometheus
def test_promtool_unit_tests_of_every_alert_pass() -> None:
    done = _promtool("test", "rules", *map(str, RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test_that_fires_it_and_one_that_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in _alerts()}
    assert names - fires == set(), "alerts no unit test fires"
    assert names - quiet == set(), "alerts no unit test keeps quiet"


def test_a_unit_test_fires_agora_exporter_down_when_the_target_disappears() -> None:
    """``up == 0`` never holds for a target gone from discovery: ``absent(up)`` must fire."""
    found = []
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            ups = [s for s in case["input_series"] if s["series"].startswith("up{")]
            mine = [s for s in ups if 'job="agora-exporter"' in s["series"]]
            if not (mine and all(s["values"].endswith("stale") for s in mine)):
                continue
            for check in case.get("alert_rule_test", []):
                for alert in check.get("exp_alerts") or []:
                    if check["alertname"] == "AgoraExporterDown":
                        assert "instance" not in alert["exp_labels"]
                        found.append(check["eval_time"])
    assert found, "no promtool test of a target that disappears"


# -- conventions ------------------------------------------------------------------------


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: f"{rule['alert']} follows the mixin")
def test_alert_follows_the_mixin_conventions(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"Agora[A-Z][A-Za-z0-9]+", rule["alert"])
    assert re.fullmatch(r"([1-9]\d*[smh])+", str(rule.get("for"))), "every alert needs a for"
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["summary"].endswith(".")
    assert len(annotations["description"]) > 40
    assert annotations["runbook_url"] == f"{DEFAULT.runbook_url_base}#{rule['alert'].lower()}"


def test_every_runbook_url_lands_on_a_runbook_section_that_says_what_to_check_and_do() -> None:
    text = RUNBOOK.read_text()
    anchors = _anchors(text)
    for rule in _alerts():
        address, anchor = rule["annotations"]["runbook_url"].split("#", 1)
        assert (ROOT / address).resolve() == RUNBOOK.resolve()
        assert anchor in anchors, f"docs/runbook.md has no section #{anchor} for {rule['alert']}"
        section = text.split(f"## {rule['alert']}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("What it means", "What to check", "What to do"):
            assert part in section, f"the runbook of {rule['alert']} lacks {part!r}"


def test_no_runbook_or_documentation_link_names_a_repository_the_project_does_not_have() -> None:
    rule_texts = [(ROOT / name).read_text() for name in (ALERTS_FILE, PROMETHEUS_RULE_FILE)]
    for text in rule_texts:
        assert "github.com" not in text
    (line,) = [
        ln for ln in SYSTEMD_UNIT.read_text().splitlines() if ln.startswith("Documentation=")
    ]
    uris = line.removeprefix("Documentation=").split()
    assert uris, "an empty Documentation= resets the list"
    for uri in uris:
        # systemd.unit(5): http://, https://, file:, info:, man: only.
        assert re.match(r"(https?://|file:|info:|man:)\S+$", uri), uri
        assert "github.com" not in uri
    assert "runbook.md" in RUNBOOK.read_text().split("\n## ", 1)[0], "docs/runbook.md's intro"


def test_every_series_the_rules_read_carries_the_job_selector() -> None:
    checked = 0
    for group in _groups():
        for rule in group["rules"]:
            for found in SERIES.finditer(rule["expr"]):
                selector = rule["expr"][found.end() :]
                assert selector.startswith("{" + JOB), (rule.get("alert"), found[0])
                checked += 1
    assert checked >= 20


def test_another_job_selector_and_runbook_base_reach_every_rule(tmp_path: Path) -> None:
    config = Config(
        job_selector='job=~"agora-(eu|us)", namespace="monitoring"',
        runbook_url_base="https://wiki.example.invalid/ops/agora-runbook",
    )
    text = render_all(config)[ALERTS_FILE]
    groups = yaml.safe_load(text)["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len([rule for group in _groups() for rule in group["rules"]])
    for rule in rules:
        assert "agora-exporter" not in rule["expr"]
        for found in SERIES.finditer(rule["expr"]):
            assert rule["expr"][found.end() :].startswith("{" + config.job_selector)
        if "alert" in rule:
            url = rule["annotations"]["runbook_url"]
            assert url == f"{config.runbook_url_base}#{rule['alert'].lower()}"
    queries = [
        target["expr"]
        for board in dashboards(config).values()
        for panel in board["panels"]
        for inner in [panel, *panel.get("panels", [])]
        for target in inner.get("targets", [])
    ]
    assert queries
    assert all(config.job_selector in query and JOB not in query for query in queries)
    if shutil.which("promtool"):
        (tmp_path / "alerts.yml").write_text(text)
        done = _promtool("check", "rules", str(tmp_path / "alerts.yml"))
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_bad_job_selector_is_refused() -> None:
    for selector in ("", '{job="agora-exporter"}', "job=agora-exporter", 'job="a" or up'):
        with pytest.raises(ValueError, match="job_selector"):
            Config(job_selector=selector)
    with pytest.raises(SystemExit):
        main(["--check", "--job-selector", "job=agora"])


# -- generated ----------------------------------------------------------------------------


def test_alerts_yml_and_the_prometheus_rule_are_generated_and_current() -> None:
    files = render_all()
    for relative in (ALERTS_FILE, PROMETHEUS_RULE_FILE):
        text = (ROOT / relative).read_text()
        assert text.startswith("# Generated by `python -m tools.dashboards`"), relative
        assert text == files[relative], f"{relative} is stale: run python -m tools.dashboards"
    rule = yaml.safe_load((ROOT / PROMETHEUS_RULE_FILE).read_text())
    assert rule["spec"]["groups"] == _groups()


def test_the_check_flag_fails_on_a_stale_or_missing_file_and_passes_once_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ["--root", str(tmp_path)]
    assert main(["--check", *root]) == 1
    assert main(root) == 0
    assert main(["--check", *root]) == 0
    alerts = tmp_path / ALERTS_FILE
    alerts.write_text(alerts.read_text().replace("for: 15m", "for: 1m"))
    capsys.readouterr()
    assert main(["--check", *root]) == 1
    assert capsys.readouterr().out == f"{ALERTS_FILE}: out of date\n"
    # Rendered for another job, the committed files are stale.
    assert main(["--check", "--root", str(ROOT), "--job-selector", 'job="other"']) == 1
    assert main(["--check", "--root", str(ROOT)]) == 0


def test_every_metric_the_rules_read_is_in_the_catalog() -> None:
    known = _known_names()
    for group in _groups():
        for rule in group["rules"]:
            used = set(re.findall(r"(?<![:\w])(agora_[a-z0-9_]+|up)(?![:\w])", rule["expr"]))
            used |= set(re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", rule["expr"]))
            assert used <= known, f"{rule.get('alert') or rule['record']} reads {used - known}"


def test_quality_alerts_use_the_dashboards_healthy_bands_at_both_scopes() -> None:
    covered = set()
    for rule in _alerts():
        if rule["labels"].get("scope") not in ("project", "channel"):
            continue
        metric = rule["labels"]["metric"]
        scope = Scope.PROJECT if rule["labels"]["scope"] == "project" else Scope.CHANNEL
        band = BANDS[metric]
        family = REALTIME_METRICS[metric].family(scope)
        comparison = f"{family}{{{JOB}}} {'>' if band.upper else '<'} {band.limit:g}"
        assert rule["expr"].startswith(comparison), rule["alert"]
        assert rule["for"] == DEFAULT.quality_for
        covered.add((metric, scope))
    wanted = {"audioFreezeRate", "videoFreezeRate", "joinSuccessIn5sRate", "networkDelay"}
    assert covered == {(metric, scope) for metric in wanted for scope in Scope if scope != "user"}


def test_quota_alert_threshold_is_the_one_the_health_dashboard_draws() -> None:
    (rule,) = [rule for rule in _alerts() if rule["alert"] == "AgoraQuotaNearlyExhausted"]
    assert rule["expr"].endswith(f"> {DEFAULT.quota_ratio}")


# -- dashboards and alerts agree at the threshold -------------------------------------------


def _board_panels() -> list[dict[str, Any]]:
    boards = [json.loads(path.read_text()) for path in (ROOT / "grafana/dashboards").glob("*.json")]
    return [
        inner
        for board in boards
        for panel in board["panels"]
        for inner in [panel, *panel.get("panels", [])]
        if inner["type"] not in ("row", "text")
    ]


def _coloured_targets() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(panel title, expr, threshold steps) of every target a panel colours by thresholds."""
    for panel in _board_panels():
        overrides = panel["fieldConfig"]["overrides"]
        for index, target in enumerate(panel["targets"]):
            if panel["type"] == "table":
                properties = overrides[index]["properties"]
                steps = [p["value"]["steps"] for p in properties if p["id"] == "thresholds"]
            else:
                steps = [panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
            if steps and len(steps[0]) > 1:
                yield panel["title"], target["expr"], steps[0]


def _grafana_colour(steps: list[dict[str, Any]], value: float) -> str:
    """Grafana's rule: the colour of the last step whose value is <= the value."""
    colour = str(steps[0]["color"])
    for step in steps[1:]:
        if value >= step["value"]:
            colour = str(step["color"])
    return colour


def _alert_holds(expr: str, value: float) -> bool:
    """The alert's first comparison with a number, applied to ``value``."""
    found = re.search(r"[)}\]] ([<>]=?|==) ([0-9.]+)", expr)
    assert found, expr
    threshold = float(found[2])
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
    }[found[1]]


def _probe_values(threshold: float) -> list[float]:
    return [
        threshold,
        math.nextafter(threshold, math.inf),
        math.nextafter(threshold, -math.inf),
        threshold + 0.005,
        max(threshold - 0.005, 0.0),
    ]


def test_a_panel_is_red_exactly_when_the_alert_on_its_series_holds() -> None:
    rules = {rule["alert"]: rule for rule in _alerts()}
    # The series each thresholded alert compares, as the panels read it.
    series = {
        name: SERIES.search(rule["expr"])[0]  # type: ignore[index]
        for name, rule in rules.items()
        if rule["labels"].get("scope") in ("project", "channel")
    }
    series["AgoraQuotaNearlyExhausted"] = f"{QUOTA_USED.name}"
    series["AgoraWindowsMissed"] = WINDOWS_MISSED.name
    checked = set()
    for title, expr, steps in _coloured_targets():
        for alertname, family in series.items():
            if not re.search(rf"\b{family}\b", expr):
                continue
            rule = rules[alertname]
            threshold = float(re.findall(r"[<>]=? ([0-9.]+)", rule["expr"])[0])
            for value in _probe_values(threshold):
                red = _grafana_colour(steps, value) == "red"
                assert red == _alert_holds(rule["expr"], value), (title, alertname, value)
            checked.add(alertname)
    assert checked == set(series), f"no panel colours {set(series) - checked}"


def test_alertmanager_example_routes_every_severity_and_inhibits_on_labels_the_rules_set() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {receiver["name"] for receiver in config["receivers"]}
    routes = config["route"]["routes"]
    assert config["route"]["receiver"] in receivers
    assert {route["receiver"] for route in routes} <= receivers
    routed = {m.split('"')[1] for route in routes for m in route["matchers"]}
    assert routed == SEVERITIES
    labels = {name for rule in _alerts() for name in rule["labels"]}
    for rule in config["inhibit_rules"]:
        assert set(rule["equal"]) <= labels | {"appid", "product_type", "instance"}


# -- the demo trips the freeze alerts ----------------------------------------------------


def _humanize_percentage(value: float) -> str:
    """Prometheus' humanizePercentage: Go's %.4g of value x 100."""
    return f"{value * 100:.4g}%"


def _render(template: str, labels: dict[str, str], value: float) -> str:
    text = template.replace("{{ $value | humanizePercentage }}", _humanize_percentage(value))
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
    assert "{{" not in text, f"this test renders only $value and $labels: {text}"
    return text


def _scraped(traffic: TrafficModel, product_type: str, metric: str) -> list[float | None]:
    """What a 15 s scrape of a replaying series sees (the replay lag only shifts it)."""
    seen: list[float | None] = []
    for at in range(DAY_START, DAY_START + SPAN_S, COMPOSE_SCRAPE_S):
        value = traffic.realtime(DEMO_APPID, product_type, metric, at - at % 20)
        seen.append(None if value is None else float(value))
    return seen


def _incident_checks(
    rule: dict[str, Any], labels: dict[str, str], values: list[float | None], traffic: TrafficModel
) -> Iterator[dict[str, Any]]:
    """Per incident: firing 5 minutes after the first bad scrape; quiet before the next one."""
    incidents = traffic.incidents(DEMO_APPID, DAY_START + 600, DAY_START + SPAN_S - 900)
    for incident, following in zip(incidents, [*incidents[1:], None], strict=True):
        begin = (incident.start - DAY_START) // COMPOSE_SCRAPE_S
        first = next(i for i in range(begin, len(values)) if (values[i] or 0) > 0.03)
        fires_at = first + 300 // COMPOSE_SCRAPE_S
        alert = {**labels, "severity": "warning", **rule["labels"]}
        annotations = {
            key: _render(text, alert, values[fires_at] or 0.0)
            for key, text in rule["annotations"].items()
        }
        yield {
            "eval_time": f"{fires_at * COMPOSE_SCRAPE_S}s",
            "alertname": rule["alert"],
            "exp_alerts": [{"exp_labels": alert, "exp_annotations": annotations}],
        }
        if following is not None:
            calm = (incident.end + following.start) // 2 - DAY_START
            yield {"eval_time": f"{calm}s", "alertname": rule["alert"], "exp_alerts": []}


def _demo_day_rule_test(directory: Path) -> Path:
    """One promtool test group per series: the demo's values for six hours, and the checks."""
    traffic = TrafficModel(seed=DEMO_SEED)
    rules = {rule["alert"]: rule for rule in _alerts()}
    cases = [
        ("AgoraVideoFreezeRateHigh", "Native", "videoFreezeRate"),
        ("AgoraVideoFreezeRateHigh", "WebRTC", "videoFreezeRate"),
        ("AgoraAudioFreezeRateHigh", "Native", "audioFreezeRate"),
    ]
    interval = f"{COMPOSE_SCRAPE_S}s"
    groups = []
    for alertname, product_type, metric in cases:
        labels = {"job": "agora-exporter", "instance": "exporter:10042"}
        labels |= {"appid": DEMO_APPID, "product_type": product_type}
        values = _scraped(traffic, product_type, metric)
        family = REALTIME_METRICS[metric].family(Scope.PROJECT)
        selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
        text = " ".join("_" if v is None else repr(v) for v in values)
        groups.append(
            {
                "interval": interval,
                "input_series": [{"series": f"{family}{{{selector}}}", "values": text}],
                "alert_rule_test": list(
                    _incident_checks(rules[alertname], labels, values, traffic)
                ),
            }
        )
    test_file = directory / "demo_day_test.yml"
    document = {"rule_files": [str(RULES)], "evaluation_interval": interval, "tests": groups}
    test_file.write_text(yaml.safe_dump(document, width=1 << 20))
    return test_file


@pytest.mark.prometheus
def test_every_demo_incident_fires_the_freeze_alerts_five_minutes_after_it_shows(
    tmp_path: Path,
) -> None:
    test_file = _demo_day_rule_test(tmp_path)
    groups = yaml.safe_load(test_file.read_text())["tests"]
    firing = [
        check for group in groups for check in group["alert_rule_test"] if check["exp_alerts"]
    ]
    # One project-wide incident every 45 minutes, each seen by three series.
    assert len(firing) >= 3 * 6
    done = _promtool("test", "rules", str(test_file))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
