"""The fault matrix: every documented API answer and transport fault, one row each.

Each row runs the real app (store, client, poller, collector, HTTP server)
against the simulator on a fake clock: a clean poll, then a poll under the
fault, then a poll 400 s later (the next regular one) with the fault gone. It
asserts the ``outcome`` label, the retries (requests in the ledger and the
back-off waits), ``agora_up``, that ``/metrics`` and the health probe keep
answering, and that after recovery every window equals the simulator's ground
truth: none lost, none invented. The only windows allowed to be absent are
the ones the API itself withheld (NaN, negative, out-of-range values, an empty
``data``), and a window dropped to satisfy a range refusal is counted in
``agora_exporter_windows_missed_total``. README's fault matrix mirrors these rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.agora.limits import Budget
from exporter.app import App, build_app
from exporter.backfill.reader import read_history
from exporter.quota.error_rules import AUTH_PAUSE_S, BACKOFF_S
from exporter.quota.series_poller import PollStatus as Status
from exporter.realtime.poller import PollResult
from exporter.simulator import Fault, Simulator
from exporter.timing.windows import WINDOW_S, QueryRange, query_range
from tests.configs import settings_from
from tests.daemon_helpers import APPID, CUSTOMER_ID, SECRET, named, scrape
from tests.fakes import FakeClock, FakeSleep
from tests.fault_relay import FaultRelay

T0 = 1_764_000_000.0
INTERVAL_S = 400.0
BACKOFF = tuple(BACKOFF_S)
HUGE = 1e308


@dataclass
class Rig:
    clock: FakeClock
    sim: Simulator
    app: App
    sleep: FakeSleep
    relay: FaultRelay | None

    def poll(self) -> PollResult:
        return self.app.poller.poll(self.app.plan.series[0])

    def sent(self) -> int:
        """Requests the exporter sent: its ledger, written before each one leaves."""
        return len(self.app.store.ledger.times(Budget.REALTIME.value, 0))

    def next_range(self) -> QueryRange:
        limits = self.app.plan.budgets[Budget.REALTIME].limits
        found = query_range(
            self.app.store.cursor(self.app.plan.series[0].key),
            self.clock(),
            delay_s=limits.delay_s,
            horizon_s=limits.horizon_s,
            max_span_s=limits.max_span_s,
        )
        assert found is not None
        return found


def _config(base_url: str, state_dir: Path, timeout_s: float) -> dict[str, Any]:
    return {
        "agora": {
            "base_url": base_url,
            "customer_id": CUSTOMER_ID,
            "customer_secret": SECRET,
            "plan": "enterprise",
            "timeout_s": timeout_s,
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "product_types": ["Native"],
                "realtime": {"usage": ["userCount"], "quality": []},
                "insight": {"enabled": False},
            }
        ],
    }


@contextmanager
def rig(tmp_path: Path, *, relay: bool, timeout_s: float) -> Iterator[Rig]:
    clock = FakeClock(T0)
    sleep = FakeSleep(clock)
    with Simulator(
        plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET, seed=3, clock=clock
    ) as sim:
        relayed = FaultRelay(sim.base_url) if relay else None
        base_url = relayed.base_url if relayed is not None else sim.base_url
        settings = settings_from(_config(base_url, tmp_path / "state", timeout_s))
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0, sleep=sleep)
        app.server.start()
        try:
            yield Rig(clock, sim, app, sleep, relayed)
        finally:
            app.stop()
            if relayed is not None:
                relayed.close()


class Gaps(Enum):
    """Which windows of the faulty poll's range may be absent after recovery."""

    NONE = "none"
    EVERY_SECOND = "every second window (NaN)"
    NONZERO = "every window above zero (negated)"
    ALL = "the whole range (the API returned none)"
    FIRST = "the first window, counted as missed"
    HUGE = "none, but their values are the API's huge ones"


@dataclass(frozen=True)
class Row:
    fault: Callable[[Rig], None]
    outcome: str
    status: Status
    attempts: int
    waits: tuple[float, ...] = ()
    retry_in: float | None = None
    up: bool = False
    paused: bool = False
    gaps: Gaps = Gaps.NONE
    relay: bool = False
    timeout_s: float = 10.0


def inject(fault: Fault, times: int = 1, **options: Any) -> Callable[[Rig], None]:
    return lambda rig: rig.sim.faults.inject(fault, times, **options)


def code_300(message: str, times: int = 1) -> Callable[[Rig], None]:
    return inject(Fault.CODE_300, times, message=message)


