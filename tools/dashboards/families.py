"""The catalog families the dashboards read, the filters every query shares, the notes.

Names come from :mod:`exporter.catalog` only: a family renamed there is renamed
in every dashboard at the next ``make dashboards``, and a metric added there
without a band in :meth:`tools.dashboards.config.Config.bands` stops the build.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.catalog.insight import INSIGHT_METRICS
from exporter.catalog.own import BUILD_INFO, UP, WINDOW_TIMESTAMP
from exporter.catalog.realtime import QUALITY_METRICS, REALTIME_METRICS, Scope
from tools.dashboards.config import DEFAULT, Config
from tools.dashboards.grafana import Band, Json, query_variable

TITLES: dict[str, str] = {
    "joinSuccessRate": "Join success",
    "joinSuccessIn5sRate": "Join success within 5 s",
    "audioFreezeRate": "Audio freeze rate",
    "videoFreezeRate": "Video freeze rate",
    "networkDelay": "Network delay rate",
}

REPLAY_NOTE = (
    "**Replayed, not live.** The exporter polls Agora every few minutes and replays "
    "every fetched 20 s window in order (exposition mode `replay`), so real-time graphs "
    "run one poll interval plus the API's delay behind the clock: the *Replay lag* "
    "panel says by how much. A gap is a window Agora did not return, never a zero. "
    "Daily panels show the latest day Agora has published (6-12 h after it ends)."
)


def realtime(api_name: str, scope: Scope = Scope.PROJECT) -> str:
    """The family of a real-time API metric at one scope."""
    family = REALTIME_METRICS[api_name].family(scope)
    if family is None:
        raise KeyError(f"{api_name} has no {scope} family in the catalog")
    return family


def daily(api_name: str) -> str:
    """The daily family of a Data Insights metric."""
    return INSIGHT_METRICS[api_name].daily_family


def quality_metrics() -> tuple[str, ...]:
    """The real-time quality metrics, each with its band (KeyError if one is missing)."""
    bands = DEFAULT.bands()
    for name in QUALITY_METRICS:
        if name not in bands or name not in TITLES:
            raise KeyError(f"add a healthy band to Config.bands and a title to {__name__}: {name}")
    return QUALITY_METRICS


def quality_description(api_name: str, scope: Scope, band: Band) -> str:
    """A panel description: what the rate means, its band, where it comes from."""
    metric = REALTIME_METRICS[api_name]
    return (
        f"{metric.help_text(scope)} Band: {band.describe()} "
        "(Agora's console and integrations; its alert fires beyond it)."
    )


@dataclass(frozen=True)
class Filters:
    """The label filters of one dashboard's queries, from the generator's config.

    Every series selector carries the job selector (so "All" never reaches other
    jobs' targets) and the ``job`` and ``instance`` variables (so two exporters,
    two Agora accounts, can be told apart), then the dashboard's own variables.
    """

    config: Config

    @property
    def bands(self) -> dict[str, Band]:
        return self.config.bands()

    @property
    def exporter(self) -> str:
        return f'{self.config.job_selector}, job=~"$job", instance=~"$instance"'

    @property
    def app(self) -> str:
        return f'{self.exporter}, appid=~"$appid"'

    @property
    def series(self) -> str:
        return f'{self.app}, product_type=~"$product_type"'

    @property
    def channel(self) -> str:
        return f'{self.series}, cname=~"$cname"'

    @property
    def call(self) -> str:
        return f'{self.app}, cname=~"$cname", uid=~"$uid"'


def exporter_variables(filters: Filters) -> list[Json]:
    """``job`` and ``instance``: the exporters the job selector finds, one per Agora account."""
    build = BUILD_INFO.name
    job = filters.config.job_selector
    return [
        query_variable(
            "job", "Job", f"{build}{{{job}}}", "job", "Prometheus jobs scraping agora-exporter."
        ),
        query_variable(
            "instance",
            "Instance",
            f'{build}{{{job}, job=~"$job"}}',
            "instance",
            "agora-exporter instances (one per Agora customer ID).",
        ),
    ]


def app_variables(filters: Filters) -> list[Json]:
    """``appid`` and ``product_type`` of the chosen exporters, shared by every dashboard."""
    return [
        query_variable(
            "appid",
            "App ID",
            f"{UP.name}{{{filters.exporter}}}",
            "appid",
            "Agora App IDs the exporter polls.",
        ),
        query_variable(
            "product_type",
            "Product type",
            f"{WINDOW_TIMESTAMP.name}{{{filters.app}}}",
            "product_type",
            "Native (mobile and desktop SDKs) or WebRTC (Web SDK).",
        ),
    ]
