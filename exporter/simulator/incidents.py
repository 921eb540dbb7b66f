"""Quality incidents: when, where and how badly freeze rates climb.

Two kinds, both fixed by the seed:

* channel incidents: in any 30-minute slot a channel (any name, listed or not)
  has an 8 % chance of one; its freeze rates climb for 5-10 minutes to a peak
  of 0.08-0.2 above normal, then recover at once;
* project-wide incidents: one per ``every_s`` seconds (default 45 minutes), 7-10
  minutes long, adding 0.05-0.10 to every channel's video freeze rate (and 80 %
  of that to audio) after a one-minute ramp, so the project-scope freeze rates
  stay above 0.03 for at least five minutes and a demo trips freeze alerts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from exporter.simulator.prng import units

CHANNEL_SLOT_S = 1800
CHANNEL_INCIDENT_CHANCE = 0.08
PROJECT_RAMP_S = 60


@dataclass(frozen=True)
class Incident:
    """A stretch of bad quality: project-wide when ``cname`` is None, else one channel's."""

    start: int
    end: int
    peak: float
    cname: str | None
    ramp_s: int

    def boost(self, t: float) -> float:
        """What the incident adds to the video freeze rate at ``t`` (0 outside it)."""
        if not self.start <= t < self.end:
            return 0.0
        climb = (t - self.start) / self.ramp_s
        if self.cname is None:
            # Project incidents fall as fast as they rose; channel ones just stop.
            return self.peak * min(1.0, climb, (self.end - t) / self.ramp_s)
        return self.peak * min(1.0, climb)


class IncidentSchedule:
    """Where every incident of every app lies, derived from the seed on demand."""

    def __init__(self, seed: int, every_s: int | None) -> None:
        self._seed = seed
        self._every = every_s if every_s and every_s > 0 else None
        self._project_cached = functools.lru_cache(maxsize=4096)(self._project_in_period)
        self._channel_cached = functools.lru_cache(maxsize=65536)(self._channel_in_slot)

    def project(self, appid: str, t: float) -> Incident | None:
        """The project-wide incident under way at ``t``, if any."""
        if self._every is None:
            return None
        incident = self._project_cached(appid, self._period_of(appid, t))
        return incident if incident.start <= t < incident.end else None

    def channel(self, appid: str, cname: str, t: float) -> Incident | None:
        """The incident of channel ``cname`` under way at ``t``, if any."""
        incident = self._channel_cached(appid, cname, math.floor(t / CHANNEL_SLOT_S))
        if incident is not None and incident.start <= t < incident.end:
            return incident
        return None

    def boost(self, appid: str, cname: str | None, t: float) -> float:
        """Video freeze rate added at ``t`` to a channel (or, with None, the project)."""
        project = self.project(appid, t)
        total = project.boost(t) if project else 0.0
        if cname is not None:
            channel = self.channel(appid, cname, t)
            total += channel.boost(t) if channel else 0.0
        return total

    def between(self, appid: str, start: int, end: int, cname: str | None = None) -> list[Incident]:
        """Incidents overlapping ``[start, end)``: project-wide ones, or one channel's."""
        found: list[Incident | None] = []
        if cname is None:
            if self._every is not None:
                first, last = self._period_of(appid, start), self._period_of(appid, end)
                found = [self._project_cached(appid, k) for k in range(first - 1, last + 1)]
        else:
            first, last = start // CHANNEL_SLOT_S, end // CHANNEL_SLOT_S
            found = [self._channel_cached(appid, cname, k) for k in range(first, last + 1)]
        return [i for i in found if i is not None and i.start < end and i.end > start]

    def _phase(self, appid: str) -> int:
        assert self._every is not None
        return int(units(self._seed, appid, "incident-phase")[0] * self._every)

    def _period_of(self, appid: str, t: float) -> int:
        assert self._every is not None
        return math.floor((t - self._phase(appid)) / self._every)

    def _project_in_period(self, appid: str, period: int) -> Incident:
        assert self._every is not None
        every = self._every
        u_duration, u_start, u_peak = units(self._seed, appid, "project-incident", period, n=3)
        # Short periods (tests) get incidents that still leave healthy time between them.
        duration = min(420 + int(u_duration * 180), max(2 * PROJECT_RAMP_S, every * 2 // 3))
        start = self._phase(appid) + period * every + int(u_start * (every - duration))
        return Incident(start, start + duration, 0.05 + 0.05 * u_peak, None, PROJECT_RAMP_S)

    def _channel_in_slot(self, appid: str, cname: str, slot: int) -> Incident | None:
        chance, u_duration, u_start, u_peak = units(
            self._seed, appid, cname, "channel-incident", slot, n=4
        )
        if chance >= CHANNEL_INCIDENT_CHANCE:
            return None
        duration = 300 + int(u_duration * 300)
        start = slot * CHANNEL_SLOT_S + int(u_start * (CHANNEL_SLOT_S - duration))
        return Incident(start, start + duration, 0.08 + 0.12 * u_peak, cname, int(duration * 0.8))
