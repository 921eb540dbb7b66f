"""The store's in-memory side: immutable values a scrape can read without locks.

Every commit builds a new ``SeriesData`` for the series it touched and swaps it
in; nothing handed out is ever changed afterwards. Windows of one uid are kept
as two parallel arrays (window starts, values) sorted by start: with ~22,000
series of 180 windows each, that is 16 bytes a window instead of the ~150 a
dict of Python floats would take.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from exporter.store.changes import ChangeLog
from exporter.timing.windows import WINDOW_S

MAX_UID = 2**63 - 1
"""The largest uid SQLite's INTEGER holds; Agora's uids are far below it."""


@dataclass(frozen=True, slots=True)
class WindowRow:
    """One fetched 20 s window: ``uid`` None is project or channel scope."""

    ts: int
    value: float
    uid: int | None = None


class WindowValues(Mapping[int, float]):
    """An immutable ``{window_ts: value}`` of one uid, sorted by window start."""

    __slots__ = ("_ts", "_values")

    def __init__(self, items: Iterable[tuple[int, float]] = ()) -> None:
        merged = dict(items)
        ordered = sorted(merged)
        self._ts = array("q", ordered)
        self._values = array("d", [merged[ts] for ts in ordered])

    @classmethod
    def from_sorted(cls, ts: array[int], values: array[float]) -> WindowValues:
        """Wrap arrays already sorted by ``ts`` without duplicates (no copy: hand them over)."""
        made = cls.__new__(cls)
        made._ts = ts
        made._values = values
        return made

    def merged(self, newer: Mapping[int, float]) -> WindowValues:
        """A copy with ``newer`` upserted (a window fetched again replaces the old value)."""
        if not newer:
            return self
        first_new = min(newer)
        if not self._ts or first_new > self._ts[-1]:
            ordered = sorted(newer)
            ts = array("q", self._ts)
            ts.extend(ordered)
            values = array("d", self._values)
            values.extend([newer[one] for one in ordered])
            return self.from_sorted(ts, values)
        combined = dict(zip(self._ts, self._values, strict=True))
        combined.update(newer)
        return WindowValues(combined.items())

    def sharing_starts(self, other: WindowValues) -> WindowValues:
        """Self, reusing ``other``'s array of window starts when both hold the same starts.

        The uids of one series nearly always have the same windows: sharing
        their starts saves 8 of the 16 bytes a window takes.
        """
        if self._ts is other._ts or self._ts != other._ts:
            return self
        return self.from_sorted(other._ts, self._values)

    def since(self, oldest: int, *, keep_newest: bool = False) -> WindowValues:
        """The windows starting at or after ``oldest`` (and the newest one, if ``keep_newest``)."""
        cut = bisect.bisect_left(self._ts, oldest)
        if keep_newest:
            cut = min(cut, len(self._ts) - 1)
        if cut <= 0:
            return self
        return self.from_sorted(self._ts[cut:], self._values[cut:])

    @property
    def first_ts(self) -> int | None:
        return self._ts[0] if self._ts else None

    def newest(self) -> tuple[int, float] | None:
        if not self._ts:
            return None
        return self._ts[-1], self._values[-1]

    def __getitem__(self, ts: int) -> float:
        at = bisect.bisect_left(self._ts, ts)
        if at < len(self._ts) and self._ts[at] == ts:
            return self._values[at]
        raise KeyError(ts)

    def __contains__(self, ts: object) -> bool:
        if not isinstance(ts, int):
            return False
        at = bisect.bisect_left(self._ts, ts)
        return at < len(self._ts) and self._ts[at] == ts

    def __iter__(self) -> Iterator[int]:
        return iter(self._ts)

    def __len__(self) -> int:
        return len(self._ts)

    def __repr__(self) -> str:
        return f"WindowValues({dict(self.items())!r})"


@dataclass(frozen=True, eq=False)
class SeriesData:
    """Every window stored for one series, as one immutable value."""

    newest_ts: int | None
    """The newest window stored with a value (for any uid)."""
    values: Mapping[int | None, Mapping[int, float]]
    version: object = field(default_factory=object, repr=False)
    """The same object while what a scrape can show of the series stays the same.

    Anything upserted makes a new one; :meth:`since` keeps it while every uid
    keeps its newest window (its callers only cut windows no scrape shows).
    """

    fetched_ts: int | None = None
    """The newest window the API has answered for (the cursor's window before), with a
    value or without one: a window without users is fetched too. None: never polled."""

    def fetched_up_to(self, cursor: int) -> SeriesData:
        """This series with its cursor at ``cursor`` (a new version when it moved on)."""
        fetched = cursor - WINDOW_S
        if fetched == self.fetched_ts:
            return self
        return replace(self, fetched_ts=fetched, version=object())

    def value_at(self, ts: int, uid: int | None = None) -> float | None:
        windows = self.values.get(uid)
        return None if windows is None else windows.get(ts)

    def newest(self, uid: int | None = None) -> tuple[int, float] | None:
        """The newest (window start, value) stored for ``uid``."""
        windows = self.values.get(uid)
        if not windows:
            return None
        if isinstance(windows, WindowValues):
            return windows.newest()
        ts = max(windows)
        return ts, windows[ts]

    @classmethod
    def of(cls, values: Mapping[int | None, WindowValues]) -> SeriesData:
        """Build from per-uid windows, dropping empty uids and deriving ``newest_ts``."""
        kept = {uid: windows for uid, windows in values.items() if windows}
        first = next(iter(kept.values()), EMPTY_WINDOWS)
        kept = {uid: windows.sharing_starts(first) for uid, windows in kept.items()}
        newest = [found[0] for found in (one.newest() for one in kept.values()) if found]
        return cls(newest_ts=max(newest, default=None), values=MappingProxyType(kept))

    def upserted(self, rows: Iterable[WindowRow]) -> SeriesData:
        """A copy with ``rows`` upserted (last wins among duplicates)."""
        by_uid: dict[int | None, dict[int, float]] = {}
        for row in rows:
            by_uid.setdefault(row.uid, {})[row.ts] = float(row.value)
        if not by_uid:
            return self
        values = dict(self._windows())
        for uid, newer in by_uid.items():
            values[uid] = values.get(uid, EMPTY_WINDOWS).merged(newer)
        return replace(SeriesData.of(values), fetched_ts=self.fetched_ts)

    def since(self, oldest: int, *, keep_newest: bool = False) -> SeriesData:
        """A copy without windows starting before ``oldest`` (self when none are).

        ``keep_newest`` keeps each uid's newest window however old: what the
        newest-window family and ``latest`` mode show.
        """
        windows = self._windows()
        kept = {uid: one.since(oldest, keep_newest=keep_newest) for uid, one in windows.items()}
        if all(kept[uid] is one for uid, one in windows.items()):
            return self
        trimmed = replace(SeriesData.of(kept), fetched_ts=self.fetched_ts)
        if trimmed.values.keys() == self.values.keys():  # every uid's newest is still there
            return replace(trimmed, version=self.version)
        return trimmed

    def _windows(self) -> dict[int | None, WindowValues]:
        return {
            uid: one if isinstance(one, WindowValues) else WindowValues(one.items())
            for uid, one in self.values.items()
        }


EMPTY_WINDOWS = WindowValues()
EMPTY_SERIES = SeriesData(newest_ts=None, values=MappingProxyType({}))


Position = tuple[ChangeLog | None, int]
"""A snapshot's store's change log (None: none) and its generation in it."""


class StoreSnapshot:
    """A frozen view of every series at one instant; reading it takes no lock."""

    __slots__ = ("__weakref__", "_changes", "_series", "generation", "windows_missed_total")

    def __init__(
        self, series: Mapping[str, SeriesData] | None = None, windows_missed_total: int = 0
    ) -> None:
        self._series: Mapping[str, SeriesData] = MappingProxyType(dict(series or {}))
        self.windows_missed_total = windows_missed_total
        self._changes: ChangeLog | None = None
        self.generation = 0
        """The store's change log's generation when it was taken."""

    @classmethod
    def adopt(
        cls,
        series: dict[str, SeriesData],
        windows_missed_total: int,
        changes: ChangeLog | None = None,
    ) -> StoreSnapshot:
        """Wrap a dict nobody else will change (no second copy); ``changes``: the store's log."""
        made = cls.__new__(cls)
        made._series = MappingProxyType(series)
        made.windows_missed_total = windows_missed_total
        made._changes = changes
        made.generation = 0 if changes is None else changes.generation
        return made

    @property
    def position(self) -> Position:
        """Where this snapshot is in its store's changes: ask a later one what changed since."""
        return self._changes, self.generation

    def changed_since(self, position: Position) -> Sequence[str] | None:
        """The keys of the series that may differ from the snapshot at ``position`` (of the
        same store, taken before); None when that is not known: compare every series."""
        changes, generation = position
        if changes is None or changes is not self._changes:
            return None
        return changes.between(generation, self.generation)

    def get(self, series_key: str) -> SeriesData | None:
        return self._series.get(series_key)

    def keys(self) -> KeysView[str]:
        return self._series.keys()

    def items(self) -> Iterable[tuple[str, SeriesData]]:
        return self._series.items()

    def __getitem__(self, series_key: str) -> SeriesData:
        return self._series[series_key]

    def __contains__(self, series_key: object) -> bool:
        return series_key in self._series

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    def __repr__(self) -> str:
        return (
            f"StoreSnapshot({len(self._series)} series, "
            f"windows_missed_total={self.windows_missed_total})"
        )


def check_rows(rows: Iterable[WindowRow]) -> None:
    """Reject uids SQLite cannot hold (or that clash with NULL's -1), before anything is written."""
    for row in rows:
        if row.uid is not None and not 0 <= row.uid <= MAX_UID:
            raise ValueError(f"uid {row.uid} is outside 0..{MAX_UID}")
