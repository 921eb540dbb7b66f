"""The Grafana dashboards, their provisioning and ConfigMaps: generated, and conventional.

A real Prometheus runs every panel query in tests/system/test_prometheus_e2e.py; these
tests read the JSON only.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog import calls as calls_catalog
from exporter.catalog.insight import INSIGHT_METRICS
from exporter.catalog.own import (
    API_DURATION,
    API_REQUESTS,
    BUILD_INFO,
    NEWEST_WINDOW_TIMESTAMP,
    POLL_INTERVAL,
    QUOTA_LIMIT,
    QUOTA_USED,
    SELF_METRICS,
    WINDOWS_MISSED,
)
from exporter.catalog.realtime import REALTIME_METRICS, Scope
from tools.dashboards import DASHBOARD_CONFIGMAPS_FILE, dashboards, render_all
from tools.dashboards.calls import DELAY_S
from tools.dashboards.config import DEFAULT

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {
    path.stem: json.loads(path.read_text()) for path in (ROOT / "grafana/dashboards").glob("*.json")
}
PROVISIONING = ROOT / "grafana" / "provisioning"
BANDS = DEFAULT.bands()
EXPORTER = (DEFAULT.job_selector, 'job=~"$job"', 'instance=~"$instance"')
METRIC = re.compile(r"\b(agora_[a-z0-9_]+|up)\b")
WIDTH = 24


def _all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    return [inner for panel in board["panels"] for inner in [panel, *panel.get("panels", [])]]


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in _all_panels(board) if panel["type"] not in ("row", "text")]


def _calls_row(board: dict[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [
        p for p in board["panels"] if p["type"] == "row" and p["title"].startswith("Calls")
    ]
    (found,) = rows
    return found


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [target["expr"] for target in panel["targets"]]


def _catalog_names() -> set[str]:
    names = {"up", API_DURATION.name + "_bucket"}
    for metric in REALTIME_METRICS.values():
        names.update(metric.families.values())
    names.update(metric.daily_family for metric in INSIGHT_METRICS.values())
    names.update(metric.name for metric in SELF_METRICS)
    names.update(metric.family for metric in calls_catalog.CALL_METRICS.values())
    names.update(metric.name for metric in calls_catalog.CALL_SELF_METRICS)
    return names


def _variable(board: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [v for v in board["templating"]["list"] if v["name"] == name]
    return dict(found)


def test_committed_dashboards_and_prometheus_rule_are_what_make_dashboards_renders() -> None:
    for relative, text in render_all().items():
        path = ROOT / relative
        assert path.exists(), f"{relative} is missing: run `make dashboards`"
        assert path.read_text() == text, f"{relative} is out of date: run `make dashboards`"
    assert set(BOARDS) == {f"{uid}" for uid in dashboards()}


def test_renaming_a_family_in_the_catalog_renames_it_in_every_dashboard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metric = REALTIME_METRICS["videoFreezeRate"]
    families = {**metric.families, Scope.PROJECT: "agora_realtime_renamed_ratio"}
    renamed = dataclasses.replace(metric, families=families)
    monkeypatch.setitem(REALTIME_METRICS, "videoFreezeRate", renamed)
    text = json.dumps(dashboards())
    assert "agora_realtime_renamed_ratio" in text
    assert "agora_realtime_video_freeze_ratio" not in text


def test_renaming_a_call_family_in_the_calls_catalog_renames_it_in_the_drill_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpu = calls_catalog.CALL_METRICS[20001]
    renamed = dataclasses.replace(cpu, family="agora_call_renamed_cpu_ratio")
    monkeypatch.setitem(calls_catalog.CALL_METRICS, 20001, renamed)
    stamp = dataclasses.replace(calls_catalog.SAMPLE_TIMESTAMP, name="agora_call_renamed_ts")
    monkeypatch.setattr(calls_catalog, "SAMPLE_TIMESTAMP", stamp)
    text = json.dumps(dashboards()["agora-channel"])
    assert "agora_call_renamed_cpu_ratio" in text
    assert "agora_call_renamed_ts" in text
    assert cpu.family not in text
    assert "agora_call_sample_timestamp_seconds" not in text


@pytest.mark.parametrize("uid", sorted(BOARDS), ids=lambda uid: f"{uid} is self-contained")
def test_dashboard_has_a_fixed_uid_and_reads_prometheus_through_a_datasource_variable(
    uid: str,
) -> None:
    board = BOARDS[uid]
    assert board["uid"] == uid
    assert "__inputs" not in board
    assert "${DS_" not in json.dumps(board)
    datasource = _variable(board, "datasource")
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    for panel in _panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("uid", sorted(BOARDS), ids=lambda uid: f"{uid} filters by label_values")
def test_dashboard_filters_by_app_and_product_type_from_label_values(uid: str) -> None:
    board = BOARDS[uid]
    wanted = ["job", "instance", "appid", "product_type"]
    wanted += ["cname", "uid"] if uid == "agora-channel" else []
    for name in wanted:
        variable = _variable(board, name)
        assert variable["type"] == "query"
        assert re.fullmatch(rf"label_values\(.+, {name}\)", variable["definition"])
        assert variable["datasource"]["uid"] == "${datasource}"
        assert variable["multi"]
        assert variable["includeAll"]
    used = " ".join(expr for panel in _panels(board) for expr in _exprs(panel))
    assert all(f"${name}" in used for name in wanted)


@pytest.mark.parametrize("uid", sorted(BOARDS), ids=lambda uid: f"{uid} selects its exporters")
def test_every_query_selects_the_exporters_job_and_the_chosen_job_and_instance(uid: str) -> None:
    """Two exporters (two Agora accounts) apart, and "All" never reaching other jobs."""
    board = BOARDS[uid]
    queries = [expr for panel in _panels(board) for expr in _exprs(panel)]
    definitions = {
        v["name"]: v["definition"] for v in board["templating"]["list"] if "definition" in v
    }
    assert definitions["job"].startswith(f"label_values({BUILD_INFO.name}{{{EXPORTER[0]}}}")
    assert f'{EXPORTER[0]}, job=~"$job"}}' in definitions["instance"]
    queries += [q for name, q in definitions.items() if name not in ("job", "instance")]
    checked = 0
    for query in queries:
        query = re.sub(r'__name__=~"[^"]*"', '__name__=~""', query)  # names in a regex
        for found in re.finditer(r"(?<![:\w])(agora_[a-z0-9_]+|up)(?![:\w])|\{__name__", query):
            rest = query[found.end() :]
            if found[0] != "{__name__":
                assert rest.startswith("{"), f"{found[0]} without a selector in {query}"
            selector = rest.split("}", 1)[0]
            assert all(part in selector for part in EXPORTER), query
            checked += 1
    assert checked >= len(queries)


@pytest.mark.parametrize("uid", sorted(BOARDS), ids=lambda uid: f"{uid} explains its panels")
def test_every_panel_has_a_description_and_a_unit(uid: str) -> None:
    for panel in _panels(BOARDS[uid]):
        assert len(panel["description"]) > 20, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]


@pytest.mark.parametrize("uid", sorted(BOARDS), ids=lambda uid: f"{uid} notes the replay lag")
def test_every_dashboard_notes_the_replay_lag(uid: str) -> None:
    notes = [p for p in BOARDS[uid]["panels"] if p["type"] == "text"]
    assert any("replay" in note["options"]["content"].lower() for note in notes)


def test_every_quality_panel_draws_its_metrics_healthy_band() -> None:
    by_family = {}
    for name, band in BANDS.items():
        for family in REALTIME_METRICS[name].families.values():
            by_family[family] = band
        by_family[INSIGHT_METRICS[name].daily_family] = band
    checked = 0
    for board in BOARDS.values():
        for panel in _panels(board):
            for index, expr in enumerate(_exprs(panel)):
                bands = {by_family[name] for name in METRIC.findall(expr) if name in by_family}
                if not bands:
                    continue
                (band,) = bands
                assert _steps(panel, index) == band.steps(), panel["title"]
                assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
                checked += 1
    assert checked >= 3 * len(BANDS)


def _steps(panel: dict[str, Any], index: int) -> list[dict[str, Any]]:
    """The threshold steps a target's values are coloured with (table columns override)."""
    overrides = panel["fieldConfig"]["overrides"]
    if panel["type"] == "table":
        properties = overrides[index]["properties"]
        (thresholds,) = [p["value"] for p in properties if p["id"] == "thresholds"]
        steps: list[dict[str, Any]] = thresholds["steps"]
        return steps
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return steps


