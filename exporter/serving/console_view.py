"""What /metrics shows of the Agora Console alert bridge (``exporter/console/``). Pure.

The bridge comes after ``serving`` in the data flow, so the snapshot type it
fills, and the protocol the daemon runs it by, live here, where the collector
and the scrape source read it. Every label is bounded: kinds
and reasons are fixed sets, Alertmanagers come from the configuration, and at
most ``MAX_PROJECTS`` project names are kept (the bridge keeps the newest).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.catalog.families import counter_of, gauge_of
from exporter.catalog.own import (
    CONSOLE_ACCEPTED,
    CONSOLE_ACTIVE,
    CONSOLE_DUPLICATES,
    CONSOLE_FORWARD_FAILURES,
    CONSOLE_FORWARDED,
    CONSOLE_LAST_ALERT,
    CONSOLE_QUEUE_DEPTH,
    CONSOLE_REJECTED,
    SelfMetric,
)
from exporter.settings import Settings

MAX_PROJECTS = 100
KINDS = ("event", "metric")
REJECT_REASONS = (
    "source",
    "not_found",
    "token",
    "method",
    "rate_limited",
    "length_required",
    "too_large",
    "invalid_json",
    "not_an_alert",
    "unavailable",
)
"""Why a request got no 200: the ``reason`` label of the rejected counter."""


@dataclass(frozen=True)
class ConsoleAlertState:
    """The bridge's counters and gauges at one instant; ``enabled`` False shows nothing."""

    enabled: bool = False
    accepted: Mapping[str, int] = field(default_factory=dict)
    duplicates: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    forwarded: Mapping[str, int] = field(default_factory=dict)
    forward_failures: Mapping[str, int] = field(default_factory=dict)
    queue_depth: int = 0
    active: int = 0
    last_alert: Mapping[str, float] = field(default_factory=dict)


EMPTY_CONSOLE = ConsoleAlertState()


class ConsoleRunner(Protocol):
    """What the daemon does with the bridge: start, stop, reload, and read its state."""

    def state(self) -> ConsoleAlertState: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reload(self, settings: Settings) -> None: ...


class _NoConsole:
    """No bridge at all (a ScrapeSource built without one)."""

    def state(self) -> ConsoleAlertState:
        return EMPTY_CONSOLE

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def reload(self, settings: Settings) -> None:
        pass


NO_CONSOLE: ConsoleRunner = _NoConsole()


def _counter(metric: SelfMetric, values: Mapping[str, int] | int) -> CounterMetricFamily:
    family = counter_of(metric)
    if isinstance(values, int):
        family.add_metric([], float(values))
    else:
        for label, value in sorted(values.items()):
            family.add_metric([label], float(value))
    return family


def _gauge(metric: SelfMetric, values: Mapping[str, float] | float) -> GaugeMetricFamily:
    family = gauge_of(metric)
    if isinstance(values, int | float):
        family.add_metric([], float(values))
    else:
        for label, value in sorted(values.items()):
            family.add_metric([label], float(value))
    return family


def console_alert_families(state: ConsoleAlertState) -> Iterator[Metric]:
    """The ``agora_exporter_console_alerts_*`` families; none while the bridge is off."""
    if not state.enabled:
        return
    yield _counter(CONSOLE_ACCEPTED, {kind: state.accepted.get(kind, 0) for kind in KINDS})
    yield _counter(CONSOLE_DUPLICATES, state.duplicates)
    yield _counter(
        CONSOLE_REJECTED, {reason: state.rejected.get(reason, 0) for reason in REJECT_REASONS}
    )
    yield _counter(CONSOLE_FORWARDED, state.forwarded)
    yield _counter(CONSOLE_FORWARD_FAILURES, state.forward_failures)
    yield _gauge(CONSOLE_QUEUE_DEPTH, state.queue_depth)
    yield _gauge(CONSOLE_ACTIVE, state.active)
    yield _gauge(CONSOLE_LAST_ALERT, state.last_alert)
