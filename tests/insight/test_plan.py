"""Insight budgets in the planner, and the pure timing of passes: no HTTP, no store."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.agora.limits import DAY, HOUR, Budget, Plan, limits_for
from exporter.catalog.insight import INSIGHT_USAGE_METRICS, Granularity
from exporter.insight.plan import SLACK_S, expand_insight_series
from exporter.insight.schedule import (
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


def test_insight_quality_follows_the_apps_quality_metrics_and_hourly_doubles_it() -> None:
    settings = _settings(
        product_types=["Native"],
        realtime={"quality": ["audioFreezeRate"]},
        insight={"hourly_quality": True},
    )
    quality = [one for one in expand_insight_series(settings) if one.product_type]
    assert [(one.metric, one.granularity) for one in quality] == [
        ("audioFreezeRate", Granularity.DAY),
        ("audioFreezeRate", Granularity.HOUR),
    ]


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


def test_the_first_frame_is_the_longest_the_plan_allows() -> None:
    assert ENTERPRISE is not None
    assert PREMIUM is not None
    assert insight_frame(None, 1_700_000_000.7, ENTERPRISE) == (
        1_700_000_000 - 7 * DAY,
        1_700_000_000,
    )
    assert insight_frame(None, 1_700_000_000, PREMIUM) == (1_700_000_000 - 3 * DAY, 1_700_000_000)


def test_later_frames_reread_two_days_before_the_newest_stored_day() -> None:
    assert ENTERPRISE is not None
    now = DAY_TS + 2 * DAY
    assert insight_frame(DAY_TS, now, ENTERPRISE) == (DAY_TS - REREAD_S, now)


def test_a_frame_never_reaches_back_further_than_the_longest_query() -> None:
    assert PREMIUM is not None
    now = DAY_TS + 10 * DAY
    assert insight_frame(DAY_TS, now, PREMIUM) == (now - 3 * DAY, now)


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