def test_every_metric_a_panel_or_variable_reads_is_in_the_catalog() -> None:
    known = _catalog_names()
    for board in BOARDS.values():
        queries = [v.get("definition", "") for v in board["templating"]["list"]]
        queries += [expr for panel in _panels(board) for expr in _exprs(panel)]
        for query in queries:
            assert set(METRIC.findall(query)) <= known, query


def test_the_dashboards_cover_what_the_issue_asks_for() -> None:
    def reads(uid: str) -> set[str]:
        return {n for p in _panels(BOARDS[uid]) for e in _exprs(p) for n in METRIC.findall(e)}

    overview = reads("agora-overview")
    assert {"agora_realtime_users", "agora_realtime_channels", "agora_daily_users"} <= overview
    assert {REALTIME_METRICS[name].family(Scope.PROJECT) for name in BANDS} <= overview
    assert {INSIGHT_METRICS[name].daily_family for name in BANDS} <= overview
    channel = reads("agora-channel")
    assert {REALTIME_METRICS[n].family(Scope.CHANNEL) for n in BANDS} <= channel
    assert {REALTIME_METRICS[n].family(Scope.USER) for n in BANDS} <= channel
    health = reads("agora-exporter-health")
    self_metrics = {
        API_REQUESTS.name,
        QUOTA_USED.name,
        QUOTA_LIMIT.name,
        POLL_INTERVAL.name,
        NEWEST_WINDOW_TIMESTAMP.name,
        WINDOWS_MISSED.name,
    }
    assert self_metrics <= health
    worst = [p for p in _panels(BOARDS["agora-channel"]) if p["title"].startswith("Worst users")]
    assert len(worst) == len(BANDS)


