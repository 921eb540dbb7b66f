"""The generator's settings, mixin style: one object the alerts and the dashboards both read.

``Config()`` renders the committed files. Deployments that scrape the exporter
under another job, or publish the runbook somewhere, generate their own copies
(``python -m tools.dashboards --job-selector ... --runbook-url-base ... --root DIR``).

The thresholds are Agora's healthy bands, and a band includes its limit: a
freeze rate of exactly 3 % is healthy. Alerts fire strictly beyond the limit
(:meth:`tools.dashboards.grafana.Band.comparison`) and the dashboards colour
red strictly beyond it (:meth:`tools.dashboards.grafana.Band.steps`), so a
value is red on a dashboard exactly when its alert's condition holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.catalog.alerts import QUALITY_FOR
from tools.dashboards.grafana import Band

DEFAULT_JOB_SELECTOR = 'job="agora-exporter"'
DEFAULT_RUNBOOK_URL_BASE = "docs/runbook.md"
"""The runbook's path in the source tree: the project has no published home, so the
committed rules name the file; set ``--runbook-url-base`` to where you publish it."""

_STRING = r'"(?:[^"\\]|\\.)*"'
_MATCHER = rf"\s*[a-zA-Z_]\w*\s*(?:=~|!~|!=|=)\s*{_STRING}\s*"
SELECTOR = re.compile(rf"{_MATCHER}(?:,{_MATCHER})*")
DURATION = re.compile(r"(?:\d+[smhdwy])+")


@dataclass(frozen=True)
class Config:
    """What a deployment may change; every other number is in the rules' text."""

    job_selector: str = DEFAULT_JOB_SELECTOR
    """PromQL label matchers (no braces) that select the exporter's targets."""
    runbook_url_base: str = DEFAULT_RUNBOOK_URL_BASE
    """Where docs/runbook.md is published; each runbook_url is this plus ``#<alert>``."""
    freeze_ratio: float = 0.03
    """Audio and video freeze rates are healthy up to this."""
    join_success_ratio: float = 0.95
    """Join success (within 5 s) is healthy from this."""
    network_delay_ratio: float = 0.05
    """The network delay rate is healthy up to this."""
    channel_min_users: int = 3
    """Channel alerts skip channels with fewer users: their rates swing wildly."""
    quality_for: str = QUALITY_FOR
    """How long a quality rate stays beyond its band before its alert fires."""
    quota_ratio: float = 0.95
    """The share of a daily budget spent in 24 h above which the quota alert fires."""

    def __post_init__(self) -> None:
        if not SELECTOR.fullmatch(self.job_selector):
            raise ValueError(
                f"job_selector {self.job_selector!r} is not a list of PromQL label matchers "
                'such as job="agora-exporter" (no braces)'
            )
        if not self.runbook_url_base or "#" in self.runbook_url_base:
            raise ValueError("runbook_url_base must be a non-empty address without a #fragment")
        if not DURATION.fullmatch(self.quality_for):
            raise ValueError(f"quality_for {self.quality_for!r} is not a Prometheus duration")
        for name in ("freeze_ratio", "join_success_ratio", "network_delay_ratio", "quota_ratio"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must lie between 0 and 1")

    def runbook_url(self, alert: str) -> str:
        """The runbook section of an alert: its heading's anchor in docs/runbook.md."""
        return f"{self.runbook_url_base}#{alert.lower()}"

    def bands(self) -> dict[str, Band]:
        """The healthy band of each real-time quality metric, by API name.

        Agora's console and its Datadog integration mark these as healthy; join
        success has no published band of its own: it is at least the 5 s rate.
        """
        return {
            "joinSuccessRate": Band(self.join_success_ratio, upper=False),
            "joinSuccessIn5sRate": Band(self.join_success_ratio, upper=False),
            "audioFreezeRate": Band(self.freeze_ratio, upper=True),
            "videoFreezeRate": Band(self.freeze_ratio, upper=True),
            "networkDelay": Band(self.network_delay_ratio, upper=True),
        }

    def quota_band(self) -> Band:
        return Band(self.quota_ratio, upper=True)


DEFAULT = Config()
