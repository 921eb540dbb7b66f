"""A real-time series: one request shape the exporter polls on a schedule.

One series is one (app, product type, metric, scope[, channel][, up to 10
uids]) combination: exactly one API request per poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from exporter.catalog.polled import PolledSeries
from exporter.catalog.realtime import REALTIME_METRICS, RealtimeMetric, Scope

MAX_UIDS_PER_REQUEST = 10


@dataclass(frozen=True, order=True)
class Series(PolledSeries):
    appid: str
    product_type: str
    metric: str
    scope: Scope
    cname: str | None = None
    uids: tuple[int, ...] = ()

    @cached_property
    def key(self) -> str:
        """Stable identifier used by the store; survives restarts and reordering.

        Worked out once per series (every scrape looks up every series by it)."""
        uids = ",".join(str(uid) for uid in self.uids)
        parts = (self.appid, self.product_type, self.metric, self.scope, self.cname or "", uids)
        return "/".join(parts)

    @property
    def catalog(self) -> RealtimeMetric:
        return REALTIME_METRICS[self.metric]

    @cached_property
    def family(self) -> str:
        family = self.catalog.family(self.scope)
        assert family is not None, f"{self.metric} has no {self.scope} family"
        return family

    def describe(self) -> str:
        """Human name for logs and the status page (no secrets, no appid truncation)."""
        where = "" if self.cname is None else f" cname={self.cname}"
        who = "" if not self.uids else " uids=" + ",".join(str(uid) for uid in self.uids)
        return f"{self.metric} {self.scope} appid={self.appid} {self.product_type}{where}{who}"
