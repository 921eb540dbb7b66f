"""Call Inspector traffic: calls, the user sessions in them, and their metrics.

Each hour holds exactly ``calls_per_hour`` calls (so paging tests can count on
it), created at seeded times and lasting 2-60 minutes (mostly short). A call
has 2-8 client sessions, sometimes a user who left and rejoined (the same uid
twice, as the reference warns), and in two calls of five 1-2 Linux server
users (recorders, bots) that ``exclude_server_user`` hides.

Everything is "as seen at ``now``": calls and sessions not started yet do not
exist; unfinished ones report ``finished: false`` and, as their end, the last
time seen (``now``), since the reference does not say what an ongoing call's
``destroyed_ts`` is.

A search answers the newest ``call_list_cap`` of the calls it matches (the
service's option, applied by ``endpoints``) with ``has_more: true`` when it
matched more, as the reference describes; set below the ongoing calls, only
narrowing the search and resending finds them all.
"""

from __future__ import annotations

import functools
import random
import string
from dataclasses import dataclass, replace

from exporter.simulator.callmetrics import LOCAL_MIDS, METRIC_IDS, REMOTE_MIDS, sample_series
from exporter.simulator.prng import hex_id, key64, units
from exporter.simulator.realtime import RealtimeModel

HOUR_S = 3600
MAX_PEERS = 2  # remote peers whose received-stream metrics a session reports
SERVER_PLATFORM = "Linux"
_CLIENTS = (
    ("Android", "Android (13)", "4.2.6"),
    ("Android", "Android (6.0)", "2.2.0.07_14"),
    ("iOS", "iPhone14,2 (iOS 17.1)", "4.2.6"),
    ("iOS", "iPad13,4 (iOS 16.6)", "4.1.1"),
    ("Windows", "Windows 10", "4.2.2"),
    ("macOS", "macOS 14.1", "4.2.2"),
    ("Web", "Chrome 119 (Web)", "4.19.3"),
)
_NETWORKS = ("Wi-Fi", "Wi-Fi", "4G", "5G", "Ethernet")


@dataclass(frozen=True)
class CallInfo:
    """One entry of ``call_lists``."""

    call_id: str
    cname: str
    created_ts: int
    destroyed_ts: int
    finished: bool


@dataclass(frozen=True)
class SessionInfo:
    """One entry of ``call_info``: one user's stay in a call."""

    sid: str
    cname: str
    uid: int
    network: str
    platform: str
    speaker: bool
    sdk_version: str
    device_type: str
    join_ts: int
    leave_ts: int
    finished: bool


def _seen(end: int, now: float) -> tuple[int, bool]:
    """An end time and finished flag as visible at ``now``."""
    return (end, True) if end <= now else (int(now), False)


