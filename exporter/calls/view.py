"""What the call families show: the newest sample fetched of each series. Pure.

A series is one (app, channel, user, peer, metric ID). A user who left and
rejoined has two sessions, and two calls of one channel can overlap in the
API's data: their series share labels, so the newest sample wins. A series
whose session is no longer in its call's newest frame (the user left, or a
cap left it out) is already gone from the store: it shows nothing.

Why the newest sample and not a replay (as the real-time families do):
samples come every 2 s; a replay would have to keep every sample of every
session (millions a day at the default caps) only to show Prometheus one in
ten of them anyway, while the newest sample per series costs one number. Call
metrics serve drill-down ("how is this user doing now?"), and the newest
sample answers that, one cycle plus the API's 300 s delay late.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporter.catalog.calls import exposed_value
from exporter.store.calls import CallSession, TrackedCall

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True)
class CallState:
    """Everything a scrape, the status page and the ``calls`` command read about calls."""

    enabled: bool = False
    interval_s: int = 0
    calls: tuple[TrackedCall, ...] = ()
    ongoing: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    """Per app: ongoing calls the newest search found, before the cap."""
    skipped: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    unknown_mids: Mapping[int, int] = field(default_factory=dict)
    last_cycle_at: float | None = None
    last_error: str | None = None


EMPTY_CALLS = CallState()


@dataclass(frozen=True)
class ShownCallSample:
    """One series' newest sample; ``value`` in the API's unit."""

    appid: str
    cname: str
    uid: int
    peer_uid: int
    mid: int
    ts: int
    value: float

    @property
    def labels(self) -> list[str]:
        """``appid, cname, uid, peer_uid`` (peer_uid empty for the user's own metrics)."""
        peer = "" if self.peer_uid == 0 else str(self.peer_uid)
        return [self.appid, self.cname, str(self.uid), peer]

    @property
    def exposed_value(self) -> float:
        return exposed_value(self.mid, self.value)


def shown_samples(calls: Iterable[TrackedCall]) -> list[ShownCallSample]:
    """The newest sample of every series, sorted by labels then metric ID."""
    best: dict[tuple[str, str, int, int, int], ShownCallSample] = {}
    for call in calls:
        uids = {session.sid: session.uid for session in call.sessions}
        for sample in call.samples:
            uid = uids.get(sample.sid)
            if uid is None:
                continue
            key = (call.appid, call.cname, uid, sample.peer_uid, sample.mid)
            known = best.get(key)
            if known is None or sample.ts > known.ts:
                best[key] = ShownCallSample(*key, sample.ts, sample.value)
    return [best[key] for key in sorted(best)]


def session_info(calls: Iterable[TrackedCall]) -> list[tuple[str, ...]]:
    """The labels of ``agora_call_session_info``, sorted: per app, channel and user of the
    inspected calls, what its session joined last says (platform, network, SDK, device).

    One series per ``(appid, cname, uid)``, as the sample families have, so a join
    on those three labels picks one; bounded by the same caps as the samples.
    """
    latest: dict[tuple[str, str, int], CallSession] = {}
    for call in calls:
        for session in call.sessions:
            key = (call.appid, call.cname, session.uid)
            known = latest.get(key)
            if known is None or (session.join_ts, session.sid) > (known.join_ts, known.sid):
                latest[key] = session
    return [
        (appid, cname, str(uid), s.platform, s.network, s.sdk_version, s.device_type)
        for (appid, cname, uid), s in sorted(latest.items())
    ]


def users(call: TrackedCall) -> list[CallSession]:
    """One session per uid (the latest joined), latest join first."""
    found: dict[int, CallSession] = {}
    for session in sorted(call.sessions, key=lambda s: (s.join_ts, s.sid)):
        found[session.uid] = session
    return sorted(found.values(), key=lambda s: (-s.join_ts, s.uid))
