"""Real-time traffic: users, channels and quality per 20-second window and product type.

An app's audience is a set of named channels (``lobby``, always active, plus a
few dozen like ``class-03`` that come and go in 20-60 minute slots) and a
background of small unnamed channels. Project totals are the sum of the named
channels and the background, so the users of any listed channels never exceed
the project's, and project quality rates are the user-weighted mix of their
parts. A channel name nobody listed (``demoChannel``) still gets values, as a
small channel (1-6 users, active 70 % of the time) that is part of the
background; the background is large enough to hold a handful of those.

Quality is modelled as a "bad share" (the freeze or delay rate, or 1 minus a
join success rate) around a healthy base per app and product type, drifting
with value noise and raised by incidents (:mod:`incidents`).

An *idle* product type has no users at all, in every app: no channel and no
background has any of its users, so the project counts it 0 users and 0
channels and has no quality rate of it (nothing is divided by zero minutes).
The other product type keeps exactly the users and rates it has otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.simulator.incidents import IncidentSchedule
from exporter.simulator.prng import day_curve, smooth_units, unit, units

WINDOW_S = 20
NATIVE, WEBRTC = "Native", "WebRTC"
PRODUCT_TYPES = (NATIVE, WEBRTC)
USAGE_METRICS = ("userCount", "channelCount")
QUALITY_METRICS = (
    "joinSuccessRate",
    "joinSuccessIn5sRate",
    "audioFreezeRate",
    "videoFreezeRate",
    "networkDelay",
)
REALTIME_METRICS = USAGE_METRICS + QUALITY_METRICS
JOIN_METRICS = frozenset({"joinSuccessRate", "joinSuccessIn5sRate"})
ALWAYS_ON_CHANNEL = "lobby"
CHANNEL_SLOT = 1800  # how long an unlisted channel stays on or off

# Healthy bad share per metric (low, high); WebRTC is 10 % worse.
HEALTHY_BAD = {
    "joinSuccessRate": (0.006, 0.014),
    "joinSuccessIn5sRate": (0.02, 0.04),
    "audioFreezeRate": (0.006, 0.015),
    "videoFreezeRate": (0.011, 0.02),
    "networkDelay": (0.011, 0.026),
}
# Share of an incident's video-freeze boost each metric feels.
INCIDENT_WEIGHT = {
    "joinSuccessRate": 0.1,
    "joinSuccessIn5sRate": 0.3,
    "audioFreezeRate": 0.8,
    "videoFreezeRate": 1.0,
    "networkDelay": 0.5,
}
_WORDS = ("class", "standup", "game", "webinar", "support", "party", "study", "townhall")


@dataclass(frozen=True)
class NamedChannel:
    """A listed channel: how many users it has when active, and when it is."""

    name: str
    size: int
    slot_s: int
    offset_s: int
    webrtc_share: float


@dataclass(frozen=True)
class AppProfile:
    """What is fixed about an app: audience size, product mix, channels, health."""

    native_peak: int
    webrtc_share: float
    channels: tuple[NamedChannel, ...]
    bad_base: Mapping[tuple[str, str], float]
    by_name: Mapping[str, NamedChannel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: the name index is set once, through object.__setattr__.
        object.__setattr__(self, "by_name", {c.name: c for c in self.channels})


@dataclass(frozen=True)
class Slice:
    """One channel (or the background) in one window, for one product type."""

    users: int
    bad: Mapping[str, float]


@dataclass(frozen=True)
class WindowState:
    """The whole project in one window, for one product type."""

    users: int
    channels: int
    rates: Mapping[str, float]
    named: Mapping[str, Slice]


def to_rate(metric: str, bad: float) -> float:
    """Turn a bad share into the API's rate (join rates count successes)."""
    bad = min(max(bad, 0.0), 1.0)
    return 1.0 - bad if metric in JOIN_METRICS else bad


def split_users(total: int, webrtc_share: float) -> dict[str, int]:
    """Split a channel's users between the two SDKs."""
    webrtc = round(total * webrtc_share)
    return {NATIVE: total - webrtc, WEBRTC: webrtc}


