"""An insight series: one Data Insights request shape, fetched once per pass.

One series is one (app, metric[, product type][, granularity]): exactly one
request per pass, whatever frame it asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.catalog.insight import INSIGHT_METRICS, Granularity, InsightMetric
from exporter.catalog.polled import PolledSeries


@dataclass(frozen=True, order=True)
class InsightSeries(PolledSeries):
    appid: str
    metric: str
    """The reference's spelling (``peakCurrentUsers``), whatever the API accepts."""
    product_type: str | None = None
    """None for usage metrics; quality metrics are asked per product type."""
    granularity: Granularity = Granularity.DAY

    @property
    def key(self) -> str:
        """Stable identifier used by the store; survives restarts and reordering."""
        parts = ("insight", self.appid, self.metric, self.product_type or "", self.granularity)
        return "/".join(parts)

    @property
    def catalog(self) -> InsightMetric:
        return INSIGHT_METRICS[self.metric]

    @property
    def family(self) -> str:
        family = self.catalog.family(self.granularity)
        assert family is not None, f"{self.metric} has no {self.granularity} family"
        return family

    @property
    def daily(self) -> bool:
        return self.granularity is Granularity.DAY

    def describe(self) -> str:
        """Human name for logs, ``plan`` and the status page (no secrets)."""
        period = "daily" if self.daily else "hourly"
        product = f" {self.product_type}" if self.product_type else ""
        return f"{self.metric} {period} appid={self.appid}{product}"
