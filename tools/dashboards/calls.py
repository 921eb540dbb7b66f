"""The Calls row of the channel drill-down: the Call Inspector's newest sample per user.

Families come from :mod:`exporter.catalog.calls` by metric ID, so a family
renamed there is renamed here at the next ``make dashboards``. The row is
collapsed: Grafana runs its queries only once it is opened, and calls are
opt-in (``apps[].calls.enabled``).
"""

from __future__ import annotations

from exporter.agora.limits import PLAN_LIMITS, Budget
from exporter.catalog import calls as calls
from tools.dashboards.families import Filters
from tools.dashboards.grafana import Json, Query, query_variable, row, stat, text, timeseries

USER = "{{cname}} uid {{uid}}"
BY_USER = "by (cname, uid)"

# Call Inspector metric IDs (exporter/catalog/calls.py names their families).
APP_CPU, SYSTEM_CPU = 20001, 20002
AUDIO_UP, VIDEO_HIGH_UP, VIDEO_LOW_UP = 20003, 20024, 20006
AUDIO_DOWN, VIDEO_DOWN = 20004, 20009
VIDEO_DOWN_FPS = 20010
AUDIO_FREEZE, VIDEO_FREEZE = 20005, 20011
AUDIO_LOSS, VIDEO_LOSS = 20016, 20018
ROUTER_RTT = 20022

DELAY_S = min(limits.delay_s for limits in PLAN_LIMITS[Budget.CALL_DETAILS].values())
FRESHNESS = (
    f"Each value is the newest Call Inspector sample the exporter fetched for that user: "
    f"at least {DELAY_S} s old (the API's delay) plus up to one calls cycle; polled, "
    "not live, and not replayed."
)
CYCLE = "As of the newest calls cycle; polled, not live."
NOTE = (
    "**Newest sample, not replay.** With `apps[].calls.enabled` the exporter inspects "
    "up to `max_calls` ongoing calls each cycle and shows each user's newest sample of "
    f"every metric, at least {DELAY_S} s old (*Data age* says how old). Pick users with "
    "the *Call user* variable; `peer_uid` is the sender of what a user received."
)


def family(mid: int) -> str:
    """The family of a documented Call Inspector metric ID."""
    return calls.CALL_METRICS[mid].family


def _describe(what: str, mids: tuple[int, ...]) -> str:
    names = ", ".join(family(mid) for mid in mids)
    return f"{what} ({names}). {FRESHNESS}"


def _own(f: Filters, mid: int, what: str) -> Query:
    """A user's own metric (``peer_uid`` empty), one line per user."""
    return Query(f"{family(mid)}{{{f.call}}}", f"{USER} {what}".strip())


def _over_peers(f: Filters, how: str, mid: int, what: str) -> Query:
    """A received metric folded over the peers it came from, one line per user."""
    return Query(f"{how} {BY_USER} ({family(mid)}{{{f.call}}})", f"{USER} {what}")


def uid_variable(f: Filters) -> Json:
    return query_variable(
        "uid",
        "Call user",
        f'{calls.SAMPLE_TIMESTAMP.name}{{{f.app}, cname=~"$cname"}}',
        "uid",
        "Users of the inspected calls in the selected channels (the Calls row only).",
    )


def _stat_panels(f: Filters) -> list[Json]:
    skipped = calls.SKIPPED.name
    return [
        stat(
            "Ongoing calls",
            f"{calls.ONGOING.help} {CYCLE} ({calls.ONGOING.name})",
            [Query(f"{calls.ONGOING.name}{{{f.app}}}", "{{appid}}")],
            unit="short",
            size=(8, 4),
        ),
        stat(
            "Inspected calls",
            f"{calls.INSPECTED.help} {CYCLE} ({calls.INSPECTED.name})",
            [Query(f"{calls.INSPECTED.name}{{{f.app}}}", "{{appid}}")],
            unit="short",
            size=(8, 4),
        ),
        stat(
            "Calls skipped in the last hour",
            f"{calls.SKIPPED.help} Increase over the last hour by reason, every app of the "
            f"chosen exporters ({skipped}).",
            [Query(f"sum by (reason) (increase({skipped}{{{f.exporter}}}[1h]))", "{{reason}}")],
            unit="short",
            text_mode="value_and_name",
            size=(8, 4),
        ),
    ]


def _resource_panels(f: Filters) -> list[Json]:
    return [
        timeseries(
            "CPU per user",
            _describe("CPU used by the app and by the whole system", (APP_CPU, SYSTEM_CPU)),
            [_own(f, APP_CPU, "app"), _own(f, SYSTEM_CPU, "system")],
            unit="percentunit",
        ),
        timeseries(
            "Upstream bitrate per user",
            _describe(
                "Audio, high- and low-quality video bitrate sent",
                (AUDIO_UP, VIDEO_HIGH_UP, VIDEO_LOW_UP),
            ),
            [
                _own(f, AUDIO_UP, "audio"),
                _own(f, VIDEO_HIGH_UP, "video high"),
                _own(f, VIDEO_LOW_UP, "video low"),
            ],
            unit="Bps",
        ),
        timeseries(
            "Downstream bitrate per user",
            _describe(
                "Video and audio bitrate received, summed over the peers sending them",
                (VIDEO_DOWN, AUDIO_DOWN),
            ),
            [
                _over_peers(f, "sum", VIDEO_DOWN, "video"),
                _over_peers(f, "sum", AUDIO_DOWN, "audio"),
            ],
            unit="Bps",
        ),
        timeseries(
            "Video frame rate received",
            _describe("Video frame rate each user received from each peer", (VIDEO_DOWN_FPS,)),
            [Query(f"{family(VIDEO_DOWN_FPS)}{{{f.call}}}", f"{USER} from {{{{peer_uid}}}}")],
            unit="suffix: fps",
        ),
    ]


def _quality_panels(f: Filters) -> list[Json]:
    return [
        timeseries(
            "Render freeze per user",
            _describe(
                "Audio and video rendering freeze time, the worst peer",
                (AUDIO_FREEZE, VIDEO_FREEZE),
            ),
            [
                _over_peers(f, "max", AUDIO_FREEZE, "audio"),
                _over_peers(f, "max", VIDEO_FREEZE, "video"),
            ],
            unit="s",
        ),
        timeseries(
            "End-to-end packet loss per user",
            _describe(
                "Audio and video packet loss end to end, the worst peer", (AUDIO_LOSS, VIDEO_LOSS)
            ),
            [
                _over_peers(f, "max", AUDIO_LOSS, "audio"),
                _over_peers(f, "max", VIDEO_LOSS, "video"),
            ],
            unit="percentunit",
        ),
        timeseries(
            "Local router RTT per user",
            _describe("Round-trip time from the client to its local router", (ROUTER_RTT,)),
            [_own(f, ROUTER_RTT, "")],
            unit="s",
        ),
        timeseries(
            "Data age per user",
            f"How old each user's newest Call Inspector sample is now: time() minus "
            f"{calls.SAMPLE_TIMESTAMP.name}; at least {DELAY_S} s (the API's delay), plus up "
            "to one calls cycle.",
            [Query(f"time() - {calls.SAMPLE_TIMESTAMP.name}{{{f.call}}}", USER)],
            unit="s",
        ),
    ]


def calls_row(f: Filters) -> Json:
    """The collapsed Calls row with its panels."""
    panels = [
        text("About the Calls row", NOTE, size=(24, 2)),
        *_stat_panels(f),
        *_resource_panels(f),
        *_quality_panels(f),
    ]
    return row("Calls (Call Inspector, newest sample per user)", panels)
