"""Series expansion, the poll plan and the text ``agora-exporter plan`` prints."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exporter.agora.limits import Budget, Plan
from exporter.catalog.realtime import QUALITY_METRICS, USAGE_METRICS, Scope
from exporter.realtime.series import Series
from exporter.scheduling.planner import PollPlan, expand_series, make_plan
from exporter.scheduling.priorities import TrafficGroup
from exporter.scheduling.report import render_plan
from exporter.settings import Settings, load_settings

CUSTOMER_ID = "cid-7d1f2e3a4b5c"
CUSTOMER_SECRET = "sec-9a8b7c6d5e4f"
APPID = "0123456789abcdef0123456789abcdef"
OTHER_APPID = "fedcba9876543210fedcba9876543210"

WORKED_EXAMPLE: dict[str, Any] = {
    "agora": {
        "customer_id": CUSTOMER_ID,
        "customer_secret": CUSTOMER_SECRET,
        "plan": "enterprise",
        "headroom": 0.1,
    },
    "apps": [
        {
            "appid": APPID,
            "product_types": ["Native"],
            "realtime": {
                "usage": ["userCount", "channelCount"],
                "quality": ["audioFreezeRate"],
                "channels": [{"cname": "lobby", "uids": [1001, 1002]}],
            },
            "insight": {"enabled": False},
        }
    ],
}


EQUAL_WEIGHTS: dict[str, Any] = {
    "weights": dict.fromkeys([*USAGE_METRICS, *QUALITY_METRICS], 1),
    "scope_weights": {"project": 1, "channel": 1, "user": 1},
}
"""Every series weighs the same: the plan before weights existed."""


def _settings(
    config: dict[str, Any] = WORKED_EXAMPLE, *, equal: bool = True, **agora: Any
) -> Settings:
    data = copy.deepcopy(config)
    data["agora"].update(agora)
    if equal:
        for app in data["apps"]:
            app.setdefault("realtime", {}).update(EQUAL_WEIGHTS)
    return load_settings(None, environ={}, overrides=data)


def _app(**app: Any) -> Settings:
    data = copy.deepcopy(WORKED_EXAMPLE)
    data["apps"][0].update(app)
    return load_settings(None, environ={}, overrides=data)


# ---------------------------------------------------------------------------
# expand_series


def test_the_worked_example_expands_to_six_series_in_order() -> None:
    assert expand_series(_settings()) == [
        Series(APPID, "Native", "userCount", Scope.PROJECT),
        Series(APPID, "Native", "channelCount", Scope.PROJECT),
        Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT),
        Series(APPID, "Native", "userCount", Scope.CHANNEL, "lobby"),
        Series(APPID, "Native", "audioFreezeRate", Scope.CHANNEL, "lobby"),
        Series(APPID, "Native", "audioFreezeRate", Scope.USER, "lobby", (1001, 1002)),
    ]


def test_channel_count_has_no_channel_or_user_scope() -> None:
    settings = _app(
        realtime={
            "usage": ["channelCount"],
            "quality": [],
            "channels": [{"cname": "a", "uids": [1]}],
        }
    )
    assert expand_series(settings) == [Series(APPID, "Native", "channelCount", Scope.PROJECT)]


def test_uids_are_sorted_deduplicated_and_split_in_chunks_of_ten() -> None:
    uids = [*range(123, 100, -1), 105, 110]  # 23 distinct uids, two repeated, reversed
    settings = _app(
        realtime={
            "usage": [],
            "quality": ["videoFreezeRate"],
            "channels": [{"cname": "a", "uids": uids}],
        }
    )
    users = [one for one in expand_series(settings) if one.scope is Scope.USER]
    assert [one.uids for one in users] == [
        tuple(range(101, 111)),
        tuple(range(111, 121)),
        (121, 122, 123),
    ]


def test_user_scope_covers_every_quality_metric_and_no_usage_metric() -> None:
    settings = _app(realtime={"channels": [{"cname": "a", "uids": [7]}]})
    users = [one for one in expand_series(settings) if one.scope is Scope.USER]
    assert [one.metric for one in users] == list(QUALITY_METRICS)
    assert all(one.uids == (7,) for one in users)


def test_a_channel_without_uids_has_no_user_scope() -> None:
    settings = _app(realtime={"channels": [{"cname": "a"}]})
    assert {one.scope for one in expand_series(settings)} == {Scope.PROJECT, Scope.CHANNEL}


def test_apps_then_product_types_then_channels_keep_the_config_order() -> None:
    data = copy.deepcopy(WORKED_EXAMPLE)
    data["apps"] = [
        {
            "appid": OTHER_APPID,
            "product_types": ["WebRTC", "Native"],
            "realtime": {
                "usage": ["userCount"],
                "quality": [],
                "channels": [{"cname": "zeta"}, {"cname": "alpha"}],
            },
        },
        {"appid": APPID, "product_types": ["Native"], "realtime": {"usage": [], "quality": []}},
    ]
    keys = [
        (one.appid, one.product_type, one.scope.value, one.cname)
        for one in expand_series(_settings(data))
    ]
    assert keys == [
        (OTHER_APPID, "WebRTC", "project", None),
        (OTHER_APPID, "WebRTC", "channel", "zeta"),
        (OTHER_APPID, "WebRTC", "channel", "alpha"),
        (OTHER_APPID, "Native", "project", None),
        (OTHER_APPID, "Native", "channel", "zeta"),
        (OTHER_APPID, "Native", "channel", "alpha"),
    ]


def test_expansion_is_deterministic_and_keys_are_unique() -> None:
    settings = _app(
        product_types=["Native", "WebRTC"],
        realtime={"channels": [{"cname": "a", "uids": list(range(25))}]},
    )
    first, second = expand_series(settings), expand_series(settings)
    assert first == second
    assert len({one.key for one in first}) == len(first) == 2 * (7 + 6 + 5 * 3)


def test_every_series_has_a_family_and_draws_on_the_realtime_budget() -> None:
    settings = _app(realtime={"channels": [{"cname": "a", "uids": [1, 2]}]})
    for one in expand_series(settings):
        assert one.family.startswith("agora_realtime_")
        assert one.budget is Budget.REALTIME


# ---------------------------------------------------------------------------
# make_plan


def test_equal_weights_give_the_worked_example_its_plan_of_before_weights() -> None:
    plan = make_plan(_settings())
    assert plan.tier is Plan.ENTERPRISE
    assert plan.feasible
    assert plan.problems == []
    assert len(plan.series) == 6
    realtime = plan.budgets[Budget.REALTIME]
    assert realtime.series == 6
    assert (realtime.limits.per_minute, realtime.limits.per_day) == (10, 1440)
    assert realtime.interval_s == 400
    assert realtime.requests_per_day == 1296
    assert realtime.freshness_s == 460
    assert plan.interval_for(Budget.REALTIME) == 400
    assert plan.lag_s(Budget.REALTIME) == 460
    assert plan.series_for(Budget.REALTIME) == plan.series
    assert {one.interval_s for one in plan.timing.values()} == {400}
    assert {one.lag_s for one in plan.timing.values()} == {460}


def test_the_default_weights_favour_the_project_freeze_rate() -> None:
    plan = make_plan(_settings(equal=False))
    intervals = {one.describe().split(" appid")[0]: plan.timing_of(one) for one in plan.series}
    assert {name: one.interval_s for name, one in intervals.items()} == {
        "userCount project": 3500,
        "channelCount project": 3500,
        "audioFreezeRate project": 80,
        "userCount channel": 3500,
        "audioFreezeRate channel": 3500,
        "audioFreezeRate user": 3500,
    }
    assert intervals["audioFreezeRate project"].lag_s == 140
    realtime = plan.budgets[Budget.REALTIME]
    assert (realtime.interval_s, realtime.shortest_s) == (3500, 80)
    assert realtime.requests_per_day <= 0.9 * 1440
    assert (plan.interval_for(Budget.REALTIME), plan.lag_s(Budget.REALTIME)) == (80, 140)
    assert plan.memory_s == 3560 + 40


def test_the_default_enterprise_config_polls_freeze_every_340_s_or_160_s_with_one_type() -> None:
    data = copy.deepcopy(WORKED_EXAMPLE)
    data["apps"][0] = {"appid": APPID, "insight": {"enabled": False}}
    plan = make_plan(_settings(data, equal=False))
    assert len(plan.series) == 14
    freeze = {
        one.key: plan.timing_of(one).interval_s
        for one in plan.series
        if one.metric.endswith("FreezeRate")
    }
    assert set(freeze.values()) == {340}
    assert set(plan.gates.values()) == {
        TrafficGroup(APPID, "Native"),
        TrafficGroup(APPID, "WebRTC"),
    }
    alone = plan.with_idle({TrafficGroup(APPID, "WebRTC")})
    native = {key: alone.timing[key].interval_s for key in freeze if "/Native/" in key}
    assert set(native.values()) == {160}
    assert len(alone.paused) == 6
    assert alone.with_idle(set()).timing == plan.timing, "resuming gives the plan back"


def test_weights_and_scope_weights_set_in_the_config_change_the_plan() -> None:
    data = copy.deepcopy(WORKED_EXAMPLE)
    data["apps"][0]["realtime"]["weights"] = {"userCount": 1}
    data["apps"][0]["realtime"]["scope_weights"] = {"channel": 1}
    plan = make_plan(_settings(data, equal=False))
    weights = {one.describe().split(" appid")[0]: plan.weights[one.key] for one in plan.series}
    assert weights == {
        "userCount project": 1,
        "channelCount project": 0,
        "audioFreezeRate project": 100,
        "userCount channel": 1,
        "audioFreezeRate channel": 100,
        "audioFreezeRate user": 0,
    }
    assert plan.timing_of(plan.series[2]).interval_s < plan.timing_of(plan.series[0]).interval_s


def test_every_budget_is_planned_and_only_realtime_has_series() -> None:
    plan = make_plan(_settings())
    assert set(plan.budgets) == set(Budget)
    for budget in Budget:
        if budget is not Budget.REALTIME:
            assert plan.budgets[budget].series == 0
            assert plan.interval_for(budget) == 0
            assert plan.budgets[budget].feasible


@pytest.mark.parametrize(
    ("quota", "headroom", "interval"),
    [
        pytest.param(
            {"realtime": {"per_day": 720}}, 0.1, 800, id="half the daily quota doubles the interval"
        ),
        pytest.param(
            {"realtime": {"per_day": 2880}}, 0.1, 200, id="twice the daily quota halves it"
        ),
        pytest.param({}, 0.0, 360, id="no headroom spends the whole day"),
        pytest.param(
            {"realtime": {"per_day": 1_000_000, "per_minute": 2}},
            0.1,
            180,
            id="a per-minute override can set the floor",
        ),
        pytest.param(
            {"insight_usage": {"per_day": 1}},
            0.1,
            400,
            id="another budget's override leaves realtime alone",
        ),
    ],
)
def test_quota_overrides_and_headroom_change_the_interval(
    quota: dict[str, Any], headroom: float, interval: int
) -> None:
    plan = make_plan(_settings(quota=quota, headroom=headroom))
    assert plan.interval_for(Budget.REALTIME) == interval


def test_an_override_applies_to_its_own_budget() -> None:
    plan = make_plan(_settings(quota={"insight_usage": {"per_day": 5}}))
    assert plan.budgets[Budget.INSIGHT_USAGE].limits.per_day == 5
    assert plan.budgets[Budget.REALTIME].limits.per_day == 1440


def _many_channels(count: int) -> Settings:
    """Enterprise or premium with 3 project series plus 2 per channel."""
    channels = [{"cname": f"room-{n}"} for n in range(count)]
    return _app(
        realtime={"usage": ["userCount"], "quality": ["audioFreezeRate"], "channels": channels}
    )


@pytest.mark.parametrize("equal", [True, False], ids=["equal weights", "default weights"])
def test_too_many_series_for_the_plan_suggests_the_plan_that_fits(equal: bool) -> None:
    data = copy.deepcopy(WORKED_EXAMPLE)
    data["agora"]["plan"] = "premium"
    data["apps"][0]["realtime"] = {
        "usage": ["userCount"],
        "quality": ["audioFreezeRate"],
        "channels": [{"cname": f"room-{n}"} for n in range(6)],
    }
    plan = make_plan(_settings(data, equal=equal))
    assert len(plan.series) == 14
    assert not plan.feasible
    assert plan.problems == [
        "budget realtime: 14 series need a poll every 2800 s, but data leaves the API after "
        "2400 s (delay 40 s); drop 3 series (at most 11 fit); or move to the enterprise plan, "
        "which covers all 14"
    ]


def test_too_many_series_for_any_plan_says_so() -> None:
    plan = make_plan(_many_channels(30))
    assert len(plan.series) == 62
    [problem] = plan.problems
    assert "drop 9 series (at most 53 fit)" in problem
    assert "no Agora plan covers that many series" in problem


def test_a_quota_override_that_makes_it_infeasible_is_named() -> None:
    plan = make_plan(_settings(quota={"realtime": {"per_day": 100}}))
    [problem] = plan.problems
    assert "drop 3 series (at most 3 fit)" in problem
    assert "the agora.quota.realtime override lowers them, raise or remove it" in problem


# ---------------------------------------------------------------------------
# render_plan


def test_render_plan_prints_the_worked_example() -> None:
    text = render_plan(make_plan(_settings()))
    assert text == (
        "agora-exporter poll plan\n"
        "plan tier: enterprise\n"
        "status: feasible\n"
        "\n"
        "budget realtime:\n"
        "  series:             6\n"
        "  limits:             10 per minute, 1440 per day\n"
        "  data:               delay 20 s, kept 3600 s, longest query 3600 s\n"
        "  headroom:           10% of the daily limit kept for retries\n"
        "  poll interval:      400 s per series\n"
        "  requests per day:   1296 (90% of the daily limit 1440)\n"
        "  expected freshness: 460 s (interval 400 s + delay 20 s + 2 x 20 s of window alignment)\n"
        "  replay lag:         460 s behind real time in exposition mode replay\n"
        "  capacity:           at most 53 series fit without gaps\n"
        "\n"
        "budgets without series: insight_usage, insight_quality, call_lists, call_details\n"
        "\n"
        "series: 6\n"
        f"  appid={APPID} Native: 6 (3 project, 2 channel, 1 user)\n"
        "\n"
        "series by poll interval (weight: realtime.weights x realtime.scope_weights):\n"
        "  every 400 s, replay lag 460 s: 6 series\n"
        f"    userCount project appid={APPID} Native (weight 1)\n"
        f"    channelCount project appid={APPID} Native (weight 1)\n"
        f"    audioFreezeRate project appid={APPID} Native (weight 1)\n"
        f"    userCount channel appid={APPID} Native cname=lobby (weight 1)\n"
        f"    audioFreezeRate channel appid={APPID} Native cname=lobby (weight 1)\n"
        f"    audioFreezeRate user appid={APPID} Native cname=lobby uids=1001,1002 (weight 1)\n"
        "\n"
        "alert latency, from an incident's first window to the alert firing "
        "(replay lag + the rule's for):\n"
        "  AgoraAudioFreezeRateHigh:        12 min 40 s (replay lag 460 s + for 5m), 1 series\n"
        "  AgoraChannelAudioFreezeRateHigh: 12 min 40 s (replay lag 460 s + for 5m), 1 series\n"
    )


def test_render_plan_of_the_default_enterprise_config_quotes_each_alerts_latency() -> None:
    data = copy.deepcopy(WORKED_EXAMPLE)
    data["apps"][0] = {"appid": APPID, "insight": {"enabled": False}}
    text = render_plan(make_plan(_settings(data, equal=False)))
    assert "  poll interval:      340 s to 3500 s per series, by weight (see below)\n" in text
    assert "  every 340 s, replay lag 400 s: 4 series\n" in text
    latency = text[text.index("alert latency") :]
    assert latency.splitlines()[1:5] == [
        "  AgoraAudioFreezeRateHigh: 11 min 40 s (replay lag 400 s + for 5m), 2 series",
        "  AgoraVideoFreezeRateHigh: 11 min 40 s (replay lag 400 s + for 5m), 2 series",
        "  AgoraJoinSuccessIn5sLow:  61 min 20 s (replay lag 3380 s + for 5m), 2 series",
        "  AgoraNetworkDelayHigh:    61 min 20 s (replay lag 3380 s + for 5m), 2 series",
    ]
    alone = latency[latency.index("when only one product type") :].splitlines()
    assert alone[1] == f"  appid={APPID} Native alone:"
    assert alone[2] == "    AgoraAudioFreezeRateHigh: 8 min 40 s (replay lag 220 s + for 5m)"
    assert alone[3] == "    AgoraVideoFreezeRateHigh: 8 min 40 s (replay lag 220 s + for 5m)"


def test_render_plan_marks_overridden_limits() -> None:
    text = render_plan(make_plan(_settings(quota={"realtime": {"per_day": 1_000_000}})))
    assert (
        "  limits:             10 per minute, 1000000 per day (agora.quota.realtime override; "
        "the plan grants 10 per minute, 1440 per day)\n"
    ) in text
    assert "  poll interval:      40 s per series\n" in text
    assert "  requests per day:   12960 (1.3% of the daily limit 1000000)\n" in text


def test_render_plan_of_an_infeasible_config_says_what_to_drop() -> None:
    plan = make_plan(_many_channels(30))
    text = render_plan(plan)
    assert "status: INFEASIBLE" in text
    infeasible = text[text.index("\nINFEASIBLE") :]
    assert "drop 9 series (at most 53 fit)" in infeasible
    assert plan.problems[0] in infeasible


def test_render_plan_never_shows_credentials() -> None:
    for plan in (make_plan(_settings()), make_plan(_many_channels(30))):
        text = render_plan(plan)
        assert CUSTOMER_ID not in text
        assert CUSTOMER_SECRET not in text


def test_a_config_with_no_metrics_has_an_empty_feasible_plan() -> None:
    plan = make_plan(_app(realtime={"usage": [], "quality": []}))
    assert plan.series == []
    assert plan.feasible
    text = render_plan(plan)
    assert "budgets without series: realtime, insight_usage" in text
    assert "series: 0\n" in text


def test_a_poll_plan_is_a_plain_value() -> None:
    plan = make_plan(_settings())
    assert isinstance(plan, PollPlan)
    assert plan == make_plan(_settings())
