"""The simulator's ground truth: every number it serves, computable without HTTP.

Tests of the exporter compare what they exposed to these functions. All of
them are deterministic in the seed and the arguments; only the ones about
publication (insight) and what has happened so far (calls) read the clock,
and each has an ``*_at`` twin or ``now`` argument that does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.simulator.calls import CallInfo, CallModel, SessionInfo
from exporter.simulator.incidents import Incident, IncidentSchedule
from exporter.simulator.insight import InsightModel
from exporter.simulator.realtime import (
    PRODUCT_TYPES,
    REALTIME_METRICS,
    WEBRTC,
    RealtimeModel,
    align_window,
    to_rate,
)
from exporter.timing.clock import Clock

HOUR_S = 3600
DEFAULT_INCIDENT_EVERY_S = 45 * 60


@dataclass(frozen=True)
class Background:
    """The unlisted small channels of a project in one window, for one product type."""

    users: int
    channels: int
    rates: dict[str, float]  # unrounded quality rates


CallSeries = tuple[int, int, list[tuple[int, int | float]]]
"""``(mid, peer_uid, [(ts, value), ...])``; ``peer_uid`` 0 is the user's own."""


class TrafficModel:
    """Deterministic traffic of any number of apps (an app is just its appid)."""

    def __init__(
        self,
        seed: int = 1,
        clock: Clock = time.time,
        *,
        incident_every_s: int | None = DEFAULT_INCIDENT_EVERY_S,
        calls_per_hour: int = 40,
        usage_delay_s: int = 6 * HOUR_S,
        quality_delay_s: int = 6 * HOUR_S,
        max_kvs_per_series: int = 360,
        idle_product_types: Iterable[str] = (),
    ) -> None:
        self.seed = seed
        self._clock = clock
        self.schedule = IncidentSchedule(seed, incident_every_s)
        self._realtime = RealtimeModel(seed, self.schedule, frozenset(idle_product_types))
        self._insight = InsightModel(self._realtime, usage_delay_s, quality_delay_s)
        self._calls = CallModel(self._realtime, calls_per_hour, max_kvs_per_series)

    # -- real-time -------------------------------------------------------------

    def realtime(
        self,
        appid: str,
        product_type: str,
        metric: str,
        window_ts: int,
        cname: str | None = None,
        uid: int | None = None,
    ) -> float | int | None:
        """Value of the 20-s window starting at ``window_ts``; None: no data.

        ``channelCount`` of one channel is 1 while it is active. ``uid`` only
        matters for quality metrics (as ``uids`` over HTTP), usage metrics
        ignore it. WebRTC has no ``audioFreezeRate``, an idle product type no quality
        rate (its project usage is 0).
        """
        if product_type not in PRODUCT_TYPES or metric not in REALTIME_METRICS:
            raise ValueError(f"unknown product type or metric: {product_type!r}, {metric!r}")
        window = align_window(window_ts)
        if metric == "audioFreezeRate" and product_type == WEBRTC:
            return None
        if not cname:
            state = self._realtime.state(appid, product_type, window)
            if metric == "userCount":
                return state.users
            return state.channels if metric == "channelCount" else state.rates.get(metric)
        part = self._realtime.channel_slice(appid, product_type, cname, window)
        if part is None:
            return None
        if metric in ("userCount", "channelCount"):
            return part.users if metric == "userCount" else 1
        if uid is not None:
            return self._realtime.user_rate(appid, product_type, cname, uid, metric, window)
        return round(to_rate(metric, part.bad[metric]), 4)

    def channels(self, appid: str, window_ts: int) -> list[str]:
        """Listed channels with users in the window (``lobby`` always first).

        Unlisted names asked for by a config are part of the background and not
        listed here.
        """
        window = align_window(window_ts)
        names = [c.name for c in self._realtime.profile(appid).channels]
        return [n for n in names if sum(self._realtime.channel_users(appid, n, window).values())]

    def background(self, appid: str, product_type: str, window_ts: int) -> Background:
        """The project's unlisted small channels in the window (for consistency checks):
        project totals are these plus the listed channels of :meth:`channels`."""
        window = align_window(window_ts)
        users, channels = self._realtime.background(appid, product_type, window)
        bad = self._realtime.background_bad(appid, product_type, window)
        return Background(users, channels, {m: to_rate(m, b) for m, b in bad.items()})

    def uids(self, appid: str, cname: str, window_ts: int) -> list[int]:
        """The uids in a channel in the window (both product types)."""
        return list(self._realtime.roster(appid, cname, align_window(window_ts)))

    def uid_product_type(self, appid: str, cname: str, uid: int, window_ts: int) -> str | None:
        """The SDK of a listed uid in the window, None for a uid not listed."""
        return self._realtime.roster(appid, cname, align_window(window_ts)).get(uid)

    def incidents(
        self, appid: str, start_ts: int, end_ts: int, cname: str | None = None
    ) -> list[Incident]:
        """Project-wide incidents (or, with ``cname``, that channel's) in ``[start, end)``."""
        return self.schedule.between(appid, start_ts, end_ts, cname)

    # -- Data Insights -----------------------------------------------------------

    def insight(
        self,
        appid: str,
        metric: str,
        ts: int,
        granularity: str = "1d",
        product_type: str | None = None,
    ) -> float | int | None:
        """The point's value as published at the clock's now; None if not yet."""
        return self.insight_at(appid, metric, ts, granularity, product_type, self._clock())

    def insight_at(
        self,
        appid: str,
        metric: str,
        ts: int,
        granularity: str,
        product_type: str | None,
        now: float,
    ) -> float | int | None:
        """The point's value as published at ``now``; None if not yet."""
        return self._insight.value_at(appid, metric, ts, granularity, product_type, now)

    def insight_published_at(self, metric: str, ts: int, granularity: str = "1d") -> int:
        """When a point is first published."""
        return self._insight.published_at(metric, ts, granularity)

    def insight_recomputed_at(self, metric: str, ts: int, granularity: str = "1d") -> int | None:
        """When a day point's value changes (None for hourly points)."""
        return self._insight.recomputed_at(metric, ts, granularity)

    # -- Call Inspector ---------------------------------------------------------

    def calls(
        self, appid: str, start_ts: int, end_ts: int, cname: str | None = None
    ) -> list[CallInfo]:
        """Calls created in ``[start_ts, end_ts)``, newest first, as seen now."""
        return self._calls.calls(appid, start_ts, end_ts, self._clock(), cname)

    def sessions(self, appid: str, call_id: str) -> list[SessionInfo]:
        """All sessions of a call (Linux server users included), latest join first."""
        return self._calls.sessions(appid, call_id, self._clock())

    def call_metrics(
        self, appid: str, call_id: str, sid: str, start_ts: int, end_ts: int
    ) -> list[CallSeries]:
        """The metric series of one session inside ``[start_ts, end_ts]``."""
        return self._calls.metrics(appid, call_id, sid, (start_ts, end_ts), self._clock())
