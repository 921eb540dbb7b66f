"""Which window each series shows at scrape time: pure, no I/O.

``replay`` (the default) shows, at scrape time ``t``, the window that started
at ``floor20(t - lag)``, each series with the lag of its own poll interval:
with one poll every few minutes this walks Prometheus through every fetched
window in order, so a freeze spike in any one window reaches alert rules,
late by ``lag``. ``latest`` shows the newest window
fetched. A window the API did not return is absent, never zero and never the
previous value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from exporter.realtime.series import Series
from exporter.timing.windows import replay_window


class Mode(StrEnum):
    REPLAY = "replay"
    LATEST = "latest"


class SeriesWindows(Protocol):
    """What the view needs of one series' stored windows."""

    @property
    def newest_ts(self) -> int | None: ...

    @property
    def fetched_ts(self) -> int | None:
        """The newest window the API answered for, with users or without."""
        ...

    def value_at(self, ts: int, uid: int | None = None) -> float | None: ...

    def newest(self, uid: int | None = None) -> tuple[int, float] | None: ...

    @property
    def version(self) -> object:
        """The same object while what the series shows stays the same (caches key on it)."""
        ...


class WindowSource(Protocol):
    def get(self, series_key: str) -> SeriesWindows | None: ...


@dataclass(frozen=True)
class SeriesTiming:
    """How often one series is polled, and how far behind real time replay shows it."""

    interval_s: int
    lag_s: int


LagOf = Callable[[Series], float]
"""The replay lag of a series (each series has its own, from its own interval)."""


@dataclass(frozen=True)
class Shown:
    """One sample to expose: a series (and uid) at one window."""

    series: Series
    uid: int | None
    window_ts: int
    value: float


def shown_windows(
    series: Sequence[Series],
    windows: WindowSource,
    *,
    now: float,
    mode: Mode,
    lag_s: LagOf,
) -> Iterator[Shown]:
    """Yield the sample each series (and each of its uids) shows at ``now``."""
    for one in series:
        data = windows.get(one.key)
        if data is None or data.newest_ts is None:
            continue
        target = replay_window(now, lag_s(one)) if mode is Mode.REPLAY else None
        for uid in one.uids or (None,):
            newest = data.newest(uid)
            if newest is None:
                continue
            if target is None:
                yield Shown(one, uid, newest[0], newest[1])
                continue
            value = data.value_at(target, uid)
            if value is not None:
                yield Shown(one, uid, target, value)
