"""OpenMetrics history for ``promtool tsdb create-blocks-from openmetrics``: pure, no I/O.

The live ``/metrics`` shows one window per series at a time; this renders every
stored window instead, each sample stamped with its window's start in Unix
seconds, under the same family names, HELP texts and labels the collector uses
(both take them from :mod:`exporter.catalog` and the series from
:func:`exporter.scheduling.planner.expand_series`), so imported history lines up with
live data. The text follows OpenMetrics as promtool reads it::

    # HELP agora_realtime_users Users in channels (whole project), from ...
    # TYPE agora_realtime_users gauge
    agora_realtime_users{appid="0123...",product_type="Native"} 17.0 1763996420
    agora_realtime_users{appid="0123...",product_type="Native"} 18.0 1763996440
    # EOF

Daily and hourly insight points come out the same way under their
``agora_daily_*`` / ``agora_hourly_*`` families, each at the API's own ``ts``
and in the family's unit (durations in seconds), as the collector shows them.
Each family appears once; each label set's samples are contiguous and in time
order. A window the API did not return is absent, as on ``/metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from exporter.catalog.insight import INSIGHT_METRICS, Granularity
from exporter.catalog.realtime import REALTIME_METRICS, SCOPE_LABELS, Scope
from exporter.insight.series import InsightSeries
from exporter.realtime.series import Series

EOF = "# EOF\n"

Labels = tuple[tuple[str, str], ...]
Points = Mapping[int, float]
"""``{sample timestamp in Unix seconds: value}`` of one label set."""


class StoredWindows(Protocol):
    """What the export needs of one series' stored windows (``SeriesData`` has it)."""

    @property
    def values(self) -> Mapping[int | None, Mapping[int, float]]: ...


class WindowStore(Protocol):
    """A store snapshot: stored windows by series key."""

    def get(self, series_key: str) -> StoredWindows | None: ...


@dataclass(frozen=True)
class TimeRange:
    """Which samples to export: ``since <= ts < until``; None is unbounded."""

    since: float | None = None
    until: float | None = None

    def __contains__(self, ts: object) -> bool:
        if not isinstance(ts, int | float):
            return False
        return (self.since is None or ts >= self.since) and (self.until is None or ts < self.until)


@dataclass
class Family:
    """One gauge family and the points of each of its label sets, in insertion order."""

    name: str
    help: str
    members: dict[Labels, list[Points]] = field(default_factory=dict)

    def add(self, labels: Labels, points: Points) -> None:
        self.members.setdefault(labels, []).append(points)


@dataclass
class ExportSummary:
    """What one export wrote."""

    samples: int = 0
    label_sets: int = 0
    families: list[str] = field(default_factory=list)
    first_ts: int | None = None
    last_ts: int | None = None

    def count(self, ts: int) -> None:
        self.samples += 1
        self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
        self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)


def series_labels(series: Series, uid: int | None) -> Labels:
    """The labels ``/metrics`` gives ``series`` (and ``uid``): the scope's, in catalog order."""
    values = {
        "appid": series.appid,
        "product_type": series.product_type,
        "cname": series.cname or "",
        "uid": "" if uid is None else str(uid),
    }
    return tuple((name, values[name]) for name in SCOPE_LABELS[series.scope])


def realtime_families(series: Sequence[Series], store: WindowStore) -> list[Family]:
    """One family per real-time family name of the catalog, holding every stored window.

    Families come in catalog order (metric, then project, channel, user scope);
    label sets in ``series`` order. Families without stored windows are left out.
    """
    families: dict[str, Family] = {}
    for metric in REALTIME_METRICS.values():
        for scope in Scope:
            name = metric.family(scope)
            if name is not None:
                families[name] = Family(name, metric.help_text(scope))
    for one in series:
        data = store.get(one.key)
        if data is None:
            continue
        for uid in one.uids or (None,):
            points = data.values.get(uid)
            if points:
                families[one.family].add(series_labels(one, uid), points)
    return [family for family in families.values() if family.members]


def insight_labels(series: InsightSeries) -> Labels:
    """The labels ``/metrics`` gives a daily or hourly series: ``appid`` (+ ``product_type``)."""
    values = {"appid": series.appid, "product_type": series.product_type or ""}
    return tuple((name, values[name]) for name in series.catalog.labels)


def insight_families(
    series: Sequence[InsightSeries], *sources: Mapping[str, Points]
) -> list[Family]:
    """The daily (then hourly) families, each point at the API's own ``ts``.

    Values are converted to the family's unit (durations: minutes to seconds).
    ``sources`` are ``{series key: points}`` in the API's unit; a later source
    wins for a ``ts`` both hold (fetched history over stored points).
    """
    families: dict[str, Family] = {}
    for granularity in (Granularity.DAY, Granularity.HOUR):
        for metric in INSIGHT_METRICS.values():
            name = metric.family(granularity)
            if name is not None:
                families[name] = Family(name, metric.help_text(granularity))
    for one in series:
        scale = one.catalog.scale
        for source in sources:
            points = source.get(one.key)
            if points:
                scaled = {ts: value * scale for ts, value in points.items()}
                families[one.family].add(insight_labels(one), scaled)
    return [family for family in families.values() if family.members]


def _escape(text: str) -> str:
    """OpenMetrics' escaped-string, for label values and HELP alike."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    """A float as OpenMetrics writes it; ``repr`` round-trips exactly through Go's parser."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _label_text(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels)
    return "{" + inner + "}"


def _merged(sources: list[Points]) -> Iterator[tuple[int, float]]:
    if len(sources) == 1:
        yield from sorted(sources[0].items())
        return
    combined: dict[int, float] = {}
    for points in sources:
        combined.update(points)
    yield from sorted(combined.items())


def write_openmetrics(
    out: TextIO, families: Iterable[Family], *, time_range: TimeRange | None = None
) -> ExportSummary:
    """Write ``families`` (samples inside ``time_range``) and ``# EOF``; says what was written.

    Samples are streamed: memory stays at one label set's points, not the file.
    """
    wanted = time_range or TimeRange()
    summary = ExportSummary()
    for family in families:
        header_written = False
        for labels, sources in family.members.items():
            label_text = _label_text(labels)
            lines = []
            for ts, value in _merged(sources):
                if ts not in wanted:
                    continue
                lines.append(f"{family.name}{label_text} {format_value(value)} {int(ts)}\n")
                summary.count(int(ts))
            if not lines:
                continue
            if not header_written:
                out.write(f"# HELP {family.name} {_escape(family.help)}\n")
                out.write(f"# TYPE {family.name} gauge\n")
                summary.families.append(family.name)
                header_written = True
            out.writelines(lines)
            summary.label_sets += 1
    out.write(EOF)
    return summary
