"""Every Data Insights metric and its daily (and hourly) family."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exporter.agora.limits import Endpoint
from exporter.catalog.realtime import REALTIME_METRICS


class Granularity(StrEnum):
    """The Data Insights ``aggregateGranularity`` values the exporter asks for."""

    DAY = "1d"
    HOUR = "1h"

    @property
    def seconds(self) -> int:
        return 86400 if self is Granularity.DAY else 3600


@dataclass(frozen=True)
class InsightMetric:
    """One Data Insights metric and the families it becomes.

    ``api_name`` is the reference's spelling (the exporter sends it first and
    uses it as the ``metric`` label whatever the API accepted); ``alt_names``
    are other spellings Agora's docs use. ``scale`` turns the API's unit into
    the family's (60: minutes to seconds). Usage metrics are per app, quality
    metrics per app and product type; only quality metrics have an hourly family.
    """

    api_name: str
    endpoint: Endpoint
    daily_family: str
    hourly_family: str | None
    meaning: str
    scale: float = 1.0
    alt_names: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        if self.endpoint is Endpoint.INSIGHT_USAGE:
            return ("appid",)
        return ("appid", "product_type")

    def family(self, granularity: Granularity) -> str | None:
        return self.daily_family if granularity is Granularity.DAY else self.hourly_family

    def help_text(self, granularity: Granularity) -> str:
        period = "day" if granularity is Granularity.DAY else "hour"
        unit = " (the API reports minutes; converted to seconds)" if self.scale != 1.0 else ""
        return (
            f"{self.meaning} in the latest {period} Agora has published, from the Data "
            f"Insights field {self.api_name}{unit}; polled, not live."
        )


def _insight_usage(
    api_name: str, family: str, meaning: str, *, scale: float = 1.0, alt: tuple[str, ...] = ()
) -> InsightMetric:
    return InsightMetric(api_name, Endpoint.INSIGHT_USAGE, family, None, meaning, scale, alt)


def _insight_quality(api_name: str, stem: str) -> InsightMetric:
    meaning = REALTIME_METRICS[api_name].meaning
    return InsightMetric(
        api_name,
        Endpoint.INSIGHT_QUALITY,
        f"agora_daily_{stem}_ratio",
        f"agora_hourly_{stem}_ratio",
        meaning,
    )


INSIGHT_METRICS: dict[str, InsightMetric] = {
    m.api_name: m
    for m in (
        _insight_usage("userCount", "agora_daily_users", "Users who joined channels"),
        _insight_usage("sessionCount", "agora_daily_sessions", "Channel joins (sessions)"),
        _insight_usage("channelCount", "agora_daily_channels", "Channels used"),
        _insight_usage(
            "peakCurrentUsers",
            "agora_daily_peak_concurrent_users",
            "Peak concurrent users",
            alt=("peakConcurrentUsers",),
        ),
        _insight_usage(
            "peakCurrentChannels",
            "agora_daily_peak_concurrent_channels",
            "Peak concurrent channels",
            alt=("peakConcurrentChannels",),
        ),
        _insight_usage(
            "totalDuration",
            "agora_daily_duration_seconds",
            "Total call time summed over users",
            scale=60.0,
        ),
        _insight_usage(
            "totalVideoDuration",
            "agora_daily_video_duration_seconds",
            "Video call time summed over users",
            scale=60.0,
        ),
        _insight_usage(
            "totalAudioDuration",
            "agora_daily_audio_duration_seconds",
            "Audio-only call time summed over users",
            scale=60.0,
        ),
        _insight_quality("joinSuccessRate", "join_success"),
        _insight_quality("joinSuccessIn5sRate", "join_success_in_5s"),
        _insight_quality("audioFreezeRate", "audio_freeze"),
        _insight_quality("videoFreezeRate", "video_freeze"),
        _insight_quality("networkDelay", "network_delay"),
    )
}

INSIGHT_USAGE_METRICS = tuple(
    name for name, m in INSIGHT_METRICS.items() if m.endpoint is Endpoint.INSIGHT_USAGE
)
INSIGHT_QUALITY_METRICS = tuple(
    name for name, m in INSIGHT_METRICS.items() if m.endpoint is Endpoint.INSIGHT_QUALITY
)
