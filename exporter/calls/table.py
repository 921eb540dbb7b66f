"""The ``calls`` command's text: ongoing calls, then one quality table per call. Pure.

Values are shown in the units of Agora Console (%, Kbps, ms, fps), as an
on-call engineer compares them with it. A user's own metrics fill most
columns; what the user receives is summed over peers (bitrates) or shows the
worst peer (frame rate, freeze time, loss).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from exporter.calls.view import CallState, users
from exporter.store.calls import TrackedCall

HEADERS = (
    "UID",
    "PLATFORM",
    "NETWORK",
    "CPU% APP/SYS",
    "AUDIO KBPS UP/DOWN",
    "VIDEO KBPS UP/DOWN",
    "FPS SENT/RECV",
    "FREEZE MS A/V",
    "LOSS% A/V",
    "RTT MS",
    "SAMPLE (UTC)",
)
_OWN, _PEERS = "own", "peers"


def _when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime(fmt)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"


def _pair(first: float | None, second: float | None) -> str:
    return f"{_number(first)}/{_number(second)}"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


class _UserMetrics:
    """One user's newest samples: own (peer 0) by metric ID, and per peer."""

    def __init__(self) -> None:
        self.own: dict[int, float] = {}
        self.peers: dict[int, dict[int, float]] = {}
        self.newest: int | None = None

    def get(self, mid: int) -> float | None:
        return self.own.get(mid)

    def over_peers(self, mid: int, how: Callable[[Iterable[float]], float]) -> float | None:
        values = [peer[mid] for peer in self.peers.values() if mid in peer]
        return how(values) if values else None


def _metrics_by_uid(call: TrackedCall) -> dict[int, _UserMetrics]:
    uid_of = {session.sid: session.uid for session in call.sessions}
    newest: dict[tuple[int, int, int], tuple[int, float]] = {}
    for sample in call.samples:
        uid = uid_of.get(sample.sid)
        key = (uid, sample.peer_uid, sample.mid) if uid is not None else None
        if key is not None and (key not in newest or sample.ts > newest[key][0]):
            newest[key] = (sample.ts, sample.value)
    found: dict[int, _UserMetrics] = {}
    for (uid, peer, mid), (ts, value) in newest.items():
        user = found.setdefault(uid, _UserMetrics())
        target = user.own if peer == 0 else user.peers.setdefault(peer, {})
        target[mid] = value
        user.newest = max(user.newest or ts, ts)
    return found


def _user_row(uid: int, platform: str, network: str, m: _UserMetrics) -> list[str]:
    video_up = None
    if m.get(20024) is not None or m.get(20006) is not None:
        video_up = (m.get(20024) or 0.0) + (m.get(20006) or 0.0)
    return [
        str(uid),
        platform or "-",
        network or "-",
        _pair(m.get(20001), m.get(20002)),
        _pair(m.get(20003), m.over_peers(20004, sum)),
        _pair(video_up, m.over_peers(20009, sum)),
        _pair(m.get(20008), m.over_peers(20010, min)),
        _pair(m.over_peers(20005, max), m.over_peers(20011, max)),
        _pair(m.over_peers(20016, max), m.over_peers(20018, max)),
        _number(m.get(20022)),
        _when(m.newest, "%H:%M:%S"),
    ]


def call_table(call: TrackedCall) -> list[str]:
    """One call's per-user quality table."""
    metrics = _metrics_by_uid(call)
    rows = [list(HEADERS)]
    for session in users(call):
        user = metrics.get(session.uid, _UserMetrics())
        rows.append(_user_row(session.uid, session.platform, session.network, user))
    if len(rows) == 1:
        return ["  (no user metrics fetched yet: the API publishes them 300 s late)"]
    return ["  " + line for line in _columns(rows)]


def render_calls(state: CallState, *, now: float, cname: str | None, source: str) -> str:
    """The whole output of ``agora-exporter calls``."""
    calls = [call for call in state.calls if cname is None or call.cname == cname]
    where = f" in channel {cname}" if cname else ""
    lines = [f"Call Inspector{where}, {source}; now {_when(now)} UTC"]
    for appid, count in sorted(state.ongoing.items()):
        lines.append(f"app {appid}: {count} ongoing calls found")
    skipped = {reason: n for reason, n in state.skipped.items() if n}
    if skipped:
        lines.append(
            "left out by caps: " + ", ".join(f"{n} ({reason})" for reason, n in skipped.items())
        )
    if state.last_error:
        lines.append(f"last error: {state.last_error}")
    if not calls:
        lines.append(f"no ongoing call inspected{where}")
        return "\n".join(lines) + "\n"
    rows = [["APP", "CHANNEL", "CALL ID", "STARTED (UTC)", "DURATION", "USERS", "STATE"]]
    for call in calls:
        end = call.destroyed_ts if call.finished and call.destroyed_ts else now
        state_text = "finished" if call.finished else "ongoing"
        rows.append(
            [
                call.appid[:8],
                call.cname,
                call.call_id,
                _when(call.created_ts),
                _duration(end - call.created_ts),
                str(len(users(call))),
                state_text,
            ]
        )
    lines += ["", *_columns(rows)]
    for call in calls:
        lines += ["", f"{call.cname} / call {call.call_id}:", *call_table(call)]
    return "\n".join(lines) + "\n"
