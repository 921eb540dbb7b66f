"""Every Call Inspector metric ID and the Prometheus family it becomes.

One rule for units, Prometheus' base units: percent becomes a ratio (0..1,
``_ratio``), Kbps becomes bytes per second (x 1000 / 8, ``_bytes_per_second``),
milliseconds become seconds (``_seconds``); frames per second, decibels and
pixels keep their unit and say it in the name. Every family is labelled
``{appid, cname, uid, peer_uid}``; ``peer_uid`` is empty for the user's own
metrics (the API's ``peer_uid`` 0) and the remote user's uid for what the user
received from that peer.

IDs that FACTS lists as current but no reference describes (20030-20040) keep
the API's raw value in one family with a ``mid`` label, since their unit is
unknown. Any other ID is counted in ``agora_exporter_call_metrics_unknown_total``
and not exposed. This module imports nothing from the exporter: the main
catalog pulls its table in for the README.
"""

from __future__ import annotations

from dataclasses import dataclass

CALL_LABELS = ("appid", "cname", "uid", "peer_uid")
UNDOCUMENTED_LABELS = (*CALL_LABELS, "mid")

PERCENT = 0.01
KBPS = 1000 / 8
MS = 0.001


@dataclass(frozen=True)
class CallMetric:
    """One documented metric ID: its family, the API's unit and the factor to the family's."""

    mid: int
    family: str
    meaning: str
    api_unit: str
    scale: float = 1.0

    @property
    def help_text(self) -> str:
        unit = f" (the API reports {self.api_unit}; converted)" if self.scale != 1.0 else ""
        return (
            f"{self.meaning}, from Call Inspector metric ID {self.mid}{unit}; the newest "
            "sample fetched for one user of an ongoing call; polled, not live."
        )


def _metric(mid: int, stem: str, meaning: str, api_unit: str, scale: float = 1.0) -> CallMetric:
    return CallMetric(mid, f"agora_call_{stem}", meaning, api_unit, scale)


CALL_METRICS: dict[int, CallMetric] = {
    m.mid: m
    for m in (
        _metric(20001, "app_cpu_usage_ratio", "CPU used by the app", "%", PERCENT),
        _metric(20002, "system_cpu_usage_ratio", "CPU used by the whole system", "%", PERCENT),
        _metric(20003, "audio_upstream_bytes_per_second", "Audio bitrate sent", "Kbps", KBPS),
        _metric(20004, "audio_downstream_bytes_per_second", "Audio bitrate received", "Kbps", KBPS),
        _metric(20005, "audio_render_freeze_seconds", "Audio rendering freeze time", "ms", MS),
        _metric(
            20006,
            "video_low_upstream_bytes_per_second",
            "Bitrate sent of the low-quality video stream",
            "Kbps",
            KBPS,
        ),
        _metric(20007, "video_capture_frames_per_second", "Video capture frame rate", "fps"),
        _metric(
            20008,
            "video_high_upstream_frames_per_second",
            "Frame rate sent of the high-quality video stream",
            "fps",
        ),
        _metric(20009, "video_downstream_bytes_per_second", "Video bitrate received", "Kbps", KBPS),
        _metric(20010, "video_downstream_frames_per_second", "Video frame rate received", "fps"),
        _metric(20011, "video_render_freeze_seconds", "Video rendering freeze time", "ms", MS),
        _metric(
            20013,
            "video_qp",
            "Video quantization parameter (QP; lower is better; a legacy ID)",
            "QP",
        ),
        _metric(
            20015,
            "audio_upstream_packet_loss_ratio",
            "Audio packet loss on the way up",
            "%",
            PERCENT,
        ),
        _metric(
            20016,
            "audio_end_to_end_packet_loss_ratio",
            "Audio packet loss end to end",
            "%",
            PERCENT,
        ),
        _metric(
            20017,
            "video_upstream_packet_loss_ratio",
            "Video packet loss on the way up",
            "%",
            PERCENT,
        ),
        _metric(
            20018,
            "video_end_to_end_packet_loss_ratio",
            "Video packet loss end to end",
            "%",
            PERCENT,
        ),
        _metric(20019, "video_received_width_pixels", "Width of the video received", "pixels"),
        _metric(20020, "video_received_height_pixels", "Height of the video received", "pixels"),
        _metric(20021, "task_scheduling_delay_seconds", "Task scheduling delay", "ms", MS),
        _metric(
            20022,
            "local_router_rtt_seconds",
            "Round-trip time from the client to its local router",
            "ms",
            MS,
        ),
        _metric(
            20023,
            "video_low_upstream_frames_per_second",
            "Frame rate sent of the low-quality video stream",
            "fps",
        ),
        _metric(
            20024,
            "video_high_upstream_bytes_per_second",
            "Bitrate sent of the high-quality video stream",
            "Kbps",
            KBPS,
        ),
        _metric(20025, "audio_sent_volume_decibels", "Sampling volume of the audio sent", "dB"),
        _metric(
            20026, "audio_playback_volume_decibels", "Playback volume of the audio received", "dB"
        ),
        _metric(20027, "video_sent_width_pixels", "Width of the video sent", "pixels"),
        _metric(20028, "video_sent_height_pixels", "Height of the video sent", "pixels"),
    )
}

