"""The series rows of the status page (``/`` and ``/status.json``), worst first. Pure.

One row per series and uid of the plan, with or without data: series whose
last poll failed first, then the stalest (no window yet, then the oldest
newest window), then the rest, and series paused for want of users last; ties
in series key and uid order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

from exporter.quota.request_stats import SeriesStatus
from exporter.realtime.series import Series
from exporter.serving.collector import CollectorInput


@dataclass(frozen=True)
class SeriesRow:
    """One series (and uid) on the status page: its newest window and its last poll."""

    series: Series
    uid: int | None
    newest_ts: int | None
    """The newest window fetched for this series and uid; None: none yet."""
    status: SeriesStatus | None
    """The series' last poll (shared by its uids); None: not polled since start."""
    paused: bool = False
    """Paused: its product type or channel had no users for the whole horizon."""

    @property
    def failing(self) -> bool:
        """The last poll ended in an error (after its retries), and the series is still
        polled: a paused one is not failing, whatever its last poll before the pause."""
        return not self.paused and self.status is not None and self.status.last_error is not None

    def worst_first(self) -> tuple[bool, bool, bool, int, str, int]:
        """Sort key: failing first, then no window yet, then the oldest newest window;
        paused series last."""
        newest = -1 if self.newest_ts is None else self.newest_ts
        uid = -1 if self.uid is None else self.uid
        key = self.series.key
        return (self.paused, not self.failing, self.newest_ts is not None, newest, key, uid)


def series_rows(data: CollectorInput) -> Iterator[SeriesRow]:
    """Every series and uid of the plan, in plan order, with or without data; then the
    paused ones."""
    for paused, series in ((False, data.series), (True, data.paused)):
        for one in series:
            windows = data.windows.get(one.key)
            status = data.stats.series.get(one.key)
            for uid in one.uids or (None,):
                newest = windows.newest(uid) if windows is not None else None
                yield SeriesRow(one, uid, None if newest is None else newest[0], status, paused)


def worst_rows(data: CollectorInput, limit: int) -> tuple[list[SeriesRow], int]:
    """The ``limit`` worst rows, worst first, and how many rows there are in all."""
    rows = list(series_rows(data))
    return heapq.nsmallest(max(limit, 0), rows, key=SeriesRow.worst_first), len(rows)
