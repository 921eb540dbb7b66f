"""The traffic model on its own: realistic, consistent, deterministic in the seed."""

from __future__ import annotations

import statistics
import string

import pytest

from exporter.simulator import TrafficModel
from tests.conftest import APPID, START
from tests.fakes import FakeClock

DAY = 86400
MIDNIGHT = START - START % DAY  # 2023-11-14 00:00 UTC
QUALITY = (
    "joinSuccessRate",
    "joinSuccessIn5sRate",
    "audioFreezeRate",
    "videoFreezeRate",
    "networkDelay",
)


def sample(traffic: TrafficModel) -> list[object]:
    """A little of everything the model answers."""
    window = START - START % 20 - 600
    values: list[object] = [
        traffic.realtime(APPID, product, metric, window, cname)
        for product in ("Native", "WebRTC")
        for metric in ("userCount", "channelCount", *QUALITY)
        for cname in (None, "lobby", "demoChannel")
    ]
    values += [traffic.realtime(APPID, "Native", "videoFreezeRate", window, "lobby", 4294967296)]
    values += [traffic.channels(APPID, window), traffic.uids(APPID, "lobby", window)]
    values += [traffic.insight(APPID, "userCount", MIDNIGHT - DAY + 16 * 3600)]
    calls = traffic.calls(APPID, START - 7200, START - 3600)
    sessions = traffic.sessions(APPID, calls[0].call_id)
    metrics = traffic.call_metrics(APPID, calls[0].call_id, sessions[0].sid, START - 7200, START)
    return [*values, calls, sessions, metrics, traffic.incidents(APPID, START - DAY, START)]


def test_one_seed_gives_the_same_traffic_another_seed_other_traffic() -> None:
    clock = FakeClock(START)
    first, again, other = (TrafficModel(seed, clock) for seed in (5, 5, 6))
    assert sample(first) == sample(again)
    assert sample(first) != sample(other)


def test_the_audience_peaks_in_the_evening_and_sleeps_at_night() -> None:
    traffic = TrafficModel(seed=7)
    for day in range(MIDNIGHT, MIDNIGHT + 3 * DAY, DAY):
        evening = traffic.realtime(APPID, "Native", "userCount", day + 20 * 3600)
        night = traffic.realtime(APPID, "Native", "userCount", day + 4 * 3600)
        assert isinstance(evening, int)
        assert isinstance(night, int)
        assert evening > 3 * night


@pytest.mark.parametrize("hour", [4, 12, 20])
def test_webrtc_is_a_quarter_to_a_third_of_native(hour: int) -> None:
    traffic = TrafficModel(seed=7)
    window = MIDNIGHT + hour * 3600
    native = traffic.realtime(APPID, "Native", "userCount", window)
    webrtc = traffic.realtime(APPID, "WebRTC", "userCount", window)
    assert isinstance(native, int)
    assert isinstance(webrtc, int)
    assert 0.22 < webrtc / native < 0.36


@pytest.mark.parametrize(
    ("metric", "low", "high"),
    [
        ("joinSuccessRate", 0.984, 0.995),
        ("joinSuccessIn5sRate", 0.955, 0.98),
        ("audioFreezeRate", 0.005, 0.02),
        ("videoFreezeRate", 0.01, 0.025),
        ("networkDelay", 0.01, 0.03),
    ],
)
@pytest.mark.parametrize("seed", [1, 7, 99])
def test_quality_is_healthy_without_incidents(
    seed: int, metric: str, low: float, high: float
) -> None:
    traffic = TrafficModel(seed=seed, incident_every_s=None)
    values = [
        traffic.realtime(APPID, "Native", metric, w) for w in range(MIDNIGHT, MIDNIGHT + DAY, 600)
    ]
    assert all(isinstance(v, float) for v in values)
    assert low < statistics.median(v for v in values if v is not None) < high
    if "Freeze" in metric:
        assert all(v is not None and v < 0.03 for v in values)


def test_a_project_incident_keeps_both_freeze_rates_above_3_percent_for_5_minutes() -> None:
    traffic = TrafficModel(seed=7)
    incidents = traffic.incidents(APPID, MIDNIGHT, MIDNIGHT + DAY)
    assert 24 <= len(incidents) <= 48, "one every 30 to 60 minutes"
    for incident in incidents[:6]:
        assert incident.cname is None
        windows = range(incident.start - incident.start % 20, incident.end, 20)
        for product, metric in [
            ("Native", "videoFreezeRate"),
            ("Native", "audioFreezeRate"),
            ("WebRTC", "videoFreezeRate"),
        ]:
            above = [(traffic.realtime(APPID, product, metric, w) or 0) > 0.03 for w in windows]
            assert longest_run(above) >= 15, f"{product} {metric} in {incident}"


