"""Grafana JSON primitives: panels, variables, the grid layout and the dashboard envelope.

Every panel reads the ``datasource`` variable (never ``__inputs``), carries a
description and a unit, and is placed on Grafana's 24-column grid by
:func:`layout`, so the dashboard modules only say what to show.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
GRID_WIDTH = 24
ALL_VALUE = ".+"


@dataclass(frozen=True)
class Query:
    """One PromQL target; ``instant`` for tables and single values."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Band:
    """A healthy band: at most ``limit`` when ``upper``, else at least ``limit``.

    The limit itself is healthy (Agora's bands read "freeze <= 3 %", "join within
    5 s >= 95 %"), on the dashboards and in the alerts alike: an alert fires on
    :meth:`comparison`, and :meth:`steps` colour red exactly the values it holds for.
    """

    limit: float
    upper: bool

    def comparison(self) -> str:
        """The PromQL comparison that holds outside the band: ``> 0.03``, ``< 0.95``."""
        return f"{'>' if self.upper else '<'} {self.limit:g}"

    def breached_by(self, value: float) -> bool:
        """Whether ``value`` lies outside the band (what :meth:`comparison` tests)."""
        return value > self.limit if self.upper else value < self.limit

    def steps(self) -> list[Json]:
        """Grafana threshold steps; Grafana colours a value with the last step <= it.

        A lower band turns green at its limit. An upper band turns red at the next
        float above its limit (0.030000000000000002 for 3 %), so the limit stays
        green as ``> 0.03`` stays false: Grafana has no strict comparison.
        """
        if self.upper:
            red_from = math.nextafter(self.limit, math.inf)
            return [{"color": "green", "value": None}, {"color": "red", "value": red_from}]
        return [{"color": "red", "value": None}, {"color": "green", "value": self.limit}]

    def describe(self) -> str:
        sign = "<=" if self.upper else ">="
        return f"healthy {sign} {self.limit * 100:g} %"


NEUTRAL_STEPS: list[Json] = [{"color": "green", "value": None}]


def _targets(queries: Sequence[Query], *, table: bool = False) -> list[Json]:
    targets = []
    for index, query in enumerate(queries):
        target: Json = {
            "refId": chr(ord("A") + index),
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "range": not query.instant,
            "instant": query.instant,
        }
        if table:
            target["format"] = "table"
        targets.append(target)
    return targets


def _defaults(unit: str, steps: list[Json], **extra: Any) -> Json:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": "thresholds" if steps is not NEUTRAL_STEPS else "palette-classic"},
        "thresholds": {"mode": "absolute", "steps": steps},
        "mappings": extra.pop("mappings", []),
    }
    defaults.update({key: value for key, value in extra.items() if value is not None})
    return defaults


def _panel(kind: str, title: str, description: str, size: tuple[int, int]) -> Json:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": 0, "y": 0, "w": size[0], "h": size[1]},
    }


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    band: Band | None = None,
    stack: bool = False,
    time_from: str | None = None,
    size: tuple[int, int] = (12, 8),
) -> Json:
    """A graph; a band is drawn as green and red areas around its limit."""
    panel = _panel("timeseries", title, description, size)
    steps = band.steps() if band else NEUTRAL_STEPS
    custom: Json = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 10 if stack else 0,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if band else "off"},
    }
    defaults = _defaults(unit, steps, custom=custom, min=0)
    defaults["color"] = {"mode": "palette-classic"}
    panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
    panel["options"] = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    panel["targets"] = _targets(queries)
    if time_from:
        panel["timeFrom"] = time_from
    return panel


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    band: Band | None = None,
    steps: list[Json] | None = None,
    mappings: list[Json] | None = None,
    text_mode: str = "auto",
    size: tuple[int, int] = (4, 4),
) -> Json:
    """A single value per series: the last one in the range."""
    panel = _panel("stat", title, description, size)
    chosen = steps or (band.steps() if band else NEUTRAL_STEPS)
    panel["fieldConfig"] = {
        "defaults": _defaults(unit, chosen, mappings=mappings or []),
        "overrides": [],
    }
    panel["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": text_mode,
    }
    panel["targets"] = _targets(queries)
    return panel


