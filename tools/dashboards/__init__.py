"""The bundled Grafana dashboards and alerting rules, generated mixin style.

``make dashboards`` (``python -m tools.dashboards``) writes, from
:mod:`exporter.catalog` and one :class:`~tools.dashboards.config.Config` (job
selector, runbook URL base, thresholds): ``grafana/dashboards/*.json``, the same
dashboards as ConfigMaps for Grafana's sidecar, ``deploy/prometheus/alerts.yml``
and the same rules as a PrometheusRule. ``--check`` and the tests fail when a
committed file differs from what this package renders.
Modules: ``config``, ``grafana`` (JSON primitives), ``families`` (catalog names,
filters, notes), ``overview``, ``channels`` and ``health`` (one dashboard each),
``calls`` (the drill-down's Call Inspector row), ``alerts`` (the rule groups),
``prometheusrule`` and ``configmaps`` (the Kubernetes wrappings), ``yamltext``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tools.dashboards import alerts, channels, health, overview
from tools.dashboards.config import DEFAULT, Config
from tools.dashboards.configmaps import dashboard_configmaps
from tools.dashboards.grafana import Json
from tools.dashboards.prometheusrule import prometheus_rule
from tools.dashboards.yamltext import dump

DASHBOARD_DIR = Path("grafana/dashboards")
ALERTS_FILE = Path("deploy/prometheus/alerts.yml")
PROMETHEUS_RULE_FILE = Path("deploy/kubernetes/prometheusrule.yaml")
DASHBOARD_CONFIGMAPS_FILE = Path("deploy/kubernetes/grafana-dashboards.yaml")

BUILDERS: dict[str, Callable[[Config], Json]] = {
    overview.UID: overview.build,
    channels.UID: channels.build,
    health.UID: health.build,
}


def dashboards(config: Config = DEFAULT) -> dict[str, Json]:
    """Every dashboard by uid."""
    return {uid: build(config) for uid, build in BUILDERS.items()}


def render_all(config: Config = DEFAULT) -> dict[Path, str]:
    """Every generated file (path relative to the repository root) and its text."""
    texts = {uid: json.dumps(board, indent=2) + "\n" for uid, board in dashboards(config).items()}
    files = {DASHBOARD_DIR / f"{uid}.json": text for uid, text in texts.items()}
    groups = alerts.groups(config)
    files[ALERTS_FILE] = alerts.header(config) + dump({"groups": groups})
    files[PROMETHEUS_RULE_FILE] = prometheus_rule(groups)
    files[DASHBOARD_CONFIGMAPS_FILE] = dashboard_configmaps(texts)
    return files


__all__ = [
    "ALERTS_FILE",
    "DASHBOARD_CONFIGMAPS_FILE",
    "DASHBOARD_DIR",
    "PROMETHEUS_RULE_FILE",
    "Config",
    "dashboards",
    "render_all",
]
