"""Families read from one stage's state alone: Data Insights points and request statistics.

Pure, like the collector that yields them (:mod:`exporter.serving.collector`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from exporter.catalog.families import counter_of, gauge_of
from exporter.catalog.insight import Granularity
from exporter.catalog.own import (
    API_DURATION,
    API_REQUESTS,
    DAILY_TIMESTAMP,
    HOURLY_TIMESTAMP,
    UP,
)
from exporter.insight.view import InsightState
from exporter.quota.request_stats import DURATION_BUCKETS, StatsSnapshot


def insight_point_families(insight: InsightState) -> Iterator[Metric]:
    """The daily (and hourly) families of the configured insight series, with their ``ts``."""
    granularities = sorted({one.granularity for one in insight.series}, key=lambda g: -g.seconds)
    stamps = {Granularity.DAY: DAILY_TIMESTAMP, Granularity.HOUR: HOURLY_TIMESTAMP}
    for granularity in granularities:
        families: dict[str, GaugeMetricFamily] = {}
        for one in insight.series:
            if one.granularity is granularity and one.family not in families:
                families[one.family] = GaugeMetricFamily(
                    one.family,
                    one.catalog.help_text(granularity),
                    labels=list(one.catalog.labels),
                )
        stamp = stamps[granularity]
        shown_at = gauge_of(stamp)
        for shown in insight.shown:
            series = shown.series
            if series.granularity is not granularity:
                continue
            labels = [series.appid] + ([series.product_type] if series.product_type else [])
            families[series.family].add_metric(labels, shown.exposed_value)
            shown_at.add_metric(
                [series.appid, series.product_type or "", series.metric], float(shown.ts)
            )
        yield from families.values()
        yield shown_at


def request_families(stats: StatsSnapshot) -> Iterator[Metric]:
    requests = counter_of(API_REQUESTS)
    for (endpoint, outcome), count in sorted(stats.requests.items()):
        requests.add_metric([endpoint, outcome], float(count))
    yield requests
    durations = HistogramMetricFamily(
        API_DURATION.name,
        API_DURATION.help,
        labels=list(API_DURATION.labels),
    )
    for endpoint, histogram in sorted(stats.durations.items()):
        cumulative, buckets = 0, []
        for bound, count in zip(DURATION_BUCKETS, histogram.bucket_counts, strict=True):
            cumulative += count
            buckets.append((repr(bound), float(cumulative)))
        buckets.append(("+Inf", float(histogram.count)))
        durations.add_metric([endpoint], buckets, histogram.total_s)
    yield durations
    up = gauge_of(UP)
    for appid, is_up in sorted(stats.up.items()):
        up.add_metric([appid], 1.0 if is_up else 0.0)
    yield up