def longest_run(flags: list[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def test_incidents_can_be_spaced_or_switched_off() -> None:
    assert TrafficModel(incident_every_s=None).incidents(APPID, MIDNIGHT, MIDNIGHT + DAY) == []
    hourly = TrafficModel(incident_every_s=3600).incidents(APPID, MIDNIGHT, MIDNIGHT + DAY)
    assert 23 <= len(hourly) <= 25
    assert all(420 <= i.end - i.start <= 600 for i in hourly)


def test_a_channel_incident_climbs_for_minutes_to_a_bad_freeze_rate() -> None:
    traffic = TrafficModel(seed=7, incident_every_s=None)
    for cname in traffic.channels(APPID, MIDNIGHT + 20 * 3600):
        for incident in traffic.incidents(APPID, MIDNIGHT, MIDNIGHT + DAY, cname):
            # Each window is valued at its middle.
            around = range(incident.start - incident.start % 20, incident.end, 20)
            windows = [w for w in around if incident.start <= w + 10 < incident.end]
            rates = [
                traffic.realtime(APPID, "Native", "videoFreezeRate", w, cname) for w in windows
            ]
            if None in rates:
                continue  # the channel was not active (for Native) then
            assert rates[0] is not None
            assert rates[-1] is not None
            assert 300 <= incident.end - incident.start <= 600
            assert 0.08 <= incident.peak <= 0.2
            assert max(r for r in rates if r is not None) > 0.08
            assert rates[-1] > rates[0] + 0.05, "climbs"
            return
    pytest.fail("no channel incident while its channel was active")


def test_unlisted_channels_and_uids_get_values_and_none_when_away() -> None:
    traffic = TrafficModel(seed=7)
    windows = range(MIDNIGHT, MIDNIGHT + 6 * 3600, 60)
    values = [traffic.realtime(APPID, "Native", "userCount", w, "demoChannel") for w in windows]
    assert any(v is None for v in values)
    assert all(v is None or 1 <= v <= 7 for v in values)
    assert sum(v is not None for v in values) > len(values) / 2
    rates = [traffic.realtime(APPID, "Native", "networkDelay", w, "lobby", 1001) for w in windows]
    assert sum(r is not None for r in rates) > 0.8 * len(rates)
    assert traffic.realtime(APPID, "Native", "userCount", MIDNIGHT, "lobby", 1001) == (
        traffic.realtime(APPID, "Native", "userCount", MIDNIGHT, "lobby")
    )


def test_listed_uids_are_on_one_sdk() -> None:
    traffic = TrafficModel(seed=7)
    window = MIDNIGHT + 20 * 3600
    for uid in traffic.uids(APPID, "lobby", window):
        product = traffic.uid_product_type(APPID, "lobby", uid, window)
        other = "WebRTC" if product == "Native" else "Native"
        assert (
            traffic.realtime(APPID, product or "", "videoFreezeRate", window, "lobby", uid)
            is not None
        )
        assert traffic.realtime(APPID, other, "videoFreezeRate", window, "lobby", uid) is None
    assert all(1 <= uid < 2**32 for uid in traffic.uids(APPID, "lobby", window))


def test_unknown_names_are_refused() -> None:
    traffic = TrafficModel()
    with pytest.raises(ValueError, match="product type"):
        traffic.realtime(APPID, "Flutter", "userCount", MIDNIGHT)
    with pytest.raises(ValueError, match="metric"):
        traffic.realtime(APPID, "Native", "sessionCount", MIDNIGHT)
    with pytest.raises(ValueError, match="product type"):
        traffic.insight_at(
            APPID, "videoFreezeRate", MIDNIGHT + 16 * 3600, "1d", None, MIDNIGHT + 9 * DAY
        )


def test_each_hour_holds_its_calls_with_their_sessions() -> None:
    clock = FakeClock(START)
    traffic = TrafficModel(seed=7, clock=clock, calls_per_hour=30)
    hour = START - START % 3600 - 5 * 3600
    calls = traffic.calls(APPID, hour, hour + 3 * 3600)
    assert len(calls) == 90
    assert len({c.call_id for c in calls}) == 90
    assert all(len(c.call_id) == 32 and set(c.call_id) <= set(string.hexdigits) for c in calls)
    assert all(120 <= c.destroyed_ts - c.created_ts <= 3600 for c in calls if c.finished)
    sessions = {c.call_id: traffic.sessions(APPID, c.call_id) for c in calls}
    assert all(2 <= len(s) <= 11 for s in sessions.values())
    assert any(any(s.platform == "Linux" for s in found) for found in sessions.values())
    rejoined = [found for found in sessions.values() if len({s.uid for s in found}) < len(found)]
    assert rejoined, "some user leaves and rejoins a call"
    for call in calls:
        for session in sessions[call.call_id]:
            assert call.created_ts <= session.join_ts <= session.leave_ts <= call.destroyed_ts
            assert session.cname == call.cname


def test_calls_appear_as_they_start_and_finish_as_they_end() -> None:
    clock = FakeClock(START)
    traffic = TrafficModel(seed=7, clock=clock)
    call = traffic.calls(APPID, START - 3600, START)[0]
    assert not call.finished or call.destroyed_ts <= START
    clock.set(call.created_ts - 1)
    assert call.call_id not in {c.call_id for c in traffic.calls(APPID, START - 3600, START)}
    clock.set(START + 2 * 3600)
    (later,) = [c for c in traffic.calls(APPID, START - 3600, START) if c.call_id == call.call_id]
    assert later.finished
    assert later.destroyed_ts > later.created_ts
