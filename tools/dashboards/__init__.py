"""The bundled Grafana dashboards and the Kubernetes PrometheusRule, generated.

``make dashboards`` (``python -m tools.dashboards``) writes
``grafana/dashboards/*.json`` from :mod:`exporter.catalog.metrics` and
``deploy/kubernetes/prometheusrule.yaml`` from ``deploy/prometheus/alerts.yml``;
the tests fail when a committed file differs from what this package renders.
Modules: ``grafana`` (JSON primitives), ``families`` (catalog names, healthy
bands, notes), ``overview``, ``channels`` and ``health`` (one dashboard each),
``calls`` (the drill-down's Call Inspector row), ``prometheusrule``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tools.dashboards import channels, health, overview
from tools.dashboards.grafana import Json
from tools.dashboards.prometheusrule import prometheus_rule

DASHBOARD_DIR = Path("grafana/dashboards")
ALERTS_FILE = Path("deploy/prometheus/alerts.yml")
PROMETHEUS_RULE_FILE = Path("deploy/kubernetes/prometheusrule.yaml")

BUILDERS: dict[str, Callable[[], Json]] = {
    overview.UID: overview.build,
    channels.UID: channels.build,
    health.UID: health.build,
}


def dashboards() -> dict[str, Json]:
    """Every dashboard by uid."""
    return {uid: build() for uid, build in BUILDERS.items()}


def render_all(root: Path) -> dict[Path, str]:
    """Every generated file (path relative to ``root``) and its text."""
    files = {
        DASHBOARD_DIR / f"{uid}.json": json.dumps(board, indent=2) + "\n"
        for uid, board in dashboards().items()
    }
    files[PROMETHEUS_RULE_FILE] = prometheus_rule((root / ALERTS_FILE).read_text("utf-8"))
    return files


__all__ = ["ALERTS_FILE", "DASHBOARD_DIR", "PROMETHEUS_RULE_FILE", "dashboards", "render_all"]
