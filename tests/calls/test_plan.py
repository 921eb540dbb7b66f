"""Call Inspector, pure parts: the metric catalog, the request frames and the call budgets."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from exporter.agora import WindowProblem, WindowRejectedError
from exporter.agora.limits import (
    DAY,
    HOUR,
    Budget,
    Endpoint,
    Limits,
    Plan,
    limits_for,
    plans_with_access,
)
from exporter.calls.frames import (
    Frame,
    details_frame,
    is_done,
    list_frame,
    next_list_cursor,
    shrink_frame,
)
from exporter.calls.plan import CallTarget
from exporter.catalog import calls as catalog
from exporter.catalog.table import metrics_table_markdown
from exporter.scheduling.planner import make_plan
from exporter.scheduling.report import render_plan
from exporter.settings import Settings, load_settings
from exporter.simulator.timerules import check_frame
from exporter.store.calls import TrackedCall

APPID = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000
# The reference's Metrics ID table, and the current IDs FACTS lists beyond it.
REFERENCE_MIDS = {*range(20001, 20012), 20013, *range(20015, 20029)}
FACTS_MIDS = {*range(20030, 20039), 20039, 20040}
NOT_IDS = (20012, 20014, 20029)
UNIT_RULES = {  # API unit -> (family suffix, factor to the family's unit)
    "%": ("_ratio", 0.01),
    "Kbps": ("_bytes_per_second", 125.0),
    "ms": ("_seconds", 0.001),
    "fps": ("_frames_per_second", 1.0),
    "dB": ("_decibels", 1.0),
    "pixels": ("_pixels", 1.0),
}


def _limits(budget: Budget, plan: Plan = Plan.ENTERPRISE) -> Any:
    limits = limits_for(plan, budget)
    assert limits is not None
    return limits


# ---------------------------------------------------------------------------
# catalog


def test_every_metric_id_of_the_reference_and_facts_is_exposed() -> None:
    assert set(catalog.CALL_METRICS) == REFERENCE_MIDS
    assert all(catalog.is_known(mid) for mid in REFERENCE_MIDS | FACTS_MIDS)
    assert not any(catalog.is_known(mid) for mid in NOT_IDS)


@pytest.mark.parametrize(
    "metric", list(catalog.CALL_METRICS.values()), ids=lambda m: f"mid {m.mid} {m.family}"
)
def test_each_family_follows_one_unit_rule(metric: catalog.CallMetric) -> None:
    assert re.fullmatch(r"agora_call_[a-z0-9_]+", metric.family)
    if metric.api_unit in UNIT_RULES:
        suffix, factor = UNIT_RULES[metric.api_unit]
        assert metric.family.endswith(suffix)
        assert metric.scale == pytest.approx(factor)
    else:
        assert metric.scale == 1.0
    assert str(metric.mid) in metric.help_text


def test_unit_conversion_matches_the_examples_of_the_reference() -> None:
    assert catalog.exposed_value(20001, 27) == pytest.approx(0.27)
    assert catalog.exposed_value(20003, 126) == pytest.approx(15_750)  # 126 Kbps in bytes/s
    assert catalog.exposed_value(20011, 2000.50) == pytest.approx(2.0005)
    assert catalog.exposed_value(20007, 16) == 16
    assert catalog.exposed_value(20033, 51) == 51  # undocumented: raw


def test_family_names_are_unique_and_in_the_readme_table() -> None:
    families = [metric.family for metric in catalog.CALL_METRICS.values()]
    assert len(set(families)) == len(families)
    table = metrics_table_markdown()
    for name in [*families, catalog.UNDOCUMENTED_FAMILY]:
        assert f"`{name}`" in table
    for one in catalog.CALL_SELF_METRICS:
        assert f"`{one.name}`" in table


# ---------------------------------------------------------------------------
# frames


def test_the_first_call_search_reaches_back_one_longest_query() -> None:
    limits = _limits(Budget.CALL_LISTS)
    frame = list_frame(None, NOW, limits)
    # Ends 10 s inside the 60 s delay; one second shorter than the longest query.
    assert frame == Frame(NOW - 70 - (limits.max_span_s - 1), NOW - 70)


def test_a_call_search_continues_from_its_cursor_and_waits_for_the_delay() -> None:
    limits = _limits(Budget.CALL_LISTS)
    assert list_frame(NOW - 500, NOW, limits) == Frame(NOW - 500, NOW - 70)
    assert list_frame(NOW - 70, NOW, limits) is None


def test_the_next_search_starts_at_the_oldest_ongoing_call() -> None:
    frame = Frame(1000, 2000)
    assert next_list_cursor(frame, ongoing_since=[1500, 1200]) == 1200
    assert next_list_cursor(frame, ongoing_since=[]) == 2000


def test_a_search_cut_short_gives_up_the_older_calls_it_did_not_reach() -> None:
    frame = Frame(1000, 2000)
    assert next_list_cursor(frame, ongoing_since=[1100], oldest_seen=1400) == 1400
    assert next_list_cursor(frame, ongoing_since=[1600], oldest_seen=1400) == 1600


def test_a_new_call_is_not_asked_for_before_its_data_exists() -> None:
    limits = _limits(Budget.CALL_DETAILS)
    call = TrackedCall(APPID, "c1", "lobby", created_ts=NOW - 305)
    assert details_frame(call, NOW, limits, 300) is None


def test_the_first_details_frame_covers_one_cycle_and_later_ones_follow_the_cursor() -> None:
    limits = _limits(Budget.CALL_DETAILS)
    call = TrackedCall(APPID, "c1", "lobby", created_ts=NOW - 3600)
    assert details_frame(call, NOW, limits, 300) == Frame(NOW - 310 - 300, NOW - 310)
    moved = TrackedCall(APPID, "c1", "lobby", created_ts=NOW - 3600, cursor=NOW - 700)
    assert details_frame(moved, NOW, limits, 300) == Frame(NOW - 700, NOW - 310)


def test_a_finished_calls_frames_stop_at_its_end_and_then_it_is_done() -> None:
    limits = _limits(Budget.CALL_DETAILS)
    base = {"created_ts": NOW - 3600, "finished": True, "destroyed_ts": NOW - 1000}
    call = TrackedCall(APPID, "c1", "lobby", cursor=NOW - 1100, **base)
    assert details_frame(call, NOW, limits, 300) == Frame(NOW - 1100, NOW - 1000)
    assert not is_done(call)
    fetched = TrackedCall(APPID, "c1", "lobby", cursor=NOW - 999, **base)
    assert details_frame(fetched, NOW, limits, 300) is None
    assert is_done(fetched)


def test_a_frame_never_spans_more_than_one_query_allows() -> None:
    limits = _limits(Budget.CALL_DETAILS, Plan.PREMIUM)
    call = TrackedCall(APPID, "c1", "lobby", created_ts=NOW - 86400, cursor=NOW - 50_000)
    frame = details_frame(call, NOW, limits, 300)
    assert frame is not None
    assert frame.end - frame.start == limits.max_span_s - 1


def _refusal(frame: Frame, agora_now: float, limits: Limits) -> str | None:
    """The reference's "ensure that" lines for the Call Inspector, read strictly."""
    if not frame.end < agora_now - limits.delay_s:
        return "query latency limit error"
    if not frame.start > agora_now - limits.horizon_s:
        return "query time range limit error"
    if not frame.end - frame.start < limits.max_span_s:
        return "query time length limit error"
    return None


