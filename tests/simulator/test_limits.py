"""Plan limits in the simulator: access, time checks with their exact messages, quotas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exporter.agora.limits import DAY, HOUR, MINUTE, Budget, Endpoint, Limits
from exporter.simulator import Simulator
from tests.conftest import APPID, MakeSimulator, client_for
from tests.fakes import FakeClock

NO_AUTH = "you have no auth to access this service, please buy or upgrade your service package"
LATENCY = "query latency limit error"
RANGE = "query time range limit error"
LENGTH = "query time length limit error"
CALL_ID = "0" * 32

# Written out from the reference's tables, independently of exporter.agora.limits:
# (delay, horizon, longest frame) per plan and budget.
REFERENCE_TIMES = {
    ("enterprise", Budget.REALTIME): (20, 60 * MINUTE, 60 * MINUTE),
    ("premium", Budget.REALTIME): (40, 40 * MINUTE, 40 * MINUTE),
    ("enterprise", Budget.INSIGHT_USAGE): (6 * HOUR, 30 * DAY, 7 * DAY),
    ("premium", Budget.INSIGHT_USAGE): (12 * HOUR, 14 * DAY, 3 * DAY),
    ("enterprise", Budget.INSIGHT_QUALITY): (6 * HOUR, 30 * DAY, 7 * DAY),
    ("premium", Budget.INSIGHT_QUALITY): (6 * HOUR, 14 * DAY, 3 * DAY),
    ("enterprise", Budget.CALL_LISTS): (60, 15 * DAY, 24 * HOUR),
    ("premium", Budget.CALL_LISTS): (60, 7 * DAY, 16 * HOUR),
    ("enterprise", Budget.CALL_DETAILS): (300, 15 * DAY, 6 * HOUR),
    ("premium", Budget.CALL_DETAILS): (300, 7 * DAY, 3 * HOUR),
}
INSIGHT = (Budget.INSIGHT_USAGE, Budget.INSIGHT_QUALITY)


def request_for(
    budget: Budget, start: int, end: int, path: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A valid request on a budget's endpoint for the frame ``[start, end]``."""
    camel: dict[str, Any] = {"startTs": start, "endTs": end, "appid": APPID}
    snake: dict[str, Any] = {"start_ts": start, "end_ts": end, "appid": APPID}
    if budget is Budget.REALTIME:
        target = path or Endpoint.REALTIME_USAGE.value
        metric = "networkDelay" if target == Endpoint.REALTIME_QUALITY.value else "userCount"
        return target, camel | {"productType": "Native", "metric": metric}
    if budget is Budget.INSIGHT_USAGE:
        extra = {"metric": "userCount", "aggregateGranularity": "1d"}
        return Endpoint.INSIGHT_USAGE.value, camel | extra
    if budget is Budget.INSIGHT_QUALITY:
        extra = {"metric": "videoFreezeRate", "aggregateGranularity": "1d", "productType": "Native"}
        return Endpoint.INSIGHT_QUALITY.value, camel | extra
    if budget is Budget.CALL_LISTS:
        return Endpoint.CALL_LISTS.value, snake
    if path == Endpoint.CALL_METRICS.value:
        return path, snake | {"call_id": CALL_ID, "sids": "S1"}
    return Endpoint.CALL_SESSIONS.value, snake | {"call_id": CALL_ID}


