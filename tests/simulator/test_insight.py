"""The simulator's Data Insights endpoints: the reference's examples, publication, recomputation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exporter.agora.limits import DAY, HOUR, Endpoint
from exporter.simulator import Simulator
from tests.conftest import APPID, MakeSimulator, client_for
from tests.fakes import FakeClock

USAGE = Endpoint.INSIGHT_USAGE.value
QUALITY = Endpoint.INSIGHT_QUALITY.value
# The reference's examples: 1 July 2021 00:00 UTC to 3 July (daily), to 2 July (hourly).
DAILY_START, DAILY_END = 1625097600, 1625270400
DAILY_POINTS = [1625155200, 1625241600]
HOURLY_END = 1625184000
DAY_POINT = 1625155200  # 16:00 UTC on 1 July 2021: midnight UTC+8


def usage(api: httpx.Client, **params: Any) -> httpx.Response:
    query: dict[str, Any] = {
        "startTs": DAILY_START,
        "endTs": DAILY_END,
        "appid": APPID,
        "metric": "userCount",
        "aggregateGranularity": "1d",
    }
    return api.get(USAGE, params=query | params)


def quality(api: httpx.Client, **params: Any) -> httpx.Response:
    query: dict[str, Any] = {
        "startTs": DAILY_START,
        "endTs": HOURLY_END,
        "appid": APPID,
        "metric": "networkDelay",
        "aggregateGranularity": "1h",
        "productType": "Native",
    }
    return api.get(QUALITY, params=query | params)


def test_the_reference_daily_example_answers_two_days_at_16_utc(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock
) -> None:
    fake_clock.set(DAILY_END + 2 * DAY)
    body = usage(api).json()
    expected = [
        {"userCount": simulator.traffic.insight(APPID, "userCount", ts), "ts": ts}
        for ts in DAILY_POINTS
    ]
    assert body == {"code": 200, "message": "success", "data": expected}
    assert all(isinstance(row["userCount"], int) for row in body["data"])


def test_the_reference_hourly_example_answers_25_hours(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock
) -> None:
    fake_clock.set(HOURLY_END + DAY)
    body = quality(api).json()
    hours = list(range(DAILY_START, HOURLY_END + 1, HOUR))
    assert len(hours) == 25
    assert [row["ts"] for row in body["data"]] == hours
    for row in body["data"]:
        expected = simulator.traffic.insight(APPID, "networkDelay", row["ts"], "1h", "Native")
        assert row == {"networkDelay": expected, "ts": row["ts"]}
        assert 0 < row["networkDelay"] < 0.05


@pytest.mark.parametrize(
    ("path", "granularity", "accepted"),
    [
        pytest.param(USAGE, "1d", True, id="usage answers daily"),
        pytest.param(USAGE, "1h", False, id="usage refuses hourly: the reference allows only 1d"),
        pytest.param(QUALITY, "1d", True, id="quality answers daily"),
        pytest.param(QUALITY, "1h", True, id="quality answers hourly"),
        pytest.param(QUALITY, "1m", False, id="quality refuses a granularity it does not list"),
    ],
)
def test_each_insight_path_takes_only_the_granularities_its_parameter_table_lists(
    api: httpx.Client, fake_clock: FakeClock, path: str, granularity: str, accepted: bool
) -> None:
    fake_clock.set(HOURLY_END + DAY)
    ask = usage if path == USAGE else quality
    response = ask(api, endTs=HOURLY_END, aggregateGranularity=granularity)
    if accepted:
        assert response.json()["code"] == 200
        return
    assert response.status_code == 400
    assert response.json()["message"] == "Bad request, parameter : aggregateGranularity is invalid"


@pytest.mark.parametrize(
    ("path", "metric", "accepted"),
    [
        pytest.param(USAGE, "networkDelay", False, id="usage refuses a quality metric"),
        pytest.param(QUALITY, "userCount", False, id="quality refuses a usage metric"),
        pytest.param(QUALITY, "joinSuccessIn5sRate", True, id="quality takes its own metrics"),
    ],
)
def test_each_insight_path_takes_only_its_own_metrics(
    api: httpx.Client, fake_clock: FakeClock, path: str, metric: str, accepted: bool
) -> None:
    fake_clock.set(DAILY_END + 2 * DAY)
    ask = usage if path == USAGE else quality
    response = ask(api, metric=metric, aggregateGranularity="1d")
    assert (response.status_code == 200) is accepted


def test_an_end_inside_the_delay_is_refused_and_one_just_before_it_answers_what_is_published(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    delay = 6 * HOUR
    refused = usage(api, startTs=now - 5 * DAY, endTs=now + DAY).json()
    assert refused == {"code": 300, "message": "query latency limit error", "data": None}
    body = usage(api, startTs=now - 5 * DAY, endTs=now - delay - 1).json()
    published = [
        ts
        for ts in range(now - 5 * DAY, now - delay)
        if ts % DAY == 16 * HOUR and simulator.traffic.insight_published_at("userCount", ts) <= now
    ]
    assert [row["ts"] for row in body["data"]] == published
    assert len(published) in (3, 4)


@pytest.mark.parametrize(
    ("plan", "path", "metric", "delay"),
    [
        pytest.param(
            "enterprise",
            USAGE,
            "userCount",
            6 * HOUR,
            id="enterprise usage days appear 6 h after they end",
        ),
        pytest.param(
            "premium",
            USAGE,
            "userCount",
            12 * HOUR,
            id="premium usage days appear 12 h after they end",
        ),
        pytest.param(
            "premium",
            QUALITY,
            "videoFreezeRate",
            6 * HOUR,
            id="premium quality days appear 6 h after they end",
        ),
    ],
)
def test_a_day_is_published_after_the_plans_delay(
    make_simulator: MakeSimulator,
    fake_clock: FakeClock,
    plan: str,
    path: str,
    metric: str,
    delay: int,
) -> None:
    simulator = make_simulator(plan=plan)
    published = DAY_POINT + DAY + delay
    assert simulator.traffic.insight_published_at(metric, DAY_POINT) == published
    params: dict[str, Any] = {
        "startTs": DAY_POINT - DAY,
        "endTs": DAY_POINT + 12 * HOUR,
        "appid": APPID,
        "metric": metric,
        "aggregateGranularity": "1d",
        "productType": "Native",
    }
    with client_for(simulator) as client:
        fake_clock.set(published - 1)
        assert DAY_POINT not in [
            row["ts"] for row in client.get(path, params=params).json()["data"]
        ]
        fake_clock.set(published)
        assert DAY_POINT in [row["ts"] for row in client.get(path, params=params).json()["data"]]


def test_an_hour_is_published_after_the_delay(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock
) -> None:
    hour = HOURLY_END
    fake_clock.set(hour + HOUR + 6 * HOUR - 1)
    assert [r["ts"] for r in quality(api).json()["data"]][-1] == hour - HOUR
    fake_clock.set(hour + HOUR + 6 * HOUR)
    assert [r["ts"] for r in quality(api).json()["data"]][-1] == hour


@pytest.mark.parametrize(
    ("path", "metric", "product"),
    [
        pytest.param(USAGE, "userCount", None, id="a daily user count grows once when recomputed"),
        pytest.param(
            USAGE, "totalDuration", None, id="a daily duration grows once when recomputed"
        ),
        pytest.param(
            QUALITY,
            "videoFreezeRate",
            "Native",
            id="a daily freeze rate changes once when recomputed",
        ),
        pytest.param(
            QUALITY,
            "joinSuccessRate",
            "WebRTC",
            id="a daily join rate changes once when recomputed",
        ),
    ],
)
def test_a_day_is_recomputed_once_a_day_after_publication(
    api: httpx.Client,
    simulator: Simulator,
    fake_clock: FakeClock,
    path: str,
    metric: str,
    product: str | None,
) -> None:
    recomputed = simulator.traffic.insight_recomputed_at(metric, DAY_POINT)
    assert recomputed == simulator.traffic.insight_published_at(metric, DAY_POINT) + DAY
    params: dict[str, Any] = {
        "startTs": DAY_POINT,
        "endTs": DAY_POINT,
        "appid": APPID,
        "metric": metric,
        "aggregateGranularity": "1d",
    } | ({"productType": product} if product else {})
    seen = []
    for now in (recomputed - 1, recomputed, recomputed + 3 * DAY):
        fake_clock.set(now)
        (row,) = api.get(path, params=params).json()["data"]
        assert row[metric] == simulator.traffic.insight(APPID, metric, DAY_POINT, "1d", product)
        seen.append(row[metric])
    assert seen[0] != seen[1]
    assert seen[1] == seen[2]
    if path == USAGE:
        assert seen[1] > seen[0]


def test_hours_are_never_recomputed(simulator: Simulator, fake_clock: FakeClock) -> None:
    assert simulator.traffic.insight_recomputed_at("networkDelay", DAILY_START, "1h") is None
    fake_clock.set(HOURLY_END + DAY)
    before = simulator.traffic.insight(APPID, "networkDelay", DAILY_START, "1h", "Native")
    fake_clock.set(HOURLY_END + 10 * DAY)
    after = simulator.traffic.insight(APPID, "networkDelay", DAILY_START, "1h", "Native")
    assert before == after


@pytest.mark.parametrize(
    ("spelling", "metric", "accepted"),
    [
        pytest.param(
            "both",
            "peakCurrentUsers",
            True,
            id="by default the reference's peakCurrentUsers is accepted",
        ),
        pytest.param(
            "both", "peakConcurrentUsers", True, id="by default peakConcurrentUsers is accepted"
        ),
        pytest.param(
            "both",
            "peakConcurrentChannels",
            True,
            id="by default peakConcurrentChannels is accepted",
        ),
        pytest.param(
            "current", "peakConcurrentUsers", False, id="current-only refuses peakConcurrentUsers"
        ),
        pytest.param(
            "current", "peakCurrentChannels", True, id="current-only accepts peakCurrentChannels"
        ),
        pytest.param(
            "concurrent", "peakCurrentUsers", False, id="concurrent-only refuses peakCurrentUsers"
        ),
        pytest.param(
            "concurrent",
            "peakConcurrentUsers",
            True,
            id="concurrent-only accepts peakConcurrentUsers",
        ),
    ],
)
def test_peak_metrics_answer_under_the_name_asked(
    make_simulator: MakeSimulator,
    fake_clock: FakeClock,
    spelling: str,
    metric: str,
    accepted: bool,
) -> None:
    simulator = make_simulator(peak_spelling=spelling)
    fake_clock.set(DAILY_END + 2 * DAY)
    with client_for(simulator) as client:
        response = usage(client, metric=metric)
    if not accepted:
        assert response.status_code == 400
        assert response.json()["message"] == "Bad request, parameter : metric is invalid"
        return
    rows = response.json()["data"]
    canonical = metric.replace("Concurrent", "Current")
    expected = [simulator.traffic.insight(APPID, canonical, ts) for ts in DAILY_POINTS]
    assert [row[metric] for row in rows] == expected


@pytest.mark.parametrize(
    "after_publication",
    [pytest.param(0, id="when published"), pytest.param(DAY, id="when recomputed")],
)
def test_durations_are_minutes_that_add_up(
    api: httpx.Client, fake_clock: FakeClock, after_publication: int
) -> None:
    fake_clock.set(DAY_POINT + DAY + 6 * HOUR + after_publication)
    metrics = ("totalDuration", "totalVideoDuration", "totalAudioDuration", "peakCurrentUsers")
    day = {}
    for metric in metrics:
        rows = usage(api, metric=metric, startTs=DAY_POINT, endTs=DAY_POINT).json()["data"]
        day[metric] = rows[0][metric]
    assert day["totalDuration"] == day["totalVideoDuration"] + day["totalAudioDuration"]
    # A day has 1440 minutes: the total is below peak users times that, and well above a tenth.
    assert day["peakCurrentUsers"] * 144 < day["totalDuration"] < day["peakCurrentUsers"] * 1440


def test_webrtc_has_no_daily_audio_freeze_rate(api: httpx.Client, fake_clock: FakeClock) -> None:
    fake_clock.set(DAILY_END + 2 * DAY)
    params = {"metric": "audioFreezeRate", "aggregateGranularity": "1d"}
    webrtc = quality(api, productType="WebRTC", endTs=DAILY_END, **params).json()
    native = quality(api, productType="Native", endTs=DAILY_END, **params).json()
    assert webrtc["data"] == []
    assert len(native["data"]) == 2


@pytest.mark.parametrize("product", ["Native", "WebRTC"])
@pytest.mark.parametrize(
    ("metric", "low", "high"),
    [
        ("joinSuccessRate", 0.98, 1.0),
        ("joinSuccessIn5sRate", 0.95, 0.99),
        ("videoFreezeRate", 0.005, 0.03),
        ("networkDelay", 0.005, 0.035),
    ],
)
def test_daily_quality_is_healthy(
    simulator: Simulator, fake_clock: FakeClock, product: str, metric: str, low: float, high: float
) -> None:
    fake_clock.set(DAILY_END + 30 * DAY)
    for day in range(DAY_POINT, DAY_POINT + 20 * DAY, DAY):
        value = simulator.traffic.insight(APPID, metric, day, "1d", product)
        assert isinstance(value, float)
        assert low < value < high