def http_status(status: int, times: int = 1) -> Callable[[Rig], None]:
    return inject(Fault.HTTP_STATUS, times, http_status=status)


def body_code(code: int, message: str) -> Callable[[Rig], None]:
    """The code in the body of an HTTP 200 (as Agora sends its limit errors)."""
    return inject(Fault.BODY_CODE, code=code, message=message)


def rewrite_values(change: Callable[[Any], Any]) -> Callable[[Rig], None]:
    """Change every metric value of the real answers (through the relay)."""

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        for row in body.get("data") or []:
            row["userCount"] = change(row["userCount"])
        return body

    def arm(rig: Rig) -> None:
        assert rig.relay is not None
        rig.relay.rewrite = rewrite

    return arm


def rewrite_body(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Rig], None]:
    def arm(rig: Rig) -> None:
        assert rig.relay is not None
        rig.relay.rewrite = change

    return arm


def trickle(rig: Rig) -> None:
    assert rig.relay is not None
    rig.relay.trickle_s = 0.05


def refuse(rig: Rig) -> None:
    assert rig.relay is not None
    rig.relay.refuse()
    assert rig.relay.refused()


def case(sentence: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Row(*args, **kwargs), id=sentence)


BACKING_OFF = {"status": Status.FAILED, "attempts": 4, "waits": BACKOFF}
PAUSING = {"status": Status.FAILED, "attempts": 1, "retry_in": AUTH_PAUSE_S, "paused": True}
DEFERRING = {"status": Status.DEFERRED, "attempts": 1, "retry_in": 60.0}
CLEAN = {"status": Status.FETCHED, "attempts": 1, "up": True}
REFIXED = {"status": Status.FETCHED, "attempts": 2, "up": True}

