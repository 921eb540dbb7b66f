"""Every real-time API metric and the family it becomes at each scope.

Scopes are separate families on purpose: ``sum()`` or ``avg()`` over one
family must never mix a project total with its own channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exporter.agora.limits import Endpoint


class Scope(StrEnum):
    """How much of an app one real-time series covers."""

    PROJECT = "project"
    CHANNEL = "channel"
    USER = "user"


SCOPE_LABELS: dict[Scope, tuple[str, ...]] = {
    Scope.PROJECT: ("appid", "product_type"),
    Scope.CHANNEL: ("appid", "product_type", "cname"),
    Scope.USER: ("appid", "product_type", "cname", "uid"),
}

PRODUCT_TYPES = ("Native", "WebRTC")


@dataclass(frozen=True)
class RealtimeMetric:
    """One real-time API metric and its family per scope (absent: not exposed)."""

    api_name: str
    endpoint: Endpoint
    families: dict[Scope, str]
    meaning: str

    def family(self, scope: Scope) -> str | None:
        return self.families.get(scope)

    def help_text(self, scope: Scope) -> str:
        where = {
            Scope.PROJECT: "whole project",
            Scope.CHANNEL: "one channel",
            Scope.USER: "one user in one channel",
        }[scope]
        return (
            f"{self.meaning} ({where}), from Agora's real-time API field {self.api_name} "
            "for one 20 s window; polled, not live."
        )


def _quality(api_name: str, stem: str, meaning: str) -> RealtimeMetric:
    return RealtimeMetric(
        api_name=api_name,
        endpoint=Endpoint.REALTIME_QUALITY,
        families={
            Scope.PROJECT: f"agora_realtime_{stem}_ratio",
            Scope.CHANNEL: f"agora_realtime_channel_{stem}_ratio",
            Scope.USER: f"agora_realtime_user_{stem}_ratio",
        },
        meaning=meaning,
    )


REALTIME_METRICS: dict[str, RealtimeMetric] = {
    m.api_name: m
    for m in (
        RealtimeMetric(
            api_name="userCount",
            endpoint=Endpoint.REALTIME_USAGE,
            families={
                Scope.PROJECT: "agora_realtime_users",
                Scope.CHANNEL: "agora_realtime_channel_users",
            },
            meaning="Users in channels",
        ),
        RealtimeMetric(
            api_name="channelCount",
            endpoint=Endpoint.REALTIME_USAGE,
            families={Scope.PROJECT: "agora_realtime_channels"},
            meaning="Channels in use",
        ),
        _quality("joinSuccessRate", "join_success", "Share of join attempts that succeeded"),
        _quality(
            "joinSuccessIn5sRate",
            "join_success_in_5s",
            "Share of join attempts that succeeded within 5 s",
        ),
        _quality(
            "audioFreezeRate",
            "audio_freeze",
            "Share of audio time frozen (stalls over 200 ms)",
        ),
        _quality(
            "videoFreezeRate",
            "video_freeze",
            "Share of video time frozen (stalls over 600 ms)",
        ),
        _quality(
            "networkDelay",
            "network_delay",
            "Share of audio and video time with end-to-end delay over 400 ms",
        ),
    )
}

USAGE_METRICS = tuple(
    name for name, m in REALTIME_METRICS.items() if m.endpoint is Endpoint.REALTIME_USAGE
)
QUALITY_METRICS = tuple(
    name for name, m in REALTIME_METRICS.items() if m.endpoint is Endpoint.REALTIME_QUALITY
)
