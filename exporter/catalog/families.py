"""Empty Prometheus families for the catalog's descriptions of the exporter's own metrics.

:class:`~exporter.catalog.own.SelfMetric` and
:class:`~exporter.catalog.calls.CallSelfMetric` name a family, its labels and its
HELP text; the collectors fill the families these make.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class Described(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def help(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


def gauge_of(one: Described) -> GaugeMetricFamily:
    return GaugeMetricFamily(one.name, one.help, labels=list(one.labels))


def counter_of(one: Described) -> CounterMetricFamily:
    """The counter family (named without ``_total``: prometheus_client adds it)."""
    return CounterMetricFamily(one.name.removesuffix("_total"), one.help, labels=list(one.labels))
