"""The simulator's real-time endpoints over HTTP, against the reference's examples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exporter.agora.limits import Endpoint
from exporter.simulator import Simulator
from tests.conftest import APPID, MakeSimulator, client_for
from tests.fakes import FakeClock

USAGE = Endpoint.REALTIME_USAGE.value
QUALITY = Endpoint.REALTIME_QUALITY.value
# The reference's example frame: 00:10:10 to 00:11:10 on 17 September 2021.
EXAMPLE_START, EXAMPLE_END = 1631837410, 1631837470
EXAMPLE_WINDOWS = [1631837400, 1631837420, 1631837440]


@pytest.fixture(autouse=True)
def _just_after_the_example(fake_clock: FakeClock) -> None:
    fake_clock.set(EXAMPLE_END + 120)


def ask(api: httpx.Client, path: str = USAGE, **params: Any) -> httpx.Response:
    query: dict[str, Any] = {
        "startTs": EXAMPLE_START,
        "endTs": EXAMPLE_END,
        "appid": APPID,
        "productType": "Native",
        "metric": "userCount",
    }
    return api.get(path, params=query | params)


def test_the_reference_usage_example_answers_its_three_windows(
    api: httpx.Client, simulator: Simulator
) -> None:
    body = ask(api).json()
    assert body["code"] == 200
    assert body["message"] == "success"
    assert [row["ts"] for row in body["data"]] == EXAMPLE_WINDOWS
    assert [list(row) for row in body["data"]] == [["userCount", "ts"]] * 3
    expected = [
        simulator.traffic.realtime(APPID, "Native", "userCount", w) for w in EXAMPLE_WINDOWS
    ]
    assert [row["userCount"] for row in body["data"]] == expected
    assert all(isinstance(row["userCount"], int) for row in body["data"])


def test_the_reference_quality_example_1_answers_on_the_quality_path(
    api: httpx.Client, simulator: Simulator
) -> None:
    # The example's request line names the usage path: a slip, as its own section's
    # parameter table lists networkDelay for the quality path only (refused on the other).
    body = ask(api, QUALITY, metric="networkDelay").json()
    expected = [
        {"networkDelay": simulator.traffic.realtime(APPID, "Native", "networkDelay", w), "ts": w}
        for w in EXAMPLE_WINDOWS
    ]
    assert body == {"code": 200, "message": "success", "data": expected}


REALTIME_METRICS = [
    ("userCount", USAGE),
    ("channelCount", USAGE),
    ("joinSuccessRate", QUALITY),
    ("joinSuccessIn5sRate", QUALITY),
    ("audioFreezeRate", QUALITY),
    ("videoFreezeRate", QUALITY),
    ("networkDelay", QUALITY),
]


@pytest.mark.parametrize(
    ("metric", "path", "accepted"),
    [
        pytest.param(
            metric,
            path,
            path == own,
            id=f"{metric} is {'accepted' if path == own else 'refused'} on the "
            f"{'usage' if path == USAGE else 'quality'} path",
        )
        for metric, own in REALTIME_METRICS
        for path in (USAGE, QUALITY)
    ],
)
def test_each_real_time_path_takes_only_the_metrics_its_parameter_table_lists(
    api: httpx.Client, metric: str, path: str, accepted: bool
) -> None:
    response = ask(api, path, metric=metric)
    if accepted:
        assert response.json()["code"] == 200
        return
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "Bad request, parameter : metric is invalid",
        "data": None,
    }


def test_the_reference_quality_example_2_answers_per_uid(
    api: httpx.Client, simulator: Simulator
) -> None:
    uids = [2303692334, 2963430861]
    response = ask(
        api, QUALITY, metric="networkDelay", cname="demoChannel", uids="2303692334,2963430861"
    )
    body = response.json()
    traffic = simulator.traffic
    expected = []
    for uid in uids:
        values = [
            {"ts": w, "networkDelay": v}
            for w in EXAMPLE_WINDOWS
            if (v := traffic.realtime(APPID, "Native", "networkDelay", w, "demoChannel", uid))
            is not None
        ]
        if values:
            expected.append({"uid": uid, "values": values})
    assert body["data"] == expected
    assert expected, "the example's channel has data in the example frame"
    assert all(list(row) == ["uid", "values"] for row in body["data"])
    assert all(list(v) == ["ts", "networkDelay"] for row in body["data"] for v in row["values"])


@pytest.mark.parametrize(
    ("start", "end", "windows"),
    [
        pytest.param(1631837410, 1631837470, EXAMPLE_WINDOWS, id="the reference frame"),
        pytest.param(
            1631837400,
            1631837460,
            EXAMPLE_WINDOWS,
            id="an end on a boundary excludes the window it starts",
        ),
        pytest.param(
            1631837419,
            1631837461,
            EXAMPLE_WINDOWS,
            id="a start late in a window includes that window",
        ),
        pytest.param(1631837401, 1631837419, [], id="start and end in one window answer nothing"),
        pytest.param(1631837400, 1631837400, [], id="an empty frame answers nothing"),
        pytest.param(
            1631837399,
            1631837401,
            [1631837380],
            id="a frame across a boundary answers the first window",
        ),
    ],
)
def test_windows_run_from_the_start_window_to_before_the_end_window(
    api: httpx.Client, start: int, end: int, windows: list[int]
) -> None:
    body = ask(api, startTs=start, endTs=end).json()
    assert [row["ts"] for row in body["data"]] == windows


@pytest.mark.parametrize("product", ["Native", "WebRTC"])
@pytest.mark.parametrize(
    "metric",
    [
        "userCount",
        "channelCount",
        "joinSuccessRate",
        "joinSuccessIn5sRate",
        "audioFreezeRate",
        "videoFreezeRate",
        "networkDelay",
    ],
)
def test_every_project_value_served_is_the_traffic_models(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock, product: str, metric: str
) -> None:
    now = fake_clock()
    start, end = int(now) - 3000, int(now) - 60
    path = dict(REALTIME_METRICS)[metric]
    body = ask(api, path, startTs=start, endTs=end, productType=product, metric=metric).json()
    served = {row["ts"]: row[metric] for row in body["data"]}
    expected = {
        w: v
        for w in range(start - start % 20, end - end % 20, 20)
        if (v := simulator.traffic.realtime(APPID, product, metric, w)) is not None
    }
    assert served == expected


@pytest.mark.parametrize("cname", [None, "lobby"], ids=["project", "channel lobby"])
def test_webrtc_has_no_audio_freeze_rate(
    api: httpx.Client, simulator: Simulator, cname: str | None
) -> None:
    extra = {"cname": cname} if cname else {}
    body = ask(api, QUALITY, productType="WebRTC", metric="audioFreezeRate", **extra).json()
    assert body == {"code": 200, "message": "success", "data": []}
    assert (
        simulator.traffic.realtime(APPID, "WebRTC", "audioFreezeRate", EXAMPLE_WINDOWS[0]) is None
    )
    native = ask(api, QUALITY, productType="Native", metric="audioFreezeRate", **extra).json()
    assert len(native["data"]) == 3


def test_a_uid_above_2_to_the_32_works(api: httpx.Client, simulator: Simulator) -> None:
    body = ask(api, QUALITY, metric="videoFreezeRate", cname="lobby", uids="4294967296").json()
    assert [row["uid"] for row in body["data"]] == [4294967296]
    served = {v["ts"]: v["videoFreezeRate"] for v in body["data"][0]["values"]}
    for window, value in served.items():
        expected = simulator.traffic.realtime(
            APPID, "Native", "videoFreezeRate", window, "lobby", 4294967296
        )
        assert value == expected


def test_uids_without_a_channel_are_ignored(api: httpx.Client) -> None:
    with_uids = ask(api, QUALITY, metric="videoFreezeRate", uids="1001,1002").json()
    without = ask(api, QUALITY, metric="videoFreezeRate").json()
    assert with_uids == without


def test_uids_on_the_usage_path_are_ignored_and_answer_the_channel(
    api: httpx.Client, simulator: Simulator
) -> None:
    body = ask(api, USAGE, metric="userCount", cname="lobby", uids="1001").json()
    expected = [
        simulator.traffic.realtime(APPID, "Native", "userCount", w, "lobby")
        for w in EXAMPLE_WINDOWS
    ]
    assert [row["userCount"] for row in body["data"]] == expected


def test_windows_without_data_are_omitted_never_zero(
    api: httpx.Client, simulator: Simulator, fake_clock: FakeClock
) -> None:
    # An unlisted channel is off 30 % of its half-hours; find one that is off for part of an hour.
    now = int(fake_clock())
    start, end = now - 3500, now - 60
    windows = range(start - start % 20, end - end % 20, 20)
    for n in range(200):
        cname = f"room-{n}"
        values = [
            simulator.traffic.realtime(APPID, "Native", "userCount", w, cname) for w in windows
        ]
        if None in values and any(v is not None for v in values):
            break
    else:
        pytest.fail("no partly active channel found")
    body = ask(api, USAGE, startTs=start, endTs=end, cname=cname).json()
    served = {row["ts"]: row["userCount"] for row in body["data"]}
    assert served == {w: v for w, v in zip(windows, values, strict=True) if v is not None}
    assert 0 not in served.values()


def test_the_lobby_is_active_all_day(simulator: Simulator, fake_clock: FakeClock) -> None:
    day = int(fake_clock()) - 86400
    windows = range(day - day % 20, day + 86400, 600)
    assert all("lobby" in simulator.traffic.channels(APPID, w) for w in windows)
    counts = [simulator.traffic.realtime(APPID, "Native", "userCount", w, "lobby") for w in windows]
    assert all(isinstance(c, int) and c > 0 for c in counts)


def test_listed_channels_and_uids_are_consistent_with_the_totals(
    simulator: Simulator, fake_clock: FakeClock
) -> None:
    traffic = simulator.traffic
    now = int(fake_clock())
    for window in range(now - now % 20 - 3600, now - now % 20, 300):
        channels = traffic.channels(APPID, window)
        for product in ("Native", "WebRTC"):
            users = [
                traffic.realtime(APPID, product, "userCount", window, c) or 0 for c in channels
            ]
            total = traffic.realtime(APPID, product, "userCount", window)
            background = traffic.background(APPID, product, window)
            assert total == background.users + sum(users)
            active = sum(1 for u in users if u)
            assert traffic.realtime(APPID, product, "channelCount", window) == (
                background.channels + active
            )
        for cname in channels:
            roster = traffic.uids(APPID, cname, window)
            counted = sum(
                traffic.realtime(APPID, p, "userCount", window, cname) or 0
                for p in ("Native", "WebRTC")
            )
            assert len(roster) == counted


def test_project_rates_are_the_user_weighted_mix_of_their_parts(
    simulator: Simulator, fake_clock: FakeClock
) -> None:
    traffic = simulator.traffic
    window = int(fake_clock()) - int(fake_clock()) % 20 - 600
    for metric in ("videoFreezeRate", "audioFreezeRate", "joinSuccessRate", "networkDelay"):
        background = traffic.background(APPID, "Native", window)
        weighted: float = background.users * background.rates[metric]
        users: float = background.users
        for cname in traffic.channels(APPID, window):
            count = traffic.realtime(APPID, "Native", "userCount", window, cname)
            rate = traffic.realtime(APPID, "Native", metric, window, cname)
            if count:
                assert rate is not None
                weighted, users = weighted + count * rate, users + count
        project = traffic.realtime(APPID, "Native", metric, window)
        assert project == pytest.approx(weighted / users, abs=1e-4)


def test_two_simulators_with_one_seed_answer_the_same(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    bodies = []
    for seed in (11, 11, 12):
        simulator = make_simulator(seed=seed)
        with client_for(simulator) as client:
            bodies.append(
                [
                    ask(client, path, metric=metric, startTs=int(fake_clock()) - 1800).json()
                    for metric, path in (("userCount", USAGE), ("videoFreezeRate", QUALITY))
                ]
            )
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]