ROWS = [
    case(
        "code 300 qps limit error defers a minute",
        code_300("QPS limit error"),
        "rate_limited",
        **DEFERRING,
    ),
    case(
        "code 300 qpm limit error defers a minute",
        code_300("qpm limit error"),
        "rate_limited",
        **DEFERRING,
    ),
    case(
        "code 300 qpd limit error defers an hour",
        code_300("qpd limit error"),
        "quota_exhausted",
        Status.DEFERRED,
        1,
        retry_in=3600.0,
    ),
    case(
        "code 300 query latency limit error ends one window earlier and retries once",
        code_300("query latency limit error"),
        "window_rejected",
        **REFIXED,
    ),
    case(
        "code 300 query time range limit error starts one window later and counts it missed",
        code_300("query time range limit error"),
        "window_rejected",
        **REFIXED,
        gaps=Gaps.FIRST,
    ),
    case(
        "code 300 query time length limit error halves the range and fetches the rest next poll",
        code_300("query time length limit error"),
        "window_rejected",
        **REFIXED,
    ),
    case(
        "code 300 query duration limit error halves the range too",
        code_300("query duration limit error"),
        "window_rejected",
        **REFIXED,
    ),
    case(
        "code 300 no auth to access this service pauses the app",
        code_300("you have no auth to access this service"),
        "no_access",
        **PAUSING,
    ),
    case(
        "code 300 with an unknown message is a limit error and defers a minute",
        code_300("a message nobody documented"),
        "unknown_limit",
        **DEFERRING,
    ),
    case(
        "HTTP 400 is not retried until the next poll",
        http_status(400),
        "bad_request",
        Status.FAILED,
        1,
    ),
    case("HTTP 401 pauses the app", http_status(401), "unauthorized", **PAUSING),
    case("HTTP 403 pauses the app", http_status(403), "forbidden", **PAUSING),
    case(
        "HTTP 404 is not retried until the next poll",
        http_status(404),
        "not_found",
        Status.FAILED,
        1,
    ),
    case(
        "body code 400 is not retried until the next poll, as HTTP 400",
        body_code(400, "Bad request, parameter : startTs can not be null"),
        "bad_request",
        Status.FAILED,
        1,
    ),
    case(
        "body code 401 pauses the app, as HTTP 401",
        body_code(401, "Unauthorized"),
        "unauthorized",
        **PAUSING,
    ),
    case(
        "an undocumented 4xx in the body is not retried until the next poll",
        body_code(422, "unprocessable entity"),
        "client_error",
        Status.FAILED,
        1,
    ),
    case(
        "an undocumented HTTP 4xx is not retried until the next poll",
        http_status(402),
        "client_error",
        Status.FAILED,
        1,
    ),
    case(
        "HTTP 408 is a 4xx too and is not retried until the next poll",
        http_status(408),
        "client_error",
        Status.FAILED,
        1,
    ),
    case("HTTP 429 defers a minute", http_status(429, 4), "rate_limited", **DEFERRING),
    case(
        "HTTP 500 with an HTML error page backs off 1 3 6 s",
        inject(Fault.HTML_500, 4),
        "server_error",
        **BACKING_OFF,
    ),
    case(
        "body code 500 Unknown Error backs off",
        inject(Fault.UNKNOWN_ERROR, 4),
        "server_error",
        **BACKING_OFF,
    ),
    case("HTTP 503 backs off", http_status(503, 4), "server_error", **BACKING_OFF),
    case(
        "one HTTP 503 then a good answer costs one back-off",
        inject(Fault.HTTP_STATUS, 1, http_status=503),
        "server_error",
        **{
            **BACKING_OFF,
            "status": Status.FETCHED,
            "attempts": 2,
            "waits": BACKOFF[:1],
            "up": True,
        },
    ),
    case("a refused connection backs off", refuse, "transport_error", **BACKING_OFF, relay=True),
    case(
        "a connection reset mid-body backs off",
        inject(Fault.RESET, 4),
        "transport_error",
        **BACKING_OFF,
    ),
    case(
        "a connection closed without an answer backs off",
        inject(Fault.DROP, 4),
        "transport_error",
        **BACKING_OFF,
    ),
    case(
        "an answer slower than timeout_s times out and backs off",
        inject(Fault.SLOW, 4, delay_s=1.5),
        "timeout",
        **BACKING_OFF,
        timeout_s=0.5,
    ),
    case(
        "an answer trickling in byte by byte times out and backs off",
        trickle,
        "timeout",
        **BACKING_OFF,
        relay=True,
        timeout_s=0.5,
    ),
    case(
        "truncated JSON backs off",
        inject(Fault.TRUNCATED_JSON, 4),
        "invalid_response",
        **BACKING_OFF,
    ),
    case(
        "a body that is not JSON backs off",
        inject(Fault.MALFORMED_JSON, 4),
        "invalid_response",
        **BACKING_OFF,
    ),
    case("an empty body backs off", inject(Fault.EMPTY_BODY, 4), "invalid_response", **BACKING_OFF),
    case(
        "JSON of the wrong shape backs off",
        inject(Fault.WRONG_SHAPE, 4),
        "invalid_response",
        **BACKING_OFF,
    ),
    case(
        "values that are words back off",
        rewrite_values(lambda v: "plenty"),
        "invalid_response",
        **BACKING_OFF,
        relay=True,
    ),
    case(
        "numbers sent as strings are read as numbers", inject(Fault.WRONG_TYPES), "success", **CLEAN
    ),
    case(
        "NaN values are gaps, never zeros",
        inject(Fault.NAN_VALUES),
        "success",
        **CLEAN,
        gaps=Gaps.EVERY_SECOND,
    ),
    case(
        "negative values are gaps",
        rewrite_values(lambda v: -v),
        "success",
        **CLEAN,
        gaps=Gaps.NONZERO,
        relay=True,
    ),
    case(
        "huge finite values are kept as the API sent them",
        rewrite_values(lambda v: HUGE),
        "success",
        **CLEAN,
        gaps=Gaps.HUGE,
        relay=True,
    ),
    case(
        "a number beyond any float is a gap not a crash",
        rewrite_values(lambda v: 10**400),
        "success",
        **CLEAN,
        gaps=Gaps.ALL,
        relay=True,
    ),
    case(
        "an empty data list leaves the range absent",
        rewrite_body(lambda b: {**b, "data": []}),
        "success",
        **CLEAN,
        gaps=Gaps.ALL,
        relay=True,
    ),
    case(
        "a null data leaves the range absent",
        rewrite_body(lambda b: {**b, "data": None}),
        "success",
        **CLEAN,
        gaps=Gaps.ALL,
        relay=True,
    ),
    case("duplicate windows are stored once", inject(Fault.DUPLICATE_WINDOWS), "success", **CLEAN),
    case(
        "windows out of order are stored in order", inject(Fault.OUT_OF_ORDER), "success", **CLEAN
    ),
    case("an answer without code is a success", inject(Fault.NO_CODE), "success", **CLEAN),
]


