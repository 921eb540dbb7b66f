"""Insight budgets in the planner, and the pure timing of passes: no HTTP, no store."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.agora import WindowProblem, WindowRejectedError
from exporter.agora.limits import DAY, HOUR, Budget, Endpoint, Limits, Plan, limits_for
from exporter.catalog.insight import INSIGHT_QUALITY_METRICS, INSIGHT_USAGE_METRICS, Granularity
from exporter.insight.plan import SLACK_S, expand_insight_series
from exporter.insight.poller import shrink_frame
from exporter.insight.schedule import (
    CLOCK_MARGIN_S,
    GRID_TOLERANCE_S,
    REREAD_S,
    insight_frame,
    is_late,
    next_pass_at,
    retry_at,
)
from exporter.scheduling.planner import make_plan
from exporter.scheduling.report import render_plan
from exporter.settings import Settings, load_settings

APPIDS = [f"{n:032x}" for n in range(1, 9)]
ENTERPRISE = limits_for(Plan.ENTERPRISE, Budget.INSIGHT_USAGE)
PREMIUM = limits_for(Plan.PREMIUM, Budget.INSIGHT_USAGE)
DAY_TS = 1_699_891_200  # 2023-11-13 16:00 UTC, a day point as the API gives it


def _settings(apps: int = 1, *, plan: str = "enterprise", **app: Any) -> Settings:
    agora = {"customer_id": "id", "customer_secret": "secret", "plan": plan}
    agora.update(app.pop("agora", {}))
    entries = [{"appid": appid, **app} for appid in APPIDS[:apps]]
    return load_settings(None, environ={}, overrides={"agora": agora, "apps": entries})


def test_an_app_costs_eight_usage_and_one_quality_request_per_metric_and_product_type() -> None:
    series = expand_insight_series(_settings())
    usage = [one for one in series if one.budget is Budget.INSIGHT_USAGE]
    quality = [one for one in series if one.budget is Budget.INSIGHT_QUALITY]
    assert [one.metric for one in usage] == list(INSIGHT_USAGE_METRICS)
    assert len(quality) == 5 * 2
    assert {one.product_type for one in quality} == {"Native", "WebRTC"}
    assert all(one.granularity is Granularity.DAY for one in series)


def test_insight_quality_follows_the_insight_quality_list_and_hourly_doubles_it() -> None:
    settings = _settings(
        product_types=["Native"],
        insight={"hourly_quality": True, "quality": ["audioFreezeRate"]},
    )
    quality = [one for one in expand_insight_series(settings) if one.product_type]
    assert [(one.metric, one.granularity) for one in quality] == [
        ("audioFreezeRate", Granularity.DAY),
        ("audioFreezeRate", Granularity.HOUR),
    ]


@pytest.mark.parametrize(
    "realtime",
    [
        pytest.param({"quality": []}, id="no real-time quality"),
        pytest.param({"usage": [], "quality": ["networkDelay"]}, id="one real-time quality metric"),
    ],
)
def test_the_insight_lists_are_independent_of_the_real_time_ones(realtime: dict[str, Any]) -> None:
    series = expand_insight_series(_settings(realtime=realtime))
    quality = {(one.metric, one.product_type) for one in series if one.product_type}
    usage = [one.metric for one in series if not one.product_type]
    assert quality == {(m, p) for m in INSIGHT_QUALITY_METRICS for p in ("Native", "WebRTC")}
    assert usage == list(INSIGHT_USAGE_METRICS)


def test_insight_usage_follows_the_insight_usage_list_and_costs_one_request_each() -> None:
    plan = make_plan(_settings(insight={"usage": ["userCount", "peakConcurrentUsers"]}))
    usage = [one.metric for one in plan.insight if not one.product_type]
    assert usage == ["userCount", "peakCurrentUsers"], "the reference's spelling is kept"
    assert plan.budgets[Budget.INSIGHT_USAGE].series == 2


def test_an_app_with_insight_disabled_has_no_insight_series() -> None:
    plan = make_plan(_settings(insight={"enabled": False}))
    assert plan.insight == []
    assert plan.budgets[Budget.INSIGHT_USAGE].series == 0


@pytest.mark.parametrize(
    ("plan_name", "budget", "cost", "interval"),
    [
        pytest.param("enterprise", Budget.INSIGHT_USAGE, 8, 14400, id="enterprise usage: 6 a day"),
        pytest.param(
            "enterprise", Budget.INSIGHT_QUALITY, 10, 17280, id="enterprise quality: 5 a day"
        ),
        pytest.param("premium", Budget.INSIGHT_USAGE, 8, 21600, id="premium usage: 4 a day"),
        pytest.param("premium", Budget.INSIGHT_QUALITY, 10, 28800, id="premium quality: 3 a day"),
    ],
)
def test_a_pass_costs_one_request_per_series_and_as_many_passes_fit_as_the_day_allows(
    plan_name: str, budget: Budget, cost: int, interval: int
) -> None:
    budget_plan = make_plan(_settings(plan=plan_name)).budgets[budget]
    assert (budget_plan.series, budget_plan.interval_s, budget_plan.feasible) == (
        cost,
        interval,
        True,
    )
    assert budget_plan.requests_per_day <= 0.9 * budget_plan.limits.per_day


def test_plan_shows_what_a_pass_costs_and_how_many_fit_a_day() -> None:
    text = render_plan(make_plan(_settings(insight={"hourly_quality": True})))
    assert "budget insight_usage:" in text
    assert "pass:             8 requests, one per series (at most 54 fit)" in text
    assert "passes per day:   6, one every 14400 s" in text
    assert "requests per day: 48 (80% of the daily limit 60)" in text
    assert "pass:             20 requests" in text
    assert "insight series: 28 (one request each per pass)" in text
    assert "peakCurrentUsers daily appid=" in text


def test_seven_apps_do_not_fit_one_enterprise_usage_pass_and_the_message_names_the_fix() -> None:
    plan = make_plan(_settings(7, insight={"enabled": True}))
    assert not plan.feasible
    [problem] = [text for text in plan.problems if "insight_usage" in text]
    assert "one pass needs 56 requests" in problem
    assert "leaves 54 after headroom; drop 2" in problem
    assert "insight: {enabled: false}" in problem
    assert "INFEASIBLE" in render_plan(plan)


def test_hourly_quality_that_does_not_fit_names_hourly_quality_as_a_fix() -> None:
    plan = make_plan(_settings(3, insight={"hourly_quality": True}))
    [problem] = plan.problems
    assert problem.startswith("budget insight_quality: one pass needs 60 requests")
    assert "hourly_quality: false" in problem


def test_premium_that_cannot_fit_suggests_enterprise() -> None:
    plan = make_plan(_settings(5, plan="premium", realtime={"quality": []}))
    [problem] = [text for text in plan.problems if "insight_usage" in text]
    assert "one pass needs 40 requests" in problem
    assert problem.endswith("or move to the enterprise plan")


def test_a_lowering_override_is_named_when_the_plans_own_limits_would_fit() -> None:
    settings = _settings(agora={"quota": {"insight_usage": {"per_day": 8}}})
    [problem] = make_plan(settings).problems
    assert "agora.quota.insight_usage override lowers them" in problem


# ---------------------------------------------------------------------------
# Timing


NOW = 1_700_000_000
PREMIUM_QUALITY = limits_for(Plan.PREMIUM, Budget.INSIGHT_QUALITY)


@pytest.mark.parametrize(
    ("limits", "newest", "now", "frame"),
    [
        pytest.param(
            ENTERPRISE,
            None,
            NOW + 0.7,
            (NOW - 6 * HOUR - CLOCK_MARGIN_S - 7 * DAY + 1, NOW - 6 * HOUR - CLOCK_MARGIN_S),
            id="enterprise's first frame is one second shorter than 7 days and ends inside "
            "the 6 h delay",
        ),
        pytest.param(
            PREMIUM,
            None,
            NOW,
            (NOW - 12 * HOUR - CLOCK_MARGIN_S - 3 * DAY + 1, NOW - 12 * HOUR - CLOCK_MARGIN_S),
            id="premium usage's first frame is one second shorter than 3 days and ends inside "
            "the 12 h delay",
        ),
        pytest.param(
            ENTERPRISE,
            DAY_TS,
            DAY_TS + 2 * DAY,
            (DAY_TS - REREAD_S, DAY_TS + 2 * DAY - 6 * HOUR - CLOCK_MARGIN_S),
            id="a later frame re-reads two days before the newest stored day",
        ),
        pytest.param(
            PREMIUM,
            DAY_TS,
            DAY_TS + 10 * DAY,
            (
                DAY_TS + 7 * DAY - 12 * HOUR - CLOCK_MARGIN_S + 1,
                DAY_TS + 10 * DAY - 12 * HOUR - CLOCK_MARGIN_S,
            ),
            id="a frame never reaches back the whole longest query",
        ),
    ],
)
def test_an_insight_frame_ends_inside_the_delay_and_spans_less_than_the_longest_query(
    limits: Limits | None, newest: int | None, now: float, frame: tuple[int, int]
) -> None:
    assert limits is not None
    assert insight_frame(newest, now, limits) == frame


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param(ENTERPRISE, id="enterprise"),
        pytest.param(PREMIUM, id="premium usage"),
        pytest.param(PREMIUM_QUALITY, id="premium quality"),
    ],
)
@pytest.mark.parametrize(
    "newest",
    [pytest.param(None, id="no day stored"), pytest.param(DAY_TS, id="a day stored")],
)
@pytest.mark.parametrize(
    "now", [pytest.param(DAY_TS + d * DAY + 0.5, id=f"{d} days later") for d in (0, 2, 9, 40)]
)
def test_every_frame_keeps_each_strict_rule_of_the_reference(
    limits: Limits | None, newest: int | None, now: float
) -> None:
    assert limits is not None
    start, end = insight_frame(newest, now, limits)
    assert end < now - limits.delay_s, "end_ts < now - delay"
    assert end - start < limits.max_span_s, "end_ts - start_ts < longest query"
    assert start > now - limits.horizon_s, "start_ts > now - horizon"
    assert start <= end
    newest_published = now - limits.delay_s - HOUR  # an hour point, published just now
    assert end >= newest_published, "no published point is left out"


@pytest.mark.parametrize(
    ("problem", "frame", "shrunk"),
    [
        pytest.param(
            WindowProblem.LATENCY,
            (NOW - 3 * DAY, NOW),
            (NOW - 3 * DAY, NOW - 6 * HOUR),
            id="a latency refusal ends the frame a delay earlier",
        ),
        pytest.param(
            WindowProblem.LENGTH,
            (NOW - 3 * DAY, NOW),
            (NOW - 2 * DAY, NOW),
            id="a length refusal starts the frame a day later",
        ),
        pytest.param(
            WindowProblem.RANGE,
            (NOW - 3 * DAY, NOW),
            (NOW - 2 * DAY, NOW),
            id="a range refusal starts the frame a day later",
        ),
        pytest.param(
            WindowProblem.LENGTH,
            (NOW - HOUR, NOW),
            None,
            id="a frame shorter than what a refusal takes off cannot be shrunk",
        ),
    ],
)
def test_a_refused_frame_shrinks_on_the_side_the_api_complained_of(
    problem: WindowProblem, frame: tuple[int, int], shrunk: tuple[int, int] | None
) -> None:
    assert PREMIUM_QUALITY is not None
    error = WindowRejectedError(Endpoint.INSIGHT_QUALITY, problem=problem)
    assert shrink_frame(error, frame, PREMIUM_QUALITY) == shrunk


def test_the_first_pass_runs_at_once() -> None:
    assert next_pass_at(last_pass_at=None, newest_day_ts=None, interval_s=14400, delay_s=0) is None


def test_passes_sit_on_a_grid_one_slack_after_the_next_days_expected_publication() -> None:
    expected = DAY_TS + 2 * DAY + 6 * HOUR  # the next day's publication
    last = DAY_TS + DAY + 6 * HOUR + 13 * 60  # a pass right after this day appeared
    found = next_pass_at(
        last_pass_at=last, newest_day_ts=DAY_TS, interval_s=4 * HOUR, delay_s=6 * HOUR
    )
    assert found is not None
    assert found >= last + 4 * HOUR
    assert (found - (expected + SLACK_S)) % (4 * HOUR) == 0
    assert found - last < 2 * 4 * HOUR


def test_passes_are_never_closer_than_the_planned_interval_less_the_grid_tolerance() -> None:
    for offset in range(0, DAY, 7 * 60):
        last = DAY_TS + offset
        found = next_pass_at(
            last_pass_at=last, newest_day_ts=DAY_TS, interval_s=17280, delay_s=6 * HOUR
        )
        assert found is not None
        assert 17280 - GRID_TOLERANCE_S <= found - last < 2 * 17280


def test_a_pass_that_ran_a_few_minutes_late_keeps_the_next_grid_point() -> None:
    grid_point = DAY_TS + 2 * DAY + 6 * HOUR + SLACK_S
    found = next_pass_at(
        last_pass_at=grid_point - 4 * HOUR + 5 * 60,
        newest_day_ts=DAY_TS,
        interval_s=4 * HOUR,
        delay_s=6 * HOUR,
    )
    assert found == grid_point


def test_a_day_is_late_from_its_expected_publication_for_twelve_hours_only() -> None:
    expected = DAY_TS + 2 * DAY + 6 * HOUR + SLACK_S
    assert not is_late(DAY_TS, 6 * HOUR, expected - 1)
    assert is_late(DAY_TS, 6 * HOUR, expected)
    assert is_late(DAY_TS, 6 * HOUR, expected + 12 * HOUR - 1)
    assert not is_late(DAY_TS, 6 * HOUR, expected + 12 * HOUR)
    assert not is_late(None, 6 * HOUR, expected)


def test_a_late_day_is_retried_an_hour_later_unless_the_next_pass_comes_first() -> None:
    assert retry_at(last_attempt_at=1000.0, next_regular=10_000.0) == 1000.0 + HOUR
    assert retry_at(last_attempt_at=1000.0, next_regular=1000.0 + HOUR) is None
