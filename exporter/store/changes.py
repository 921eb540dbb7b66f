"""Which series changed, in order: what lets a scrape re-render only those, without a scan.

Every change the store publishes (a commit, a prune, windows read back, series
forgotten) adds the keys it touched to the :class:`ChangeLog`; each snapshot
carries the log's generation when it was taken. A reader that has caught up
with one snapshot asks a later one which keys changed since: a few keys after a
commit, where comparing every series' version took 2 ms at 4,010 series.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

KEEP = 1 << 16
"""Keys kept at least (the log drops its older half past twice as many): 16 prunes'
worth at 4,010 series; a reader further behind compares every series instead."""


class ChangeLog:
    """The keys of every change, in order; ``generation`` counts them all."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._lock = threading.Lock()  # readers slice while the store's writer appends
        self._keys: list[str] = []
        self._first = 0  # the generation of _keys[0]

    @property
    def generation(self) -> int:
        with self._lock:
            return self._first + len(self._keys)

    def add(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._keys.extend(keys)
            if len(self._keys) > 2 * self._keep:
                dropped = len(self._keys) - self._keep
                self._keys = self._keys[dropped:]
                self._first += dropped

    def between(self, since: int, until: int) -> Sequence[str] | None:
        """The keys changed after generation ``since`` up to ``until`` (maybe repeated);
        None when the log no longer reaches back that far."""
        with self._lock:
            if since < self._first or until < since:
                return None
            return self._keys[since - self._first : until - self._first]