@pytest.mark.parametrize("row", ROWS)
def test_fault_matrix_row(tmp_path: Path, row: Row) -> None:
    with rig(tmp_path, relay=row.relay, timeout_s=row.timeout_s) as r:
        assert r.poll().status is Status.FETCHED
        r.clock.advance(INTERVAL_S)
        faulty_range = r.next_range()
        sent_before, now = r.sent(), r.clock()
        row.fault(r)
        result = r.poll()

        assert result.status is row.status, result
        assert r.sent() - sent_before == row.attempts
        assert tuple(r.sleep.waits) == row.waits
        retry_in = None if result.retry_at is None else result.retry_at - now - sum(row.waits)
        assert retry_in == row.retry_in
        if row.paused:
            assert r.poll().status is Status.PAUSED
            assert r.sent() - sent_before == row.attempts, "no request while paused"
        _assert_served(r, row)

        _recover(r)
        assert r.poll().status is Status.FETCHED
        if row.gaps is not Gaps.FIRST:  # a refixed range leaves its rest for the next poll
            r.clock.advance(INTERVAL_S)
            assert r.poll().status is Status.FETCHED
        _assert_windows(r, faulty_range, row.gaps)


def _assert_served(r: Rig, row: Row) -> None:
    """The daemon keeps serving, and says what happened."""
    port = r.app.port
    assert httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=10).status_code == 200
    samples = scrape(port)
    counted = named(samples, "agora_exporter_api_requests_total")
    label = (("endpoint", "realtime_usage"), ("outcome", row.outcome))
    assert counted.get(label, 0) >= 1, sorted(counted)
    assert named(samples, "agora_up") == {(("appid", APPID),): 1.0 if row.up else 0.0}


def _recover(r: Rig) -> None:
    r.sim.faults.clear()
    if r.relay is not None:
        r.relay.rewrite = None
        r.relay.trickle_s = 0.0
        r.relay.accept()
    r.clock.advance(INTERVAL_S)


def _assert_windows(r: Rig, faulty: QueryRange, gaps: Gaps) -> None:
    series = r.app.plan.series[0]
    data = read_history(r.app.settings.state_dir).windows.get(series.key)  # memory holds less
    assert data is not None
    stored = dict(data.values.get(None, {}))
    cursor = r.app.store.cursor(series.key)
    assert cursor is not None
    first = min(stored)
    truth = {
        ts: r.sim.traffic.realtime(APPID, "Native", "userCount", ts)
        for ts in range(first, cursor, WINDOW_S)
    }
    in_faulty = [ts for ts in sorted(truth) if faulty.start <= ts < faulty.end and truth[ts]]
    expected = dict(truth)
    allowed_missing: set[int] = set()
    if gaps is Gaps.EVERY_SECOND:
        allowed_missing = set(in_faulty[1::2])
    elif gaps is Gaps.NONZERO:
        allowed_missing = {ts for ts in in_faulty if truth[ts]}
    elif gaps is Gaps.ALL:
        allowed_missing = set(in_faulty)
    elif gaps is Gaps.FIRST:
        allowed_missing = {faulty.start}
    elif gaps is Gaps.HUGE:
        expected.update({ts: HUGE for ts in in_faulty})
    invented = {ts: v for ts, v in stored.items() if expected.get(ts) != v}
    assert invented == {}, "every stored window is what the API said for it"
    missing = {ts for ts, v in expected.items() if v is not None and ts not in stored}
    assert missing == allowed_missing
    missed_total = r.app.store.snapshot().windows_missed_total
    assert missed_total == (1 if gaps is Gaps.FIRST else 0)
    assert all(math.isfinite(v) for v in stored.values())
    samples = scrape(r.app.port)  # the exposition of every stored value still parses
    assert named(samples, "agora_realtime_users")


@pytest.mark.parametrize("ahead_s", [0.5, 5.0, 15.0])
def test_a_first_poll_reaching_back_to_the_horizon_survives_an_api_clock_ahead_of_ours(
    tmp_path: Path, ahead_s: float
) -> None:
    # Our clock just before a window boundary; the API's a little later, as an answer
    # in transit or a server clock ahead would make it. At the horizon's very edge
    # the backfill would be refused and a window counted missed on a fresh start.
    clock = FakeClock(T0 + 19.5)
    with Simulator(
        plan="enterprise",
        customer_id=CUSTOMER_ID,
        customer_secret=SECRET,
        seed=3,
        clock=lambda: clock() + ahead_s,
    ) as sim:
        settings = settings_from(_config(sim.base_url, tmp_path / "state", 10.0))
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0, sleep=FakeSleep(clock))
        try:
            assert app.poller.poll(app.plan.series[0]).status is Status.FETCHED
            assert sim.refused() == []
            assert app.store.snapshot().windows_missed_total == 0
        finally:
            app.stop()
