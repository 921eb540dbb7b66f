"""Property-based tests: bad input never crashes, the maths never loses a window.

* Any bytes, status and content type from the API yield a result or one typed
  ``AgoraError`` (found: a JSON integer beyond a float's range used to escape
  as ``OverflowError``).
* Real-time answers with arbitrary values give only finite, non-negative
  values, one per (uid, window), in order.
* A poller fed arbitrary answers through a real SQLite store never raises,
  never moves a cursor backwards, and stores only aligned windows inside the
  ranges it asked for.
* Polls at arbitrary times account for every window exactly once: fetched or
  counted missed, no range overlapping or skipping another.
* The planner never plans past a budget, and a plan it calls feasible leaves no
  gap; the ledger never lets a period's cap be broken.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from exporter.agora import AgoraClient, AgoraError
from exporter.agora.limits import DAY, MINUTE, Budget, Limits, Plan, limits_for
from exporter.catalog.realtime import QUALITY_METRICS, USAGE_METRICS, Scope
from exporter.quota.context import PollContext
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.rules import is_gap_free, next_free_slot, periods
from exporter.quota.series_poller import PollStatus as Status
from exporter.realtime.poller import Poller
from exporter.realtime.series import Series
from exporter.scheduling.planner import make_plan
from exporter.settings import load_settings
from exporter.store import Store
from exporter.timing.windows import WINDOW_S, query_range
from tests.fakes import FakeClock, FakeSleep

APPID = "0123456789abcdef0123456789abcdef"
T0 = 1_764_000_000
SECRET = "fuzz-Secret-31d1"

NUMBERS = (
    st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -0.0, 1e308, -1e308, 10**30, 2**63, 2**64 + 1])
)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=6)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=15,
)


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> AgoraClient:
    return AgoraClient(
        base_url="http://agora.test",
        customer_id=SecretStr("fuzz-customer"),
        customer_secret=SecretStr(SECRET),
        transport=httpx.MockTransport(handler),
    )


def _usage(client: AgoraClient, start: int = T0 - 600, end: int = T0 - 60) -> Any:
    return client.realtime_usage(
        appid=APPID, product_type="Native", metric="userCount", start_ts=start, end_ts=end
    )


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    status=st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503]),
    content_type=st.sampled_from(["application/json", "text/html", "text/plain", ""]),
)
def test_any_bytes_from_the_api_are_a_result_or_one_typed_error(
    body: bytes, status: int, content_type: str
) -> None:
    answer = httpx.Response(status, content=body, headers={"Content-Type": content_type})
    error: AgoraError | None = None
    with _client(lambda _: answer) as client:
        try:
            _usage(client)
        except AgoraError as raised:
            error = raised
    assert SECRET not in str(error)


ROW = st.fixed_dictionaries(
    {"ts": st.integers(T0 - 3600, T0) | SCALARS, "userCount": SCALARS | NUMBERS},
    optional={"uid": st.integers(0, 2**40) | SCALARS},
)
REALTIME_BODY = st.fixed_dictionaries(
    {"data": st.lists(ROW, max_size=12) | st.none()},
    optional={"code": st.sampled_from([0, 200, "200", None]), "message": st.text(max_size=5)},
)


@settings(max_examples=300, deadline=None)
@given(body=REALTIME_BODY)
def test_realtime_answers_with_any_values_keep_only_finite_non_negative_ones_once_each(
    body: dict[str, Any],
) -> None:
    content = json.dumps(body, allow_nan=True).encode()
    with _client(lambda _: httpx.Response(200, content=content)) as client:
        try:
            result = _usage(client)
        except AgoraError:
            return
    keys = [(row.uid, row.ts) for row in result.rows]
    assert len(keys) == len(set(keys))
    assert all(math.isfinite(row.value) and row.value >= 0 for row in result.rows)
    order = [(row.uid is not None, row.uid or 0, row.ts) for row in result.rows]
    assert order == sorted(order)


# --- the poller over a real store --------------------------------------------------

ANSWER = st.one_of(
    st.builds(lambda n: ("rows", n), st.integers(0, 200)),
    st.builds(lambda shift: ("shifted", shift), st.integers(-5000, 5000)),
    st.just(("html", 0)),
    st.just(("code300", 0)),
    st.builds(lambda v: ("json", v), JSON),
)


def _answer(kind: str, detail: Any, request: httpx.Request) -> httpx.Response:
    start, end = int(request.url.params["startTs"]), int(request.url.params["endTs"])
    if kind == "rows":  # windows in and around the range, some unaligned
        rows = [{"ts": start - 40 + i * 7, "userCount": i} for i in range(detail)]
        rows = [row for row in rows if row["ts"] < end + 40]
        return httpx.Response(200, json={"code": 200, "data": rows})
    if kind == "shifted":
        return httpx.Response(200, json={"data": [{"ts": start + detail, "userCount": 1}]})
    if kind == "html":
        return httpx.Response(500, content=b"<html>oops</html>")
    if kind == "code300":
        return httpx.Response(200, json={"code": 300, "message": "query latency limit error"})
    return httpx.Response(200, content=json.dumps(detail, allow_nan=True).encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.lists(ANSWER, min_size=1, max_size=8),
    steps=st.lists(st.integers(0, 5000), min_size=1, max_size=8),
)
def test_a_poller_fed_anything_never_raises_nor_moves_a_cursor_back_nor_stores_a_stray_window(
    answers: list[tuple[str, Any]], steps: list[int]
) -> None:
    queue = list(answers)
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        kind, detail = queue.pop(0) if queue else ("rows", 50)
        asked.append((int(request.url.params["startTs"]), int(request.url.params["endTs"])))
        return _answer(kind, detail, request)

    clock = FakeClock(T0)
    series = Series(APPID, "Native", "userCount", Scope.PROJECT)
    limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
    assert limits is not None
    roomy = dataclasses.replace(limits, per_minute=10_000, per_day=10**6)
    with (
        tempfile.TemporaryDirectory() as state,
        _client(handler) as client,
        Store(Path(state), clock=clock) as store,
    ):
        poller = Poller(
            PollContext.build(
                client=client,
                store=store,
                limits={Budget.REALTIME: roomy},
                stats=RuntimeStats(),
                clock=clock,
                sleep=FakeSleep(clock),
            )
        )
        cursor = None
        for step in steps:
            clock.advance(step)
            result = poller.poll(series)
            assert isinstance(result.status, Status)
            new_cursor = store.cursor(series.key)
            assert cursor is None or (new_cursor is not None and new_cursor >= cursor)
            cursor = new_cursor
        data = store.snapshot().get(series.key)
        stored = [] if data is None else list(data.values.get(None, {}))
        sent = len(store.ledger.times(Budget.REALTIME.value, 0))
    assert sent == len(asked), "one ledger entry per request, no more, no less"
    for ts in stored:
        assert ts % WINDOW_S == 0
        assert any(start <= ts < end for start, end in asked), "only windows asked for"
        assert cursor is not None
        assert ts < cursor


# --- window maths ---------------------------------------------------------------------


LIMITS = st.sampled_from(
    [
        limits_for(Plan.ENTERPRISE, Budget.REALTIME),
        limits_for(Plan.PREMIUM, Budget.REALTIME),
        Limits(per_minute=10, per_day=1440, horizon_s=3600, max_span_s=1200, delay_s=60),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    limits=LIMITS,
    gaps=st.lists(st.floats(0, 10_000, allow_nan=False), min_size=1, max_size=30),
)
def test_polls_at_any_times_account_for_every_window_exactly_once(
    limits: Limits | None, gaps: list[float]
) -> None:
    assert limits is not None
    now, cursor = float(T0), None
    first: int | None = None
    fetched: list[int] = []
    missed = 0
    for gap in gaps:
        now += gap
        wanted = query_range(
            cursor,
            now,
            delay_s=limits.delay_s,
            horizon_s=limits.horizon_s,
            max_span_s=limits.max_span_s,
        )
        if wanted is None:
            continue
        assert wanted.start % WINDOW_S == 0
        assert wanted.end % WINDOW_S == 0
        assert wanted.end - wanted.start < limits.max_span_s
        assert wanted.end < now - limits.delay_s
        assert wanted.start > now - limits.horizon_s or wanted.end == wanted.start
        first = wanted.start if first is None else first
        fetched += range(wanted.start, wanted.end, WINDOW_S)
        missed += wanted.missed_windows
        cursor = max(wanted.end, wanted.start)
    if cursor is None or first is None:
        return
    assert len(fetched) == len(set(fetched)), "no window is asked for twice"
    assert len(fetched) + missed == (cursor - first) // WINDOW_S, "none skipped uncounted"


@settings(max_examples=200, deadline=None)
@given(limits=LIMITS, start=st.integers(T0 - 10**6, T0))
def test_polling_on_a_feasible_interval_misses_nothing(limits: Limits | None, start: int) -> None:
    assert limits is not None
    interval = max(WINDOW_S, min(limits.horizon_s, limits.max_span_s) - limits.delay_s - 40)
    interval -= interval % WINDOW_S
    assert is_gap_free(interval, limits)
    now, cursor, missed = float(start), None, 0
    for _ in range(20):
        wanted = query_range(
            cursor,
            now,
            delay_s=limits.delay_s,
            horizon_s=limits.horizon_s,
            max_span_s=limits.max_span_s,
        )
        if wanted is not None:
            missed += wanted.missed_windows
            cursor = max(wanted.end, wanted.start)
        now += interval
    assert missed == 0


# --- planner and ledger ------------------------------------------------------------


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    apps = []
    for index in range(draw(st.integers(1, 3))):
        channels = [
            {"cname": f"room-{n}", "uids": draw(st.lists(st.integers(0, 99), max_size=25))}
            for n in range(draw(st.integers(0, 3)))
        ]
        apps.append(
            {
                "appid": f"{index:032x}",
                "product_types": draw(
                    st.lists(st.sampled_from(["Native", "WebRTC"]), min_size=1, unique=True)
                ),
                "realtime": {
                    "usage": draw(st.lists(st.sampled_from(USAGE_METRICS), unique=True)),
                    "quality": draw(st.lists(st.sampled_from(QUALITY_METRICS), unique=True)),
                    "channels": channels,
                },
                "insight": {"enabled": False},
            }
        )
    quota = {}
    if draw(st.booleans()):
        quota["realtime"] = {
            "per_minute": draw(st.integers(1, 100)),
            "per_day": draw(st.integers(1, 100_000)),
        }
    return {
        "agora": {
            "base_url": "http://127.0.0.1:9",
            "customer_id": "c",
            "customer_secret": "s",
            "plan": draw(st.sampled_from(["premium", "enterprise"])),
            "headroom": draw(st.floats(0, 0.9)),
            "quota": quota,
        },
        "state_dir": "/nonexistent",
        "apps": apps,
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs())
def test_the_planner_never_plans_past_a_budget_and_a_feasible_plan_has_no_gap(
    config: dict[str, Any],
) -> None:
    plan = make_plan(load_settings(None, environ={}, overrides=config))
    for budget_plan in plan.budgets.values():
        if budget_plan.series == 0:
            continue
        limits, interval = budget_plan.limits, budget_plan.interval_s
        assert interval % WINDOW_S == 0
        daily = (1 - budget_plan.headroom) * limits.per_day
        assert budget_plan.requests_per_day <= daily * (1 + 1e-9)
        assert budget_plan.series * MINUTE / interval <= limits.minute_capacity * (1 + 1e-9)
        assert budget_plan.requests_per_day <= limits.per_day
        reach = interval + limits.delay_s + 2 * WINDOW_S
        fits = reach <= min(limits.horizon_s, limits.max_span_s)
        assert budget_plan.feasible is fits
        assert (budget_plan.series <= budget_plan.max_series) is fits
    assert plan.feasible is all(b.feasible for b in plan.budgets.values())
    if not plan.feasible:
        assert any("drop" in problem for problem in plan.problems)


@settings(max_examples=300, deadline=None)
@given(
    per_minute=st.integers(1, 20),
    per_day=st.integers(1, 200),
    arrivals=st.lists(st.floats(0, 400, allow_nan=False), min_size=1, max_size=120),
)
def test_requests_sent_at_the_ledgers_free_slots_never_break_a_cap(
    per_minute: int, per_day: int, arrivals: list[float]
) -> None:
    limits = Limits(
        per_minute=per_minute, per_day=per_day, horizon_s=3600, max_span_s=3600, delay_s=20
    )
    sent: list[float] = []
    now = float(T0)
    for gap in arrivals:
        now += gap
        slot = next_free_slot(sent, now, limits)
        assume(math.isfinite(slot))
        assert slot >= now
        now = slot
        sent.append(slot)
    for at in sent:
        for _, length, cap in periods(limits):
            in_period = [t for t in sent if at - length < t <= at]
            assert len(in_period) <= cap
    assert len(sent) <= per_day or sent[-1] - sent[0] >= DAY
