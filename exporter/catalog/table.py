"""The metrics tables of the README and docs/metrics.md, generated from the catalog so they
cannot drift (``make docs``): the README lists the API's metrics, the docs page every family."""

from __future__ import annotations

from exporter.catalog.calls import call_metrics_table_markdown
from exporter.catalog.insight import INSIGHT_METRICS
from exporter.catalog.own import SELF_METRICS
from exporter.catalog.realtime import REALTIME_METRICS, Scope


def api_metrics_markdown() -> str:
    """The real-time and Data Insights families: the README's table."""
    lines = [
        "| API metric | project scope | channel scope | user scope |",
        "|---|---|---|---|",
    ]
    for metric in REALTIME_METRICS.values():
        cells = [f"`{metric.family(s)}`" if metric.family(s) else "-" for s in Scope]
        lines.append(f"| `{metric.api_name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| Data Insights metric | daily family | hourly family (`hourly_quality`) | labels |",
        "|---|---|---|---|",
    ]
    for insight in INSIGHT_METRICS.values():
        hourly = f"`{insight.hourly_family}`" if insight.hourly_family else "-"
        labels = ", ".join(f"`{label}`" for label in insight.labels)
        names = " / ".join(f"`{name}`" for name in (insight.api_name, *insight.alt_names))
        lines.append(f"| {names} | `{insight.daily_family}` | {hourly} | {labels} |")
    return "\n".join(lines) + "\n"


def metrics_table_markdown() -> str:
    """Every family: the API's, the exporter's own and the Call Inspector's (docs/metrics.md)."""
    lines = ["", "| family | type | labels | meaning |", "|---|---|---|---|"]
    for self_metric in SELF_METRICS:
        labels = ", ".join(f"`{label}`" for label in self_metric.labels) or "-"
        row = (self_metric.name, self_metric.kind, labels, self_metric.help)
        lines.append("| `{}` | {} | {} | {} |".format(*row))
    own = "\n".join(lines) + "\n\n"
    return api_metrics_markdown() + own + call_metrics_table_markdown()
