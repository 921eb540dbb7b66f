"""Call Inspector metric series: the metric IDs and their 2-second samples.

IDs are the reference's table (20001-20011, 20013, 20015-20028) plus the rest
of FACTS' current list (20030-20038, undescribed, given generic values).
Metrics about what a user receives come once per remote peer (``peer_uid`` =
the sender); the others come once with ``peer_uid`` 0, the user's own.

Samples start 4 s after the user joins and follow every 2 s, as in the
reference's example. A series longer than ``cap`` points in the asked frame is
thinned to every 2nd, 3rd, ... sample so that it keeps at most ``cap`` points
(documented simplification: it keeps a 6-hour query of 20 sessions small).
Each sample is a pure function of the series and its time, whatever the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.simulator.prng import fast_unit

SAMPLE_STEP_S = 2
FIRST_SAMPLE_AFTER_S = 4
KNOT_EVERY = 15  # samples between value-noise knots: values drift over ~30 s


@dataclass(frozen=True)
class MidProfile:
    """How one metric ID behaves: typical value, spread, unit rounding, scope."""

    description: str
    base: float
    spread: float
    decimals: int = 0
    remote: bool = False
    choices: tuple[int, ...] = ()
    ceiling: float | None = None


_PERCENT = 100.0
METRIC_IDS: dict[int, MidProfile] = {
    20001: MidProfile("App CPU usage (%)", 22, 12, ceiling=_PERCENT),
    20002: MidProfile("System CPU usage (%)", 38, 15, ceiling=_PERCENT),
    20003: MidProfile("Audio upstream bitrate (Kbps)", 64, 30),
    20004: MidProfile("Audio downstream bitrate (Kbps)", 60, 25, remote=True),
    20005: MidProfile("Audio render freeze time (ms)", -20, 90, decimals=2, remote=True),
    20006: MidProfile("Low-stream video upstream bitrate (Kbps)", 120, 40),
    20007: MidProfile("Video capture frame rate (fps)", 15, 3),
    20008: MidProfile("High-stream video upstream frame rate (fps)", 14, 3),
    20009: MidProfile("Video downstream bitrate (Kbps)", 480, 200, remote=True),
    20010: MidProfile("Video downstream frame rate (fps)", 14, 4, remote=True),
    20011: MidProfile("Video render freeze time (ms)", -100, 500, decimals=2, remote=True),
    20013: MidProfile("Video QP (legacy)", 28, 6),
    20015: MidProfile("Audio upstream packet loss (%)", 0.5, 2, ceiling=_PERCENT),
    20016: MidProfile("Audio end-to-end packet loss (%)", 1, 3, remote=True, ceiling=_PERCENT),
    20017: MidProfile("Video upstream packet loss (%)", 1, 3, ceiling=_PERCENT),
    20018: MidProfile("Video end-to-end packet loss (%)", 2, 4, remote=True, ceiling=_PERCENT),
    20019: MidProfile("Received video width", 0, 0, remote=True, choices=(360, 480, 720)),
    20020: MidProfile("Received video height", 0, 0, remote=True, choices=(640, 848, 1280)),
    20021: MidProfile("Task scheduling delay (ms)", 3, 2),
    20022: MidProfile("RTT to the local router (ms)", 5, 4),
    20023: MidProfile("Low-stream video upstream frame rate (fps)", 15, 3),
    20024: MidProfile("High-stream video upstream bitrate (Kbps)", 600, 200),
    20025: MidProfile("Sent audio sampling volume (dB)", 100, 8),
    20026: MidProfile("Received audio playback volume (dB)", 95, 8, remote=True),
    20027: MidProfile("Sent video width", 0, 0, choices=(360, 480, 720)),
    20028: MidProfile("Sent video height", 0, 0, choices=(640, 848, 1280)),
    **{
        mid: MidProfile(f"Metric {mid} (not in the reference)", 50, 20)
        for mid in range(20030, 20039)
    },
}
LOCAL_MIDS = tuple(mid for mid, p in METRIC_IDS.items() if not p.remote)
REMOTE_MIDS = tuple(mid for mid, p in METRIC_IDS.items() if p.remote)


def sample_value(profile: MidProfile, key: int, index: int) -> int | float:
    """Sample ``index`` of the series keyed ``key``."""
    if profile.choices:
        return profile.choices[int(fast_unit(key, -1) * len(profile.choices))]
    knot, step = divmod(index, KNOT_EVERY)
    before, after = fast_unit(key, 2 * knot), fast_unit(key, 2 * knot + 2)
    drift = before + (after - before) * step / KNOT_EVERY
    jitter = fast_unit(key, 2 * index + 1)
    value = profile.base + profile.spread * ((drift - 0.5) * 1.6 + (jitter - 0.5) * 0.4)
    value = max(0.0, value if profile.ceiling is None else min(value, profile.ceiling))
    return round(value, profile.decimals) if profile.decimals else round(value)


def sample_series(
    profile: MidProfile,
    key: int,
    join_ts: int,
    last_ts: int,
    frame: tuple[int, int],
    cap: int,
) -> list[tuple[int, int | float]]:
    """The ``[ts, value]`` pairs of one series inside ``frame`` (inclusive)."""
    origin = join_ts + FIRST_SAMPLE_AFTER_S
    low = max(0, math.ceil((frame[0] - origin) / SAMPLE_STEP_S))
    high = math.floor((min(last_ts, frame[1]) - origin) / SAMPLE_STEP_S)
    if high < low:
        return []
    stride = max(1, math.ceil((high - low + 1) / cap))
    first = math.ceil(low / stride) * stride
    return [
        (origin + SAMPLE_STEP_S * k, sample_value(profile, key, k))
        for k in range(first, high + 1, stride)
    ]