class RealtimeModel:
    """Per-window values; every public method is a pure function of its arguments."""

    def __init__(
        self, seed: int, incidents: IncidentSchedule, idle: frozenset[str] = frozenset()
    ) -> None:
        unknown = sorted(idle - set(PRODUCT_TYPES))
        if unknown:
            raise ValueError(f"unknown product types {unknown}: pick from {list(PRODUCT_TYPES)}")
        self.seed = seed
        self.incidents = incidents
        self.idle = idle
        self.profile = functools.lru_cache(maxsize=256)(self._make_profile)
        self.state = functools.lru_cache(maxsize=16384)(self._make_state)
        self._extra_slice = functools.lru_cache(maxsize=16384)(self._make_extra_slice)
        self.uid_at = functools.lru_cache(maxsize=65536)(self._make_uid)
        self._level = functools.lru_cache(maxsize=65536)(self._make_level)

    # -- the app ------------------------------------------------------------

    def _make_profile(self, appid: str) -> AppProfile:
        u_peak, u_share, u_count = units(self.seed, appid, "profile", n=3)
        channels = [NamedChannel(ALWAYS_ON_CHANNEL, 20 + int(u_peak * 40), 0, 0, 0.0)]
        for i in range(24 + int(u_count * 16)):
            u_word, u_size, u_slot, u_offset, u_mix = units(self.seed, appid, "channel", i, n=5)
            name = f"{_WORDS[int(u_word * len(_WORDS))]}-{i + 1:02d}"
            slot_s = 1200 + 600 * int(u_slot * 5)
            channels.append(
                NamedChannel(
                    name, 2 + int(u_size * 14), slot_s, int(u_offset * slot_s), 0.6 * u_mix
                )
            )
        base: dict[tuple[str, str], float] = {}
        for metric, (low, high) in HEALTHY_BAD.items():
            u = unit(self.seed, appid, "health", metric)
            base[(NATIVE, metric)] = low + (high - low) * u
            base[(WEBRTC, metric)] = base[(NATIVE, metric)] * 1.1
        return AppProfile(600 + int(u_peak * 1400), 0.25 + 0.08 * u_share, tuple(channels), base)

    def named(self, appid: str, cname: str) -> NamedChannel | None:
        """The listed channel called ``cname``, or None for an unlisted name."""
        return self.profile(appid).by_name.get(cname)

    # -- users ---------------------------------------------------------------

    def channel_users(self, appid: str, cname: str, window: int) -> dict[str, int]:
        """Users of a channel in a window, per product type (zeros: inactive)."""
        channel = self.named(appid, cname)
        share = self.profile(appid).webrtc_share
        if channel is None:
            u_on, u_size = units(self.seed, appid, cname, "extra", window // CHANNEL_SLOT, n=2)
            size = 1 + int(u_size * 6) if u_on < 0.7 else 0
        elif channel.name == ALWAYS_ON_CHANNEL:
            size = round(channel.size * (0.4 + 0.6 * day_curve(window)))
        else:
            share = channel.webrtc_share
            slot = (window + channel.offset_s) // channel.slot_s
            slot_start = slot * channel.slot_s - channel.offset_s
            active = unit(self.seed, appid, cname, "on", slot) < 0.2 + 0.6 * day_curve(slot_start)
            size = channel.size if active else 0
        if size == 0:
            return {NATIVE: 0, WEBRTC: 0}
        jitter = int(unit(self.seed, appid, cname, "jitter", window // 60) * 3) - 1
        users = split_users(max(1, size + jitter), share)
        return {product: 0 if product in self.idle else n for product, n in users.items()}

    def background(self, appid: str, product: str, window: int) -> tuple[int, int]:
        """Users and channels of the unnamed small channels."""
        if product in self.idle:
            return 0, 0
        profile = self.profile(appid)
        peak = profile.native_peak * (profile.webrtc_share if product == WEBRTC else 1.0)
        drift, wobble = smooth_units(self.seed, window, 600, appid, product, "background", n=2)
        jitter = int(unit(self.seed, appid, product, "bg-jitter", window) * 5) - 2
        users = max(5, round(peak * day_curve(window) * (0.92 + 0.16 * drift)) + jitter)
        return users, max(1, round(users / (2.3 + 0.3 * wobble)))

    # -- quality -------------------------------------------------------------

    def _make_level(self, appid: str, product: str, scope: str) -> tuple[float, ...]:
        """Where a channel sits in the healthy range, per quality metric (fixed)."""
        return units(self.seed, appid, product, scope, "level", n=len(QUALITY_METRICS))

    def bad_shares(
        self, appid: str, product: str, scope: str, window: int, spread: float, boost: float
    ) -> dict[str, float]:
        """Bad share per quality metric for one channel (or ``""``: the background)."""
        base = self.profile(appid).bad_base
        level = self._level(appid, product, scope)
        noise = smooth_units(self.seed, window, 120, appid, product, scope, "noise", n=5)
        shares = {}
        for metric, u_level, u_noise in zip(QUALITY_METRICS, level, noise, strict=True):
            factor = (1 + spread * (u_level - 0.5)) * (1 + spread * (u_noise - 0.5))
            shares[metric] = base[(product, metric)] * factor + INCIDENT_WEIGHT[metric] * boost
        return shares

    def background_bad(self, appid: str, product: str, window: int) -> dict[str, float]:
        """Bad shares of the background (only project-wide incidents reach it)."""
        boost = self.incidents.boost(appid, None, window + WINDOW_S / 2)
        return self.bad_shares(appid, product, "", window, 0.2, boost)

    def _make_state(self, appid: str, product: str, window: int) -> WindowState:
        middle = window + WINDOW_S / 2
        named: dict[str, Slice] = {}
        for channel in self.profile(appid).channels:
            users = self.channel_users(appid, channel.name, window)[product]
            if users:
                boost = self.incidents.boost(appid, channel.name, middle)
                bad = self.bad_shares(appid, product, channel.name, window, 0.6, boost)
                named[channel.name] = Slice(users, bad)
        bg_users, bg_channels = self.background(appid, product, window)
        bg_bad = self.background_bad(appid, product, window)
        users = bg_users + sum(s.users for s in named.values())
        rates = {}
        for metric in QUALITY_METRICS if users else ():  # idle: no minutes, no rates
            weighted = bg_users * bg_bad[metric]
            weighted += sum(s.users * s.bad[metric] for s in named.values())
            rates[metric] = round(to_rate(metric, weighted / users), 6)
        return WindowState(users, bg_channels + len(named), rates, named)

    def channel_slice(self, appid: str, product: str, cname: str, window: int) -> Slice | None:
        """A channel in a window, or None when it has no users of that product type."""
        if self.named(appid, cname) is not None:
            return self.state(appid, product, window).named.get(cname)
        return self._extra_slice(appid, product, cname, window)

    def _make_extra_slice(self, appid: str, product: str, cname: str, window: int) -> Slice | None:
        users = self.channel_users(appid, cname, window)[product]
        if not users:
            return None
        boost = self.incidents.boost(appid, cname, window + WINDOW_S / 2)
        return Slice(users, self.bad_shares(appid, product, cname, window, 0.6, boost))

    # -- users in a channel ----------------------------------------------------

    def _make_uid(self, appid: str, cname: str, index: int) -> int:
        return 1 + int(unit(self.seed, appid, cname, "uid", index) * (2**32 - 2))

    def roster(self, appid: str, cname: str, window: int) -> dict[int, str]:
        """The uids in a channel in a window, with the product type of each."""
        users = self.channel_users(appid, cname, window)
        uids = [self.uid_at(appid, cname, i) for i in range(users[NATIVE] + users[WEBRTC])]
        return {uid: NATIVE if i < users[NATIVE] else WEBRTC for i, uid in enumerate(uids)}

    def user_rate(
        self, appid: str, product: str, cname: str, uid: int, metric: str, window: int
    ) -> float | None:
        """One user's quality rate in a window, or None when the user is not there.

        Roster uids are on their own SDK only. Any other uid (a config may name
        any) counts as present 90 % of the time the channel is active, on
        whichever product type is asked for.
        """
        channel = self.channel_slice(appid, product, cname, window)
        if channel is None:
            return None
        roster = self.roster(appid, cname, window)
        if uid in roster:
            if roster[uid] != product:
                return None
        elif unit(self.seed, appid, cname, uid, "here", window // 300) >= 0.9:
            return None
        if metric in JOIN_METRICS:
            # A single user's join rate: all attempts fine, or one of two failed.
            fine = unit(self.seed, appid, cname, uid, metric, window // 300) < 0.9
            return 1.0 if fine else 0.5
        u_level = unit(self.seed, appid, cname, uid, metric, "level")
        (u_noise,) = smooth_units(self.seed, window, 60, appid, cname, uid, metric)
        bad = channel.bad[metric] * (0.4 + 1.2 * u_level) * (0.7 + 0.6 * u_noise)
        return round(to_rate(metric, bad), 4)


def align_window(ts: float) -> int:
    """Start of the 20-second window containing ``ts`` (windows start at the epoch)."""
    return math.floor(ts / WINDOW_S) * WINDOW_S
