"""A plain in-memory window source for view and collector tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class FakeSeriesWindows:
    values: dict[int | None, dict[int, float]] = field(default_factory=dict)
    fetched: int | None = None
    """The newest window fetched (None: the newest with a value, as if every one had)."""

    @property
    def newest_ts(self) -> int | None:
        stamps = [ts for per_uid in self.values.values() for ts in per_uid]
        return max(stamps) if stamps else None

    @property
    def fetched_ts(self) -> int | None:
        return self.newest_ts if self.fetched is None else self.fetched

    def value_at(self, ts: int, uid: int | None = None) -> float | None:
        return self.values.get(uid, {}).get(ts)

    def newest(self, uid: int | None = None) -> tuple[int, float] | None:
        per_uid = self.values.get(uid)
        if not per_uid:
            return None
        ts = max(per_uid)
        return ts, per_uid[ts]

    @property
    def version(self) -> object:
        return self  # a fake is changed in place: nothing may cache on it


@dataclass
class FakeWindowSource:
    series: Mapping[str, FakeSeriesWindows]

    def get(self, series_key: str) -> FakeSeriesWindows | None:
        return self.series.get(series_key)