UNDOCUMENTED_MIDS: tuple[int, ...] = tuple(range(20030, 20041))
"""Current IDs (FACTS: 20030-20038, and 20039-20040 in the Chinese docs) no reference describes."""

UNDOCUMENTED_FAMILY = "agora_call_undocumented_metric"
UNDOCUMENTED_HELP = (
    "Raw value of a current Call Inspector metric ID that no reference describes (mid "
    "20030-20040), unit unknown; the newest sample fetched; polled, not live."
)


def is_known(mid: int) -> bool:
    """True for every ID the exporter exposes (documented or undocumented-but-current)."""
    return mid in CALL_METRICS or mid in UNDOCUMENTED_MIDS


def exposed_value(mid: int, api_value: float) -> float:
    """The value in the family's unit."""
    metric = CALL_METRICS.get(mid)
    return api_value * metric.scale if metric is not None else api_value


@dataclass(frozen=True)
class CallSelfMetric:
    """A Call Inspector family about calls or the exporter's own work."""

    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


SAMPLE_TIMESTAMP = CallSelfMetric(
    "agora_call_sample_timestamp_seconds",
    "gauge",
    ("appid", "cname", "uid"),
    "Time of the newest Call Inspector sample shown for each user of an inspected call "
    "(Unix seconds).",
)
ONGOING = CallSelfMetric(
    "agora_calls_ongoing",
    "gauge",
    ("appid",),
    "Ongoing calls the newest call search found (all channels, or the watched ones), "
    "before the max_calls cap.",
)
INSPECTED = CallSelfMetric(
    "agora_calls_inspected",
    "gauge",
    ("appid",),
    "Calls whose users' metrics are exposed now (at most apps[].calls.max_calls).",
)
SESSION_INFO = CallSelfMetric(
    "agora_call_session_info",
    "gauge",
    ("appid", "cname", "uid", "platform", "network", "sdk_version", "device_type"),
    "Always 1 per user of an inspected call; labels carry its latest session's platform, "
    "network, SDK version and device (join on appid, cname, uid).",
)
SKIPPED = CallSelfMetric(
    "agora_exporter_calls_skipped_total",
    "counter",
    ("reason",),
    "Calls or sessions a cap left out, counted in every cycle that left them out "
    "(max_calls, max_sessions_per_call; list_pages: older calls, ongoing or not, that a "
    "search's page allowance did not reach, counted once; search_cap: searches answered "
    "in part (has_more) that narrowing could not complete, one each).",
)
UNKNOWN = CallSelfMetric(
    "agora_exporter_call_metrics_unknown_total",
    "counter",
    ("mid",),
    "Call Inspector series with a metric ID the exporter does not know, not exposed.",
)
SKIP_REASONS = ("max_calls", "max_sessions_per_call", "list_pages", "search_cap")

CALL_SELF_METRICS = (SAMPLE_TIMESTAMP, ONGOING, INSPECTED, SKIPPED, UNKNOWN, SESSION_INFO)


def call_metrics_table_markdown() -> str:
    """The README's Call Inspector table (opt-in: ``apps[].calls.enabled``)."""
    labels = ", ".join(f"`{label}`" for label in CALL_LABELS)
    lines = [
        f"| Call Inspector mid | family ({labels}) | API unit | meaning |",
        "|---|---|---|---|",
    ]
    for metric in CALL_METRICS.values():
        row = (metric.mid, metric.family, metric.api_unit, metric.meaning)
        lines.append("| {} | `{}` | {} | {} |".format(*row))
    first, last = UNDOCUMENTED_MIDS[0], UNDOCUMENTED_MIDS[-1]
    lines.append(
        f"| {first}-{last} | `{UNDOCUMENTED_FAMILY}` (+ `mid`) | unknown | "
        "current IDs no reference describes, raw value |"
    )
    lines += ["", "| family | type | labels | meaning |", "|---|---|---|---|"]
    for one in CALL_SELF_METRICS:
        names = ", ".join(f"`{label}`" for label in one.labels) or "-"
        lines.append(f"| `{one.name}` | {one.kind} | {names} | {one.help} |")
    return "\n".join(lines) + "\n"
