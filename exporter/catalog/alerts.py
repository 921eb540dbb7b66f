"""The shipped alert rules that read real-time families: name, family and ``for``.

``tools/dashboards/alerts.py`` builds ``deploy/prometheus/alerts.yml`` from this
table (adding thresholds and words), and ``agora-exporter plan`` prints each
rule's latency from it: the replay lag of the series the rule reads plus its
``for``. One table, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.catalog.realtime import REALTIME_METRICS, Scope

QUALITY_FOR = "5m"
"""How long a quality rate stays beyond its band before its alert fires."""

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_s(duration: str) -> int:
    """A Prometheus duration (``5m``, ``1h30m``) in seconds."""
    parts = re.findall(r"(\d+)([smhdwy])", duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"{duration!r} is not a Prometheus duration")
    return sum(int(number) * _SECONDS[unit] for number, unit in parts)


@dataclass(frozen=True)
class ShippedAlert:
    """One alert of ``deploy/prometheus/alerts.yml`` on a real-time family."""

    name: str
    metric: str
    """The API metric whose family the rule reads."""
    scope: Scope
    duration: str = QUALITY_FOR
    """The rule's ``for``."""

    @property
    def family(self) -> str:
        family = REALTIME_METRICS[self.metric].family(self.scope)
        assert family is not None, f"{self.metric} has no {self.scope} family"
        return family

    @property
    def for_s(self) -> int:
        return duration_s(self.duration)


_NAMES = (
    ("audioFreezeRate", "AudioFreezeRateHigh"),
    ("videoFreezeRate", "VideoFreezeRateHigh"),
    ("joinSuccessIn5sRate", "JoinSuccessIn5sLow"),
    ("networkDelay", "NetworkDelayHigh"),
)
_PREFIX = {Scope.PROJECT: "Agora", Scope.CHANNEL: "AgoraChannel"}

QUALITY_ALERTS: tuple[ShippedAlert, ...] = tuple(
    ShippedAlert(_PREFIX[scope] + name, metric, scope)
    for scope in (Scope.PROJECT, Scope.CHANNEL)
    for metric, name in _NAMES
)
"""The quality alerts, project scope first, in the rule file's order."""
