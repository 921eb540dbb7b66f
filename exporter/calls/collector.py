"""The Call Inspector families of a scrape: pure, from one :class:`CallState`.

Only families with samples are written (``agora_call_session_info`` too: one
per user of an inspected call), plus the call self-metrics whenever calls are
enabled (the skip counters with every reason from the start, so
``rate()`` works at once). Values are converted to the family's unit here.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.calls.view import CallState, session_info, shown_samples
from exporter.catalog import calls as catalog
from exporter.catalog.families import counter_of, gauge_of


def call_families(state: CallState) -> Iterator[Metric]:
    """Every call family for one scrape (nothing when calls are off and none is stored)."""
    if not state.enabled and not state.calls:
        return
    families: dict[str, GaugeMetricFamily] = {}
    undocumented = GaugeMetricFamily(
        catalog.UNDOCUMENTED_FAMILY,
        catalog.UNDOCUMENTED_HELP,
        labels=list(catalog.UNDOCUMENTED_LABELS),
    )
    newest: dict[tuple[str, str, str], int] = {}
    for shown in shown_samples(state.calls):
        labels = shown.labels
        metric = catalog.CALL_METRICS.get(shown.mid)
        if metric is None:
            undocumented.add_metric([*labels, str(shown.mid)], shown.value)
        else:
            if metric.family not in families:
                families[metric.family] = GaugeMetricFamily(
                    metric.family, metric.help_text, labels=list(catalog.CALL_LABELS)
                )
            families[metric.family].add_metric(labels, shown.exposed_value)
        user = (labels[0], labels[1], labels[2])
        newest[user] = max(newest.get(user, shown.ts), shown.ts)
    for metric in catalog.CALL_METRICS.values():
        if metric.family in families:
            yield families[metric.family]
    if undocumented.samples:
        yield undocumented
    stamps = gauge_of(catalog.SAMPLE_TIMESTAMP)
    for user, ts in sorted(newest.items()):
        stamps.add_metric(list(user), float(ts))
    yield stamps
    info = gauge_of(catalog.SESSION_INFO)
    for user_info in session_info(state.calls):
        info.add_metric(list(user_info), 1.0)
    if info.samples:
        yield info
    yield from _self_families(state)


def _self_families(state: CallState) -> Iterator[Metric]:
    ongoing = gauge_of(catalog.ONGOING)
    for appid, count in sorted(state.ongoing.items()):
        ongoing.add_metric([appid], float(count))
    yield ongoing
    inspected = gauge_of(catalog.INSPECTED)
    per_app: dict[str, int] = dict.fromkeys(state.ongoing, 0)
    for call in state.calls:
        per_app[call.appid] = per_app.get(call.appid, 0) + 1
    for appid, count in sorted(per_app.items()):
        inspected.add_metric([appid], float(count))
    yield inspected
    skipped = counter_of(catalog.SKIPPED)
    reasons = dict.fromkeys(catalog.SKIP_REASONS, 0) | dict(state.skipped)
    for reason, count in sorted(reasons.items()):
        skipped.add_metric([reason], float(count))
    yield skipped
    unknown = counter_of(catalog.UNKNOWN)
    for mid, count in sorted(state.unknown_mids.items()):
        unknown.add_metric([str(mid)], float(count))
    yield unknown