def _frames(budget: Budget, plan: Plan, now: float) -> list[Frame | None]:
    """Every kind of frame the inspector asks for at ``now``."""
    limits = _limits(budget, plan)
    if budget is Budget.CALL_LISTS:
        cursors = (None, NOW - 30 * DAY, NOW - 3 * HOUR, NOW - 75)
        return [list_frame(cursor, now, limits) for cursor in cursors]
    calls = [
        TrackedCall(APPID, "new", "lobby", created_ts=NOW - 3600),
        TrackedCall(APPID, "behind", "lobby", created_ts=NOW - 30 * DAY, cursor=NOW - 20 * DAY),
        TrackedCall(APPID, "recent", "lobby", created_ts=NOW - 3600, cursor=NOW - 900),
        TrackedCall(APPID, "ended", "lobby", NOW - 3600, NOW - 301, True, NOW - 2000),
    ]
    return [details_frame(call, now, limits, 960) for call in calls]


STRICT_CASES = [
    pytest.param(budget, plan, now, skew, id=f"{budget} {plan} now+{now - NOW:g} skew {skew:g}")
    for budget in (Budget.CALL_LISTS, Budget.CALL_DETAILS)
    for plan in plans_with_access(budget)
    for now in (NOW, NOW + 0.5, NOW + 0.999)
    for skew in (0.0, 1.0, 9.0)
]


@pytest.mark.parametrize(("budget", "plan", "now", "skew"), STRICT_CASES)
def test_every_call_frame_keeps_the_references_rules_with_a_clock_ahead_of_agoras(
    budget: Budget, plan: Plan, now: float, skew: float
) -> None:
    """``end < now - delay``, ``start > now - horizon``, ``end - start < longest``, where
    Agora's ``now`` is ``skew`` seconds behind the exporter's."""
    limits = _limits(budget, plan)
    frames = [frame for frame in _frames(budget, plan, now) if frame is not None]
    assert len(frames) >= 3
    for frame in frames:
        assert _refusal(frame, now - skew, limits) is None, frame
        assert check_frame(limits, frame.start, frame.end, now - skew) is None


def _rejected(problem: WindowProblem) -> WindowRejectedError:
    return WindowRejectedError(Endpoint.CALL_LISTS, problem=problem)


