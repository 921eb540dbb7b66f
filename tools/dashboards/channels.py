"""Channel drill-down: pick channels, see their quality, their users', the worst users, calls."""

from __future__ import annotations

from exporter.catalog import calls as calls_catalog
from exporter.catalog.own import WINDOW_TIMESTAMP
from exporter.catalog.realtime import Scope
from tools.dashboards.calls import calls_row, uid_variable
from tools.dashboards.config import Config
from tools.dashboards.families import (
    REPLAY_NOTE,
    TITLES,
    Filters,
    app_variables,
    exporter_variables,
    quality_description,
    quality_metrics,
    realtime,
)
from tools.dashboards.grafana import (
    Json,
    Query,
    dashboard,
    datasource_variable,
    query_variable,
    row,
    table,
    text,
    timeseries,
    widths,
)

UID = "agora-channel"
WORST = 10


def variables(f: Filters) -> list[Json]:
    # Real-time channels of the chosen product types, and inspected calls' channels
    # (call families have no product_type: the empty alternative lets them in).
    shown = f"{WINDOW_TIMESTAMP.name}|{calls_catalog.SAMPLE_TIMESTAMP.name}"
    return [
        datasource_variable(),
        *exporter_variables(f),
        *app_variables(f),
        query_variable(
            "cname",
            "Channel",
            f'{{__name__=~"{shown}", {f.app}, product_type=~"$product_type|", cname!=""}}',
            "cname",
            "Channels listed under apps[].realtime.channels in the exporter's config, and "
            "the channels of the calls the Call Inspector inspects.",
        ),
        uid_variable(f),
    ]


def _channel_panels(f: Filters) -> list[Json]:
    """Users per channel and each rate averaged over the range, per channel."""
    users = realtime("userCount", Scope.CHANNEL)
    columns = {
        TITLES[name]: (
            Query(
                f"avg_over_time({realtime(name, Scope.CHANNEL)}{{{f.channel}}}[$__range])",
                instant=True,
            ),
            f.bands[name],
        )
        for name in quality_metrics()
    }
    return [
        row("Channels"),
        timeseries(
            "Users per channel",
            f"Users in each selected channel per 20 s window ({users}).",
            [Query(f"{users}{{{f.channel}}}", "{{cname}} ({{product_type}})")],
            unit="short",
        ),
        table(
            "Channel quality over the range",
            "Each rate averaged over the dashboard's time range per channel and product type, "
            "coloured by its healthy band.",
            columns,
            unit="percentunit",
            sort_by=TITLES["videoFreezeRate"],
        ),
    ]


def _channel_quality_panels(f: Filters) -> list[Json]:
    panels = [row("Channel quality (replayed 20 s windows)")]
    metrics = quality_metrics()
    for name, width in zip(metrics, widths(len(metrics), 2), strict=True):
        panels.append(
            timeseries(
                f"{TITLES[name]} per channel",
                quality_description(name, Scope.CHANNEL, f.bands[name]),
                [
                    Query(
                        f"{realtime(name, Scope.CHANNEL)}{{{f.channel}}}",
                        "{{cname}} ({{product_type}})",
                    )
                ],
                unit="percentunit",
                band=f.bands[name],
                size=(width, 8),
            )
        )
    return panels


def _user_panels(f: Filters) -> list[Json]:
    panels = [row("Users of the selected channels (uids listed in the config)")]
    metrics = quality_metrics()
    for name, width in zip(metrics, widths(len(metrics), 3), strict=True):
        panels.append(
            timeseries(
                f"{TITLES[name]} per user",
                quality_description(name, Scope.USER, f.bands[name]),
                [
                    Query(
                        f"{realtime(name, Scope.USER)}{{{f.channel}}}",
                        "{{cname}} uid {{uid}} ({{product_type}})",
                    )
                ],
                unit="percentunit",
                band=f.bands[name],
                size=(width, 8),
            )
        )
    return panels


def _worst_user_panels(f: Filters) -> list[Json]:
    panels = [row(f"Worst {WORST} users over the range")]
    metrics = quality_metrics()
    for name, width in zip(metrics, widths(len(metrics), 3), strict=True):
        band = f.bands[name]
        pick = "topk" if band.upper else "bottomk"
        family = realtime(name, Scope.USER)
        expr = f"{pick}({WORST}, avg_over_time({family}{{{f.channel}}}[$__range]))"
        panels.append(
            table(
                f"Worst users: {TITLES[name].lower()}",
                f"The {WORST} users with the worst average {TITLES[name].lower()} over the "
                f"dashboard's time range ({family}).",
                {TITLES[name]: (Query(expr, instant=True), band)},
                unit="percentunit",
                sort_by=TITLES[name],
                descending=band.upper,
                size=(width, 8),
            )
        )
    return panels


def build(config: Config) -> Json:
    f = Filters(config)
    panels = [
        text("About these numbers", REPLAY_NOTE),
        *_channel_panels(f),
        *_channel_quality_panels(f),
        *_user_panels(f),
        *_worst_user_panels(f),
        calls_row(f),
    ]
    return dashboard(
        uid=UID,
        title="Agora channel drill-down",
        description="Quality of chosen Agora channels, their listed users and their calls' users.",
        variables=variables(f),
        panels=panels,
        time_from="now-1h",
    )
