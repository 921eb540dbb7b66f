"""Which traffic groups have had no users for the whole horizon: pure.

The scheduler shows :class:`TrafficWatch` every answered poll of a gate (a
``userCount`` series, :mod:`exporter.scheduling.priorities`): the range it
covered and the newest window with users in it. A group is *idle* once the
stretch seen without a break spans the whole ``quiet_s`` (the API's horizon)
and no window of its last ``quiet_s`` had users; it is busy again as soon as a
poll brings one window with users. A gap in what was seen (windows missed, a
restart: nothing is remembered across one) starts the stretch afresh, so a
group is never paused on evidence it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.scheduling.priorities import TrafficGroup
from exporter.timing.windows import WINDOW_S


@dataclass
class _Seen:
    since: int
    """Start of the unbroken stretch of windows seen."""
    until: int
    """End of it (the gate's cursor)."""
    busy: int | None = None
    """Start of the newest window in it with users."""


class TrafficWatch:
    """The traffic seen per group, and which groups are idle; not thread-safe."""

    def __init__(self, quiet_s: int) -> None:
        self.quiet_s = quiet_s
        self._seen: dict[TrafficGroup, _Seen] = {}

    def observe(self, group: TrafficGroup, start: int, end: int, busy_ts: int | None) -> bool:
        """One answered poll of ``group``'s gate over ``[start, end)``; True if the group
        changed between idle and busy."""
        before = self.is_idle(group)
        seen = self._seen.get(group)
        if seen is None or start > seen.until:
            seen = self._seen[group] = _Seen(since=start, until=end)
        seen.until = max(seen.until, end)
        if busy_ts is not None and (seen.busy is None or busy_ts > seen.busy):
            seen.busy = busy_ts
        return self.is_idle(group) != before

    def is_idle(self, group: TrafficGroup) -> bool:
        seen = self._seen.get(group)
        if seen is None or seen.until - seen.since < self.quiet_s:
            return False
        return seen.busy is None or seen.busy + WINDOW_S <= seen.until - self.quiet_s

    def quiet_until(self, group: TrafficGroup) -> int | None:
        """Up to when ``group`` is known to have had no users (None: not idle)."""
        return self._seen[group].until if self.is_idle(group) else None

    def idle(self) -> frozenset[TrafficGroup]:
        return frozenset(group for group in self._seen if self.is_idle(group))

    def keep(self, groups: set[TrafficGroup]) -> None:
        """Forget the groups no longer watched (a reload dropped them)."""
        for group in set(self._seen) - groups:
            del self._seen[group]
