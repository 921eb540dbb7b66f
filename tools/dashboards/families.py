"""The catalog families the dashboards read, their healthy bands and the shared notes.

Names come from :mod:`exporter.catalog.metrics` only: a family renamed there is renamed
in every dashboard at the next ``make dashboards``, and a metric added there
without a band here stops the build.
"""

from __future__ import annotations

from exporter.catalog import metrics as catalog
from exporter.catalog.metrics import Scope
from tools.dashboards.grafana import Band, Json, query_variable

# Agora's console and its Datadog integration mark these as healthy (FACTS.md);
# join success has no published band of its own: it is at least the 5 s rate.
BANDS: dict[str, Band] = {
    "joinSuccessRate": Band(0.95, upper=False),
    "joinSuccessIn5sRate": Band(0.95, upper=False),
    "audioFreezeRate": Band(0.03, upper=True),
    "videoFreezeRate": Band(0.03, upper=True),
    "networkDelay": Band(0.05, upper=True),
}

TITLES: dict[str, str] = {
    "joinSuccessRate": "Join success",
    "joinSuccessIn5sRate": "Join success within 5 s",
    "audioFreezeRate": "Audio freeze rate",
    "videoFreezeRate": "Video freeze rate",
    "networkDelay": "Network delay rate",
}

QUOTA_ALERT_RATIO = 0.95
"""AgoraQuotaNearlyExhausted's threshold (deploy/prometheus/alerts.yml)."""

REPLAY_NOTE = (
    "**Replayed, not live.** The exporter polls Agora every few minutes and replays "
    "every fetched 20 s window in order (exposition mode `replay`), so real-time graphs "
    "run one poll interval plus the API's delay behind the clock: the *Replay lag* "
    "panel says by how much. A gap is a window Agora did not return, never a zero. "
    "Daily panels show the latest day Agora has published (6-12 h after it ends)."
)


def realtime(api_name: str, scope: Scope = Scope.PROJECT) -> str:
    """The family of a real-time API metric at one scope."""
    family = catalog.REALTIME_METRICS[api_name].family(scope)
    if family is None:
        raise KeyError(f"{api_name} has no {scope} family in the catalog")
    return family


def daily(api_name: str) -> str:
    """The daily family of a Data Insights metric."""
    return catalog.INSIGHT_METRICS[api_name].daily_family


def quality_metrics() -> tuple[str, ...]:
    """The real-time quality metrics, each with its band (KeyError if one is missing)."""
    for name in catalog.QUALITY_METRICS:
        if name not in BANDS or name not in TITLES:
            raise KeyError(f"add a healthy band and a title for {name} to {__name__}")
    return catalog.QUALITY_METRICS


def quality_description(api_name: str, scope: Scope) -> str:
    """A panel description: what the rate means, its band, where it comes from."""
    metric = catalog.REALTIME_METRICS[api_name]
    return (
        f"{metric.help_text(scope)} Band: {BANDS[api_name].describe()} "
        "(Agora's console and integrations)."
    )


def app_variables(within: str = "") -> list[Json]:
    """``appid`` and ``product_type``, shared by every Agora dashboard.

    ``within`` narrows both to some exporters (``job=~"$job"``) on the health dashboard.
    """
    scope = f"{within}, " if within else ""
    return [
        query_variable(
            "appid",
            "App ID",
            f"{catalog.UP.name}{{{within}}}" if within else catalog.UP.name,
            "appid",
            "Agora App IDs the exporter polls.",
        ),
        query_variable(
            "product_type",
            "Product type",
            f'{catalog.WINDOW_TIMESTAMP.name}{{{scope}appid=~"$appid"}}',
            "product_type",
            "Native (mobile and desktop SDKs) or WebRTC (Web SDK).",
        ),
    ]