@pytest.mark.parametrize(
    ("problem", "frame", "smaller"),
    [
        pytest.param(
            WindowProblem.LATENCY, (1000, 5000), (1000, 4980), id="latency: end 20 s back"
        ),
        pytest.param(WindowProblem.RANGE, (1000, 5000), (1020, 5000), id="range: start 20 s on"),
        pytest.param(WindowProblem.LENGTH, (1000, 5000), (1000, 3000), id="length: older half"),
        pytest.param(WindowProblem.DURATION, (1000, 5001), (1000, 3000), id="duration: as length"),
        pytest.param(WindowProblem.LATENCY, (1000, 1020), None, id="latency: nothing left"),
        pytest.param(WindowProblem.RANGE, (1000, 1015), None, id="range: nothing left"),
        pytest.param(WindowProblem.LENGTH, (1000, 1001), None, id="length: nothing left"),
    ],
)
def test_a_refused_frame_shrinks_on_the_side_the_api_complained_of(
    problem: WindowProblem, frame: tuple[int, int], smaller: tuple[int, int] | None
) -> None:
    shrunk = shrink_frame(_rejected(problem), Frame(*frame))
    assert shrunk == (None if smaller is None else Frame(*smaller))


def test_a_frame_refused_for_a_clock_25_s_ahead_is_accepted_once_shrunk() -> None:
    limits = _limits(Budget.CALL_LISTS)
    frame = list_frame(None, NOW, limits)
    assert frame is not None
    agora_now = NOW - 25
    assert _refusal(frame, agora_now, limits) == "query latency limit error"
    shrunk = shrink_frame(_rejected(WindowProblem.LATENCY), frame)
    assert shrunk is not None
    assert _refusal(shrunk, agora_now, limits) is None


# ---------------------------------------------------------------------------
# the call budgets

CONFIG: dict[str, Any] = {
    "agora": {"customer_id": "cid-1", "customer_secret": "sec-1", "plan": "enterprise"},
    "apps": [{"appid": APPID, "product_types": ["Native"], "insight": {"enabled": False}}],
}


def _settings(calls: dict[str, Any] | None = None, **agora: Any) -> Settings:
    data = copy.deepcopy(CONFIG)
    data["agora"].update(agora)
    if calls is not None:
        data["apps"][0]["calls"] = calls
    return load_settings(None, environ={}, overrides=data)


def test_calls_off_leave_both_call_budgets_idle() -> None:
    plan = make_plan(_settings())
    assert plan.feasible
    assert plan.budgets[Budget.CALL_LISTS].series == plan.budgets[Budget.CALL_DETAILS].series == 0
    assert "call_lists, call_details" in render_plan(plan)


def test_the_default_caps_on_enterprise_run_a_cycle_every_sixteen_minutes() -> None:
    plan = make_plan(_settings({"enabled": True}))
    assert plan.feasible
    # 50 calls x (1 sessions page + 1 metrics request) = 100 requests a cycle;
    # 100 x 86400 / (0.9 x 10000) = 960 s; the lists budget gives 100 pages a cycle.
    assert plan.calls.interval_s == 960
    assert plan.budgets[Budget.CALL_DETAILS].series == 100
    assert plan.calls.pages_per_search == 100
    assert plan.budgets[Budget.CALL_DETAILS].requests_per_day <= 0.9 * 10000


def test_each_watched_channel_is_one_search() -> None:
    plan = make_plan(_settings({"enabled": True, "channels": ["lobby", "stage"]}))
    assert plan.calls.searches == 2
    assert plan.budgets[Budget.CALL_LISTS].series == 2 * plan.calls.pages_per_search


def test_premium_runs_the_default_caps_every_eighty_minutes() -> None:
    plan = make_plan(_settings({"enabled": True}, plan="premium"))
    assert plan.feasible
    assert plan.calls.interval_s == 4800


def test_caps_too_big_for_the_plan_are_refused_with_what_to_lower_and_a_plan_that_fits() -> None:
    calls = {"enabled": True, "max_calls": 200, "max_sessions_per_call": 100}
    plan = make_plan(_settings(calls, plan="premium"))
    assert not plan.feasible
    [problem] = plan.problems
    assert "call_details" in problem
    assert "max_calls" in problem
    assert "enterprise plan" in problem


def test_a_lowered_daily_quota_stretches_the_cycle() -> None:
    calls = {"enabled": True, "max_calls": 2}
    plan = make_plan(_settings(calls, quota={"call_details": {"per_day": 30}}))
    assert plan.feasible
    # 2 calls x 2 requests = 4 a cycle; 4 x 86400 / (0.9 x 30) = 12800 s.
    assert plan.calls.interval_s == 12800
    assert plan.budgets[Budget.CALL_DETAILS].requests_per_day <= 27


def test_the_plan_text_shows_the_call_budgets_and_what_is_inspected() -> None:
    text = render_plan(make_plan(_settings({"enabled": True, "channels": ["lobby"]})))
    assert "budget call_lists:" in text
    assert "budget call_details:" in text
    assert "10 per second, 10000 per day" in text
    assert "call inspection: one cycle every" in text
    assert f"calls appid={APPID} channels lobby: at most 50 calls of 20 sessions" in text


def test_sessions_past_a_hundred_cost_another_page() -> None:
    assert CallTarget(APPID, max_calls=1, max_sessions_per_call=20).details_per_call == 2
    assert CallTarget(APPID, max_calls=1, max_sessions_per_call=100).details_per_call == 6
    assert CallTarget(APPID, max_calls=1, max_sessions_per_call=101).details_per_call == 8