@pytest.mark.parametrize("uid", sorted(BOARDS), ids=lambda uid: f"{uid} tiles the grid")
def test_panels_tile_the_grid_without_overlapping(uid: str) -> None:
    ids = [panel["id"] for panel in _all_panels(BOARDS[uid])]
    assert len(ids) == len(set(ids))
    _assert_tiled(BOARDS[uid]["panels"])
    for panel in BOARDS[uid]["panels"]:
        if panel["type"] == "row" and panel["collapsed"]:
            # Opened, a collapsed row shows its panels right below itself.
            below = panel["gridPos"]["y"] + 1
            assert min(inner["gridPos"]["y"] for inner in panel["panels"]) == below
            _assert_tiled(panel["panels"])


def _assert_tiled(panels: list[dict[str, Any]]) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= WIDTH, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


def test_the_drill_down_has_a_collapsed_calls_row_with_what_the_issue_asks_for() -> None:
    board = BOARDS["agora-channel"]
    calls_row = _calls_row(board)
    assert calls_row["collapsed"] is True
    assert board["panels"][-1] is calls_row
    panels = [p for p in calls_row["panels"] if p["type"] != "text"]
    exprs = {e for p in panels for e in _exprs(p)}
    read = {name for expr in exprs for name in METRIC.findall(expr)}
    mids = (20001, 20002, 20003, 20024, 20006, 20004, 20009, 20010, 20005, 20011, 20016, 20018)
    wanted = {calls_catalog.CALL_METRICS[mid].family for mid in (*mids, 20022)}
    wanted |= {one.name for one in calls_catalog.CALL_SELF_METRICS[:4]}
    assert read == wanted
    assert f"time() - {calls_catalog.SAMPLE_TIMESTAMP.name}" in " ".join(exprs)
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in panels}
    assert units["CPU per user"] == units["End-to-end packet loss per user"] == "percentunit"
    assert units["Upstream bitrate per user"] == units["Downstream bitrate per user"] == "Bps"
    assert units["Render freeze per user"] == units["Data age per user"] == "s"
    assert [p["type"] for p in panels[:3]] == ["stat"] * 3
    for panel in panels[3:]:
        assert f"at least {DELAY_S} s" in panel["description"], panel["title"]
        assert all('uid=~"$uid"' in expr for expr in _exprs(panel)), panel["title"]
    for panel in panels[:3]:
        assert "cycle" in panel["description"], panel["title"]


def test_the_call_user_variable_lists_the_users_of_the_selected_channels_calls() -> None:
    uid = _variable(BOARDS["agora-channel"], "uid")
    stamp = calls_catalog.SAMPLE_TIMESTAMP.name
    exporter = ", ".join(EXPORTER)
    wanted = f'label_values({stamp}{{{exporter}, appid=~"$appid", cname=~"$cname"}}, uid)'
    assert uid["definition"] == wanted
    assert stamp in _variable(BOARDS["agora-channel"], "cname")["definition"]


def test_provisioning_files_use_api_version_1_and_find_the_dashboards() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "agora.yml").read_text())
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "agora.yml").read_text())
    assert sources["apiVersion"] == 1
    assert providers["apiVersion"] == 1
    (prometheus,) = [s for s in sources["datasources"] if s["type"] == "prometheus"]
    assert prometheus["isDefault"] is True
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert prometheus["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]


# -- Kubernetes ConfigMaps for Grafana's dashboard sidecar ------------------------------------


def test_each_dashboard_ships_as_a_configmap_the_grafana_sidecar_loads() -> None:
    documents = list(yaml.safe_load_all((ROOT / DASHBOARD_CONFIGMAPS_FILE).read_text()))
    assert {document["kind"] for document in documents} == {"ConfigMap"}
    shipped = {}
    for document in documents:
        metadata = document["metadata"]
        # kube-prometheus-stack: sidecar.dashboards.label grafana_dashboard, labelValue "1".
        assert metadata["labels"]["grafana_dashboard"] == "1"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", metadata["name"])
        assert len(metadata["name"]) <= 63
        ((key, text),) = document["data"].items()
        shipped[key] = text
        # Client-side kubectl apply keeps a copy in a 256 KiB annotation.
        assert len(text.encode()) < 200_000, key
    assert len({d["metadata"]["name"] for d in documents}) == len(documents)
    files = {path.name: path.read_text() for path in (ROOT / "grafana/dashboards").glob("*.json")}
    assert shipped == files
