"""What the call families show, pure: one session info series per user of the inspected calls."""

from __future__ import annotations

from exporter.calls.collector import call_families
from exporter.calls.view import CallState, session_info
from exporter.catalog import calls as catalog
from exporter.store.calls import CallSession, TrackedCall

APPID = "0123456789abcdef0123456789abcdef"


def session(sid: str, uid: int, join_ts: int, platform: str, **info: str) -> CallSession:
    return CallSession(sid, uid, join_ts, platform=platform, **info)


PHONE = {"network": "4G", "sdk_version": "4.2.6", "device_type": "iPhone14,2 (iOS 17.1)"}
LAPTOP = {"network": "Wi-Fi", "sdk_version": "4.2.2", "device_type": "Windows 10"}
FIRST = TrackedCall(
    APPID,
    "c1",
    "lobby",
    1000,
    sessions=(
        session("S1", 7, 1000, "iOS", **PHONE),
        session("S2", 7, 1500, "Windows", **LAPTOP),  # the same user, rejoined on a laptop
        session("S3", 8, 1100, "Android"),  # the API said nothing of the rest
    ),
)
SECOND = TrackedCall(  # an overlapping call of the same channel: its user 8 joined later
    APPID, "c2", "lobby", 1200, sessions=(session("S4", 8, 1300, "Web", **PHONE),)
)


def test_each_user_has_one_info_series_from_the_session_joined_last() -> None:
    assert session_info([FIRST, SECOND]) == [
        (APPID, "lobby", "7", "Windows", "Wi-Fi", "4.2.2", "Windows 10"),
        (APPID, "lobby", "8", "Web", *PHONE.values()),
    ]
    assert session_info([FIRST]) == [
        (APPID, "lobby", "7", "Windows", "Wi-Fi", "4.2.2", "Windows 10"),
        (APPID, "lobby", "8", "Android", "", "", ""),
    ]


def test_session_info_is_a_gauge_of_one_with_the_catalogs_labels() -> None:
    state = CallState(enabled=True, calls=(FIRST, SECOND))
    [family] = [f for f in call_families(state) if f.name == catalog.SESSION_INFO.name]
    assert family.type == "gauge"
    assert [s.value for s in family.samples] == [1.0, 1.0]
    assert [list(s.labels) for s in family.samples] == [list(catalog.SESSION_INFO.labels)] * 2


def test_no_session_info_without_inspected_users() -> None:
    names = {f.name for f in call_families(CallState(enabled=True))}
    assert catalog.SESSION_INFO.name not in names
    assert catalog.SAMPLE_TIMESTAMP.name in names