def send(
    client: httpx.Client, budget: Budget, start: int, end: int, path: str | None = None
) -> dict[str, Any]:
    target, params = request_for(budget, start, end, path)
    response = client.get(target, params=params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def outcome(body: dict[str, Any]) -> str | None:
    """None for a success, else the refusal message."""
    return None if body.get("code") in (200, 0) else str(body["message"])


def recent(client: httpx.Client, budget: Budget, now: int) -> dict[str, Any]:
    """A request whose frame passes every time check."""
    if budget is Budget.REALTIME:
        return send(client, budget, now - 600, now - 60)
    if budget in INSIGHT:
        return send(client, budget, now - 2 * DAY, now - DAY)
    return send(client, budget, now - 2 * HOUR, now - HOUR)


def time_cases() -> list[Any]:
    """Every rule, strict for every endpoint family: at the limit refused, inside it fine."""
    cases = []
    for (plan, budget), (delay, horizon, span) in REFERENCE_TIMES.items():
        name = f"{plan} {budget}"
        cases += [
            pytest.param(
                plan,
                budget,
                -delay - 60,
                -delay,
                LATENCY,
                id=f"{name}: an end at now - {delay} s is refused with query latency",
            ),
            pytest.param(
                plan,
                budget,
                -delay - 61,
                -delay - 1,
                None,
                id=f"{name}: an end one second earlier is fine",
            ),
            pytest.param(
                plan,
                budget,
                -horizon,
                -horizon + 60,
                RANGE,
                id=f"{name}: a start at now - {horizon} s is refused with query time range",
            ),
            pytest.param(
                plan,
                budget,
                -horizon + 1,
                -horizon + 61,
                None,
                id=f"{name}: a start one second later is fine",
            ),
        ]
        if horizon - delay > span:
            cases += [
                pytest.param(
                    plan,
                    budget,
                    -2 * span - 10,
                    -span - 10,
                    LENGTH,
                    id=f"{name}: a frame of exactly {span} s is refused with query time length",
                ),
                pytest.param(
                    plan,
                    budget,
                    -2 * span - 10,
                    -span - 11,
                    None,
                    id=f"{name}: a frame one second shorter is fine",
                ),
            ]
    return cases


@pytest.mark.parametrize(("plan", "budget", "start", "end", "refusal"), time_cases())
def test_the_plan_time_limits_hold_with_their_exact_messages(
    make_simulator: MakeSimulator,
    fake_clock: FakeClock,
    plan: str,
    budget: Budget,
    start: int,
    end: int,
    refusal: str | None,
) -> None:
    simulator = make_simulator(plan=plan)
    now = int(fake_clock())
    with client_for(simulator) as client:
        body = send(client, budget, now + start, now + end)
    assert outcome(body) == refusal
    if refusal:
        assert body == {"code": 300, "message": refusal, "data": None}


# The reference's own "Examples of error fix": current time 1623316864, a latency limit
# of 10 s, a range of 3 days, a length of 3 hours.
EXAMPLE_NOW = 1623316864
EXAMPLE_LIMITS = {"delay_s": 10, "horizon_s": 3 * DAY, "max_span_s": 3 * HOUR}


def example_cases() -> list[Any]:
    rows = [
        (EXAMPLE_NOW - 3600, EXAMPLE_NOW - 10, LATENCY, "end_ts = now - 10 is refused"),
        (EXAMPLE_NOW - 3600, EXAMPLE_NOW - 11, None, "end_ts = now - 11 is fine"),
        (
            EXAMPLE_NOW - 3 * DAY,
            EXAMPLE_NOW - 3 * DAY + 60,
            RANGE,
            "start_ts = now - 3d is refused",
        ),
        (EXAMPLE_NOW - 3 * DAY + 1, EXAMPLE_NOW - 3 * DAY + 61, None, "start_ts one later is fine"),
        (EXAMPLE_NOW - 4 * HOUR, EXAMPLE_NOW - HOUR, LENGTH, "a frame of 3 h is refused"),
        (EXAMPLE_NOW - 4 * HOUR + 1, EXAMPLE_NOW - HOUR, None, "a frame of 3 h - 1 s is fine"),
    ]
    return [
        pytest.param(budget, start, end, refusal, id=f"{budget}: {what}")
        for budget in Budget
        for start, end, refusal, what in rows
    ]


@pytest.mark.parametrize(("budget", "start", "end", "refusal"), example_cases())
def test_the_references_example_numbers_are_refused_exactly_where_its_ensure_that_lines_say(
    make_simulator: MakeSimulator,
    fake_clock: FakeClock,
    budget: Budget,
    start: int,
    end: int,
    refusal: str | None,
) -> None:
    fake_clock.set(EXAMPLE_NOW)
    simulator = make_simulator(quota={budget: EXAMPLE_LIMITS})
    with client_for(simulator) as client:
        body = send(client, budget, start, end)
    assert outcome(body) == refusal


@pytest.mark.parametrize(
    ("plan", "span", "refusal"),
    [
        pytest.param(
            "enterprise",
            HOUR,
            LENGTH,
            id="enterprise: a real-time frame of 60 minutes is refused with query time length",
        ),
        pytest.param(
            "enterprise",
            HOUR - 1,
            None,
            id="enterprise: a real-time frame just under 60 minutes is fine",
        ),
        pytest.param(
            "premium",
            40 * MINUTE,
            LENGTH,
            id="premium: a real-time frame of 40 minutes is refused with query time length",
        ),
        pytest.param(
            "premium",
            40 * MINUTE - 1,
            None,
            id="premium: a real-time frame just under 40 minutes is fine",
        ),
    ],
)
def test_real_time_frame_length_is_checked_when_a_longer_horizon_lets_it_through(
    make_simulator: MakeSimulator, fake_clock: FakeClock, plan: str, span: int, refusal: str | None
) -> None:
    # With the reference's limits a frame as long as the horizon always ends in
    # the delay or starts past the horizon; widen the horizon to reach the check.
    simulator = make_simulator(plan=plan, quota={Budget.REALTIME: {"horizon_s": 3 * HOUR}})
    now = int(fake_clock())
    with client_for(simulator) as client:
        assert outcome(send(client, Budget.REALTIME, now - HOUR - span, now - HOUR)) == refusal


@pytest.mark.parametrize(
    ("plan", "budget"),
    [
        pytest.param("standard", Budget.REALTIME, id="standard plans have no real-time access"),
        pytest.param("starter", Budget.REALTIME, id="starter plans have no real-time access"),
        pytest.param(
            "standard", Budget.INSIGHT_USAGE, id="standard plans have no insight usage access"
        ),
        pytest.param(
            "standard", Budget.INSIGHT_QUALITY, id="standard plans have no insight quality access"
        ),
        pytest.param("starter", Budget.CALL_LISTS, id="starter plans have no call list access"),
        pytest.param(
            "starter", Budget.CALL_DETAILS, id="starter plans have no call details access"
        ),
    ],
)
def test_a_plan_without_access_is_told_to_upgrade(
    make_simulator: MakeSimulator, fake_clock: FakeClock, plan: str, budget: Budget
) -> None:
    simulator = make_simulator(plan=plan)
    with client_for(simulator) as client:
        body = recent(client, budget, int(fake_clock()))
    assert body == {"code": 300, "message": NO_AUTH, "data": None}
    assert simulator.quota_used(budget, "day") == 0


def test_standard_plans_may_list_calls(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(plan="standard")
    with client_for(simulator) as client:
        assert outcome(recent(client, Budget.CALL_LISTS, int(fake_clock()))) is None


@pytest.mark.parametrize(
    ("plan", "budget", "per_minute"),
    [
        pytest.param(
            "enterprise", Budget.REALTIME, 10, id="enterprise real-time allows 10 a minute"
        ),
        pytest.param("premium", Budget.REALTIME, 3, id="premium real-time allows 3 a minute"),
        pytest.param(
            "enterprise", Budget.INSIGHT_USAGE, 10, id="enterprise insight usage allows 10 a minute"
        ),
        pytest.param(
            "premium", Budget.INSIGHT_QUALITY, 3, id="premium insight quality allows 3 a minute"
        ),
    ],
)
def test_one_request_too_many_in_a_minute_is_refused_with_qpm(
    make_simulator: MakeSimulator, fake_clock: FakeClock, plan: str, budget: Budget, per_minute: int
) -> None:
    simulator = make_simulator(plan=plan)
    now = int(fake_clock())
    with client_for(simulator) as client:
        assert [outcome(recent(client, budget, now)) for _ in range(per_minute)] == [
            None
        ] * per_minute
        assert recent(client, budget, now) == {
            "code": 300,
            "message": "qpm limit error",
            "data": None,
        }
        assert simulator.quota_used(budget, "minute") == per_minute
        fake_clock.advance(59.9)
        assert outcome(recent(client, budget, now)) == "qpm limit error"
        fake_clock.advance(0.1)
        assert outcome(recent(client, budget, now)) is None
    assert simulator.quota_used(budget, "day") == per_minute + 1


def test_both_real_time_paths_share_one_budget(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    for path in [Endpoint.REALTIME_USAGE.value, Endpoint.REALTIME_QUALITY.value] * 5:
        assert outcome(send(api, Budget.REALTIME, now - 600, now - 60, path)) is None
    assert (
        outcome(send(api, Budget.REALTIME, now - 600, now - 60, Endpoint.REALTIME_QUALITY.value))
        == "qpm limit error"
    )
    assert simulator.quota_used(Budget.REALTIME, "minute") == 10


def test_each_insight_endpoint_has_its_own_budget(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    for _ in range(10):
        recent(api, Budget.INSIGHT_USAGE, now)
    assert outcome(recent(api, Budget.INSIGHT_USAGE, now)) == "qpm limit error"
    assert outcome(recent(api, Budget.INSIGHT_QUALITY, now)) is None
    assert outcome(recent(api, Budget.REALTIME, now)) is None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            Endpoint.CALL_SESSIONS.value,
            Endpoint.CALL_METRICS.value,
            id="sessions then metrics share the per-second budget",
        ),
        pytest.param(
            Endpoint.CALL_LISTS.value, Endpoint.CALL_LISTS.value, id="call lists allow 10 a second"
        ),
    ],
)
def test_the_call_inspector_is_limited_per_second(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock, first: str, second: str
) -> None:
    now = int(fake_clock())
    budget = Budget.CALL_LISTS if first == Endpoint.CALL_LISTS.value else Budget.CALL_DETAILS
    for path in [first, second] * 5:
        assert outcome(send(api, budget, now - 2 * HOUR, now - HOUR, path)) is None
    assert outcome(send(api, budget, now - 2 * HOUR, now - HOUR, second)) == "qps limit error"
    assert simulator.quota_used(budget, "second") == 10
    fake_clock.advance(1)
    assert outcome(send(api, budget, now - 2 * HOUR, now - HOUR, first)) is None
    other = Budget.CALL_DETAILS if budget is Budget.CALL_LISTS else Budget.CALL_LISTS
    assert simulator.quota_used(other, "day") == 0


@pytest.mark.parametrize(
    "budget",
    [
        pytest.param(Budget.REALTIME, id="real-time requests are counted per UTC day"),
        pytest.param(Budget.INSIGHT_QUALITY, id="insight requests are counted per UTC day"),
        pytest.param(Budget.CALL_DETAILS, id="call details requests are counted per UTC day"),
    ],
)
def test_the_day_budget_is_the_utc_day_of_the_clock(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock, budget: Budget
) -> None:
    simulator.set_quota(budget, per_day=3)
    midnight = (int(fake_clock()) // DAY + 1) * DAY
    fake_clock.set(midnight - 90)
    for _ in range(3):
        assert outcome(recent(api, budget, midnight - 90)) is None
        fake_clock.advance(20)
    assert recent(api, budget, midnight - 90) == {
        "code": 300,
        "message": "qpd limit error",
        "data": None,
    }
    assert simulator.quota_used(budget, "day") == 3
    fake_clock.set(midnight)
    assert simulator.quota_used(budget, "day") == 0
    assert outcome(recent(api, budget, midnight)) is None


def test_what_is_counted_and_what_is_not(
    simulator: Simulator, api: httpx.Client, fake_clock: FakeClock
) -> None:
    now = int(fake_clock())
    assert api.get(Endpoint.REALTIME_USAGE.value, params={"appid": APPID}).status_code == 400
    assert simulator.quota_used(Budget.REALTIME, "minute") == 0, "a bad request is not counted"
    assert outcome(send(api, Budget.REALTIME, now - 600, now)) == LATENCY
    assert simulator.quota_used(Budget.REALTIME, "minute") == 1, "a time-check refusal is counted"
    simulator.set_quota(Budget.REALTIME, per_minute=2)
    assert outcome(recent(api, Budget.REALTIME, now)) is None
    assert outcome(recent(api, Budget.REALTIME, now)) == "qpm limit error"
    assert simulator.quota_used(Budget.REALTIME, "minute") == 2, "a quota refusal is not counted"


def test_quotas_are_counted_per_customer_id(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(
        customer_id=None, customer_secret=None, quota={"realtime": {"per_minute": 2}}
    )
    now = int(fake_clock())
    with (
        client_for(simulator, auth=("alice", "x")) as alice,
        client_for(simulator, auth=("bob", "y")) as bob,
    ):
        assert [outcome(recent(alice, Budget.REALTIME, now)) for _ in range(3)] == [
            None,
            None,
            "qpm limit error",
        ]
        assert outcome(recent(bob, Budget.REALTIME, now)) is None
    assert simulator.quota_used(Budget.REALTIME, "minute") == 3, (
        "without a configured customer: all of them"
    )


def test_quota_overrides_change_only_what_they_name(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator(quota={Budget.REALTIME: {"per_minute": 2}})
    assert simulator.limits(Budget.REALTIME) == Limits(
        per_minute=2, per_day=1440, horizon_s=HOUR, max_span_s=HOUR, delay_s=20
    )
    changed = simulator.set_quota(Budget.CALL_LISTS, per_second=1, per_day=5)
    assert (changed.per_second, changed.per_day, changed.max_span_s) == (1, 5, 24 * HOUR)


def test_a_partial_override_cannot_open_a_budget_the_plan_lacks() -> None:
    with pytest.raises(ValueError, match="no access"):
        Simulator(plan="standard", quota={Budget.REALTIME: {"per_minute": 5}})
    granted = Limits(per_minute=1, per_day=10, horizon_s=HOUR, max_span_s=HOUR, delay_s=20)
    simulator = Simulator(plan="standard", quota={Budget.REALTIME: granted})
    assert simulator.limits(Budget.REALTIME) == granted
    with pytest.raises(ValueError, match="period"):
        simulator.quota_used(Budget.REALTIME, "hour")