class CallModel:
    """Calls per app; every method is a pure function of its arguments."""

    def __init__(self, realtime: RealtimeModel, calls_per_hour: int, kvs_cap: int) -> None:
        self._realtime = realtime
        self._seed = realtime.seed
        self.calls_per_hour = calls_per_hour
        self.kvs_cap = kvs_cap
        self._hour = functools.lru_cache(maxsize=4096)(self._make_hour)
        self._sessions = functools.lru_cache(maxsize=4096)(self._make_sessions)

    def _make_hour(self, appid: str, hour: int) -> tuple[CallInfo, ...]:
        names = [c.name for c in self._realtime.profile(appid).channels]
        calls = []
        for index in range(self.calls_per_hour):
            u_start, u_length, u_name, u_listed = units(self._seed, appid, "call", hour, index, n=4)
            created = hour * HOUR_S + int(u_start * HOUR_S)
            destroyed = created + 120 + int(u_length**2 * 3480)
            if u_listed < 0.5:
                cname = names[int(u_name * len(names))]
            else:
                cname = f"call-{int(u_name * 1_000_000):06d}"
            # The id carries hour and index, so sessions can find their call again.
            salt = hex_id(self._seed, appid, "call-id", hour, index, length=20)
            call_id = f"{salt[:16]}{hour:08x}{index:04x}{salt[16:]}"
            calls.append(CallInfo(call_id, cname, created, destroyed, True))
        return tuple(calls)

    def find(self, appid: str, call_id: str) -> CallInfo | None:
        """The planned call with that id, or None for an id this app never had."""
        if len(call_id) != 32 or not all(c in string.hexdigits for c in call_id):
            return None
        hour, index = int(call_id[16:24], 16), int(call_id[24:28], 16)
        if index >= self.calls_per_hour:
            return None
        call = self._hour(appid, hour)[index]
        return call if call.call_id == call_id else None

    def calls(
        self, appid: str, start_ts: int, end_ts: int, now: float, cname: str | None = None
    ) -> list[CallInfo]:
        """Calls created in ``[start_ts, end_ts)``, newest first."""
        found = []
        for hour in range(start_ts // HOUR_S, (end_ts - 1) // HOUR_S + 1):
            for call in self._hour(appid, hour):
                visible = start_ts <= call.created_ts < end_ts and call.created_ts <= now
                if visible and (cname is None or call.cname == cname):
                    destroyed, finished = _seen(call.destroyed_ts, now)
                    found.append(replace(call, destroyed_ts=destroyed, finished=finished))
        return sorted(found, key=lambda c: (-c.created_ts, c.call_id))

    def sessions(self, appid: str, call_id: str, now: float) -> list[SessionInfo]:
        """Every session of a call (server users included), latest join first."""
        seen = []
        for session in self._sessions(appid, call_id):
            if session.join_ts <= now:
                leave, finished = _seen(session.leave_ts, now)
                seen.append(replace(session, leave_ts=leave, finished=finished))
        return sorted(seen, key=lambda s: (-s.join_ts, s.sid))

    def _make_sessions(self, appid: str, call_id: str) -> tuple[SessionInfo, ...]:
        call = self.find(appid, call_id)
        if call is None:
            return ()
        rng = random.Random(key64(self._seed, appid, "sessions", call_id))
        start, end = call.created_ts, call.destroyed_ts
        sessions: list[SessionInfo] = []
        for i in range(rng.randint(2, 8)):
            platform, device, sdk = rng.choice(_CLIENTS)
            template = SessionInfo(
                "", call.cname, rng.randint(1, 2**32 - 1), rng.choice(_NETWORKS),
                platform, rng.random() < 0.8, sdk, device, 0, 0, True,
            )  # fmt: skip
            join = start if i == 0 else start + int(rng.random() * (end - start) * 0.3)
            leave = (
                end if i == 0 else min(end, join + max(30, int((end - join) * rng.uniform(0.5, 1))))
            )
            stays = [(join, leave)]
            if i == 1 and leave - join > 120 and rng.random() < 0.35:
                gap_at = join + (leave - join) // 2
                stays = [(join, gap_at), (gap_at + rng.randint(5, 60), leave)]
            for stay_join, stay_leave in stays:
                sid = f"{rng.getrandbits(128):032X}"
                sessions.append(replace(template, sid=sid, join_ts=stay_join, leave_ts=stay_leave))
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            sid, uid = f"{rng.getrandbits(128):032X}", rng.randint(1, 2**32 - 1)
            join = start + rng.randint(1, 10)
            sessions.append(SessionInfo(
                sid, call.cname, uid, "Ethernet", SERVER_PLATFORM, False, "4.2.2",
                "Linux (server)", join, max(join + 1, end), True,
            ))  # fmt: skip
        return tuple(sessions)

    def metrics(
        self, appid: str, call_id: str, sid: str, frame: tuple[int, int], now: float
    ) -> list[tuple[int, int, list[tuple[int, int | float]]]]:
        """``(mid, peer_uid, [(ts, value), ...])`` of one session inside ``frame``.

        Unknown sids, and series with no sample in the frame, give nothing.
        """
        sessions = self.sessions(appid, call_id, now)
        me = next((s for s in sessions if s.sid == sid), None)
        if me is None:
            return []
        peers: list[int] = []
        for other in sorted(sessions, key=lambda s: (s.join_ts, s.sid)):
            overlaps = other.join_ts < me.leave_ts and other.leave_ts > me.join_ts
            if overlaps and other.uid != me.uid and other.uid not in peers:
                peers.append(other.uid)
        wanted = [(mid, 0) for mid in LOCAL_MIDS]
        wanted += [(mid, peer) for peer in peers[:MAX_PEERS] for mid in REMOTE_MIDS]
        found = []
        for mid, peer in wanted:
            key = key64(self._seed, appid, sid, mid, peer)
            kvs = sample_series(METRIC_IDS[mid], key, me.join_ts, me.leave_ts, frame, self.kvs_cap)
            if kvs:
                found.append((mid, peer, kvs))
        return found