def table(
    title: str,
    description: str,
    columns: Mapping[str, tuple[Query, Band | None]],
    *,
    unit: str,
    sort_by: str | None = None,
    descending: bool = True,
    size: tuple[int, int] = (12, 8),
) -> Json:
    """Instant queries merged on their labels, one coloured column per query."""
    panel = _panel("table", title, description, size)
    queries = [query for query, _ in columns.values()]
    overrides = []
    rename = {}
    for index, (name, (_, band)) in enumerate(columns.items()):
        value_field = "Value" if len(columns) == 1 else f"Value #{chr(ord('A') + index)}"
        rename[value_field] = name
        properties: list[Json] = [{"id": "custom.cellOptions", "value": {"type": "color-text"}}]
        if band is not None:
            steps = {"mode": "absolute", "steps": band.steps()}
            properties.append({"id": "thresholds", "value": steps})
        overrides.append({"matcher": {"id": "byName", "options": name}, "properties": properties})
    panel["fieldConfig"] = {"defaults": _defaults(unit, NEUTRAL_STEPS), "overrides": overrides}
    hidden = {"Time": True, "__name__": True, "job": True, "instance": True}
    panel["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": hidden, "renameByName": rename}},
    ]
    sort = [{"displayName": sort_by, "desc": descending}] if sort_by else []
    panel["options"] = {"showHeader": True, "sortBy": sort, "cellHeight": "sm"}
    panel["targets"] = _targets(queries, table=True)
    return panel


def text(title: str, markdown: str, *, size: tuple[int, int] = (24, 3)) -> Json:
    """A note in Markdown (no query, no unit)."""
    return {
        "type": "text",
        "title": title,
        "gridPos": {"x": 0, "y": 0, "w": size[0], "h": size[1]},
        "options": {"mode": "markdown", "content": markdown},
    }


def row(title: str, panels: Sequence[Json] = ()) -> Json:
    """A row; given ``panels``, a collapsed row holding them (queried only once opened)."""
    return {
        "type": "row",
        "title": title,
        "collapsed": bool(panels),
        "panels": list(panels),
        "gridPos": {"x": 0, "y": 0, "w": GRID_WIDTH, "h": 1},
    }


def widths(count: int, per_line: int) -> list[int]:
    """Widths that fill every line: ``count`` panels, at most ``per_line`` to a line."""
    found: list[int] = []
    while len(found) < count:
        on_line = min(per_line, count - len(found))
        found += [GRID_WIDTH // on_line] * on_line
    return found


def layout(panels: Sequence[Json]) -> list[Json]:
    """Place panels left to right, wrapping at 24 columns; rows start a new line.

    A collapsed row's panels are placed below it as Grafana shows them once the
    row is opened; ids number every panel, nested ones included, from 1.
    """
    return _place(panels, top=0, ids=itertools.count(1))


def _place(panels: Sequence[Json], *, top: int, ids: Iterator[int]) -> list[Json]:
    placed: list[Json] = []
    x, y, line_height = 0, top, 0
    for original in panels:
        panel = dict(original)
        grid = dict(panel["gridPos"])
        is_row = panel["type"] == "row"
        if is_row or x + grid["w"] > GRID_WIDTH:
            y, x, line_height = y + line_height, 0, 0
        grid["x"], grid["y"] = x, y
        x += grid["w"]
        line_height = max(line_height, grid["h"])
        panel["gridPos"] = grid
        panel["id"] = next(ids)
        if is_row:
            y, x, line_height = y + grid["h"], 0, 0
            if panel["panels"]:
                panel["panels"] = _place(panel["panels"], top=y, ids=ids)
        placed.append(panel)
    return placed


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }


def query_variable(name: str, label: str, metric: str, label_name: str, description: str) -> Json:
    """A multi-value variable from ``label_values(metric, label_name)``, "All" matching ``.+``."""
    definition = f"label_values({metric}, {label_name})"
    return {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": definition,
        "query": definition,
        "current": {},
        "hide": 0,
        "includeAll": True,
        "allValue": ALL_VALUE,
        "multi": True,
        "options": [],
        "refresh": 2,
        "regex": "",
        "sort": 1,
    }


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    variables: Sequence[Json],
    panels: Sequence[Json],
    time_from: str = "now-3h",
) -> Json:
    """The envelope: fixed uid, the ``agora`` tag and links to the other Agora dashboards."""
    links = {
        "title": "Agora dashboards",
        "type": "dashboards",
        "tags": ["agora"],
        "asDropdown": True,
        "includeVars": True,
        "keepTime": True,
        "icon": "external link",
        "targetBlank": False,
        "tooltip": "",
        "url": "",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["agora", "agora-exporter"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": "1m",
        "links": [links],
        "annotations": {"list": []},
        "templating": {"list": list(variables)},
        "panels": layout(panels),
    }
