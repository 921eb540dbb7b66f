"""Data Insights: daily and hourly aggregates, published late and recomputed once.

Points: days at 16:00 UTC (midnight UTC+8, as the reference's examples answer),
hours on the hour. A point ``P`` covers ``[P, P + period)`` and is published at
``P + period + delay`` (the plan's insight delay); before that it is omitted.
A day point is recomputed once, one day after publication ("recomputed up to
two days later"): counts grow by 0.5-2 % (late reports), bad shares by 2-6 %.
Hourly points are never recomputed.

The scale follows the app's real-time audience (same profile, same day curve)
but is computed from the curve, not by summing 4,320 windows a day.
"""

from __future__ import annotations

import math

from exporter.simulator.prng import day_curve, unit, units
from exporter.simulator.realtime import QUALITY_METRICS, WEBRTC, RealtimeModel, to_rate

DAY_S = 86400
HOUR_S = 3600
DAY_POINT_OFFSET_S = 16 * HOUR_S
RECOMPUTE_AFTER_S = DAY_S
GRANULARITY_S = {"1d": DAY_S, "1h": HOUR_S}
USAGE_INSIGHT_METRICS = (
    "userCount",
    "sessionCount",
    "channelCount",
    "peakCurrentChannels",
    "peakCurrentUsers",
    "totalDuration",
    "totalVideoDuration",
    "totalAudioDuration",
)
PEAK_SPELLINGS = {
    "peakConcurrentChannels": "peakCurrentChannels",
    "peakConcurrentUsers": "peakCurrentUsers",
}
QUALITY_INSIGHT_METRICS = QUALITY_METRICS


def canonical_metric(metric: str) -> str:
    """The reference's spelling of a metric (``peakConcurrent*`` -> ``peakCurrent*``)."""
    return PEAK_SPELLINGS.get(metric, metric)


def point_times(start: int, end: int, granularity: str) -> list[int]:
    """Every point's ``ts`` in ``[start, end]``, both ends inclusive."""
    step = GRANULARITY_S[granularity]
    offset = DAY_POINT_OFFSET_S if granularity == "1d" else 0
    first = math.ceil((start - offset) / step) * step + offset
    return list(range(first, end + 1, step))


def is_point(ts: int, granularity: str) -> bool:
    """Whether ``ts`` is the start of a point at that granularity."""
    offset = DAY_POINT_OFFSET_S if granularity == "1d" else 0
    return (ts - offset) % GRANULARITY_S[granularity] == 0


class InsightModel:
    """Aggregates per app, metric and point, as visible at a given time."""

    def __init__(self, realtime: RealtimeModel, usage_delay_s: int, quality_delay_s: int) -> None:
        self._realtime = realtime
        self._seed = realtime.seed
        self.usage_delay_s = usage_delay_s
        self.quality_delay_s = quality_delay_s

    def published_at(self, metric: str, ts: int, granularity: str) -> int:
        """When a point becomes visible."""
        is_usage = canonical_metric(metric) in USAGE_INSIGHT_METRICS
        delay = self.usage_delay_s if is_usage else self.quality_delay_s
        return ts + GRANULARITY_S[granularity] + delay

    def recomputed_at(self, metric: str, ts: int, granularity: str) -> int | None:
        """When a point's value changes (None: never, for hourly points)."""
        if granularity != "1d":
            return None
        return self.published_at(metric, ts, granularity) + RECOMPUTE_AFTER_S

    def value_at(
        self,
        appid: str,
        metric: str,
        ts: int,
        granularity: str,
        product_type: str | None,
        now: float,
    ) -> float | int | None:
        """The value served for a point at time ``now``; None if not (yet) there."""
        metric = canonical_metric(metric)
        if not is_point(ts, granularity) or now < self.published_at(metric, ts, granularity):
            return None
        recompute = self.recomputed_at(metric, ts, granularity)
        late = recompute is not None and now >= recompute
        if metric in USAGE_INSIGHT_METRICS:
            first = self._usage(appid, metric, ts, granularity, 1.0)
            if not late:
                return first
            # One growth per day for all usage metrics, so durations still add up.
            growth = 1.005 + 0.015 * unit(self._seed, appid, "recompute-usage", ts)
            return max(first + 1, self._usage(appid, metric, ts, granularity, growth))
        if metric not in QUALITY_INSIGHT_METRICS:
            raise ValueError(f"unknown insight metric {metric!r}")
        if product_type is None:
            raise ValueError("quality insight metrics need a product type")
        growth = 1.02 + 0.04 * unit(self._seed, appid, "recompute", metric, ts) if late else 1.0
        return self._quality(appid, metric, ts, granularity, product_type, growth)

    def _usage(self, appid: str, metric: str, ts: int, granularity: str, growth: float) -> int:
        profile = self._realtime.profile(appid)
        period = GRANULARITY_S[granularity]
        audience = profile.native_peak * (1 + profile.webrtc_share)
        audience += 0.5 * sum(c.size for c in profile.channels)
        samples = 24 if granularity == "1d" else 4
        curve = [day_curve(ts + period * (i + 0.5) / samples) for i in range(samples)]
        u_day, u_peak, u_sessions, u_channels = units(self._seed, appid, "usage", ts, n=4)
        u_video, u_length = units(self._seed, appid, "usage-app", n=2)
        factor = (0.9 + 0.2 * u_day) * growth
        mean_users = audience * sum(curve) / samples * factor
        total = round(mean_users * period / 60)
        users = max(1, round(mean_users * (1 + period / 60 / (22 + 10 * u_length)) * 0.8))
        sessions = round(users * (1.25 + 0.15 * u_sessions))
        peak_users = round(audience * max(curve) * factor * (1 + 0.05 * u_peak))
        video = round(total * (0.55 + 0.15 * u_video))
        values = {
            "userCount": users,
            "sessionCount": sessions,
            "channelCount": max(1, round(sessions / (3 + u_channels))),
            "peakCurrentUsers": peak_users,
            "peakCurrentChannels": max(1, round(peak_users / 2.6)),
            "totalDuration": total,
            "totalVideoDuration": video,
            "totalAudioDuration": total - video,
        }
        return values[metric]

    def _quality(
        self, appid: str, metric: str, ts: int, granularity: str, product: str, growth: float
    ) -> float | None:
        if metric == "audioFreezeRate" and product == WEBRTC:
            return None  # the Web SDK reports no audio freeze
        base = self._realtime.profile(appid).bad_base[(product, metric)]
        u = unit(self._seed, appid, "quality", product, metric, granularity, ts)
        spread = 0.2 if granularity == "1d" else 0.4
        return round(to_rate(metric, base * (1 - spread / 2 + spread * u) * growth), 6)
