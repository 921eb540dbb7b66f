"""Quota follows traffic: which groups are idle, what they pause, the switch on the fake clock."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.agora.limits import DAY, MINUTE
from exporter.app import App, build_app
from exporter.catalog.realtime import Scope
from exporter.realtime.series import Series
from exporter.scheduling.planner import make_plan
from exporter.scheduling.priorities import TrafficGroup, paused_and_pinned
from exporter.scheduling.traffic import TrafficWatch
from exporter.serving.status_rows import series_rows
from exporter.simulator import Simulator
from tests.configs import CUSTOMER_ID, SECRET, settings_from
from tests.daemon_helpers import APPID, named, parse
from tests.fakes import FakeClock, FakeSleep, render_afresh

HOUR = 3600
WEB = TrafficGroup(APPID, "WebRTC")
LOBBY = TrafficGroup(APPID, "Native", "lobby")

# --- which groups are idle: the watch alone ------------------------------------------

Seen = tuple[int, int, int | None]
"""One answered poll of a gate: its range and the newest window with users."""


@pytest.mark.parametrize(
    ("polls", "idle"),
    [
        pytest.param(
            [(0, 3540, None), (3540, 7080, None)],
            [False, True],
            id="a quiet stretch as long as the horizon makes the group idle",
        ),
        pytest.param(
            [(0, 3540, 3500), (3540, 7080, None)],
            [False, False],
            id="users in the last horizon keep it busy",
        ),
        pytest.param(
            [(0, 3540, 100), (3540, 7080, None)],
            [False, True],
            id="users more than a horizon ago do not",
        ),
        pytest.param(
            [(0, 3540, None), (3540, 7080, None), (7080, 10620, 9000)],
            [False, True, False],
            id="one window with users resumes an idle group at its gate's next poll",
        ),
        pytest.param(
            [(0, 3540, None), (3600, 7140, None)],
            [False, False],
            id="a gap in what was seen starts the quiet stretch afresh",
        ),
        pytest.param(
            [(0, 7200, None)],
            [True],
            id="one poll spanning the horizon is enough",
        ),
        pytest.param(
            [(0, 3540, None), (3540, 7080, None), (7080, 10620, None)],
            [False, True, True],
            id="an idle group stays idle while its gate reads no users",
        ),
    ],
)
def test_the_traffic_watch(polls: list[Seen], idle: list[bool]) -> None:
    watch = TrafficWatch(quiet_s=HOUR)
    found, changes = [], []
    for start, end, busy in polls:
        changes.append(watch.observe(WEB, start, end, busy))
        found.append(watch.is_idle(WEB))
    assert found == idle
    assert changes == [now != before for before, now in zip([False, *idle], idle, strict=False)]
    assert watch.idle() == ({WEB} if idle[-1] else set())


# --- what an idle group pauses ---------------------------------------------------------


def _series() -> list[Series]:
    settings = settings_from(_config("http://127.0.0.1:9", Path("/nonexistent")))
    return make_plan(settings).series


@pytest.mark.parametrize(
    ("idle", "paused", "pinned"),
    [
        pytest.param(set(), set(), set(), id="nothing idle pauses nothing"),
        pytest.param(
            {WEB},
            {
                "WebRTC/audioFreezeRate/project",
                "WebRTC/videoFreezeRate/project",
                "WebRTC/channelCount/project",
                "WebRTC/userCount/channel/lobby",
                "WebRTC/audioFreezeRate/channel/lobby",
                "WebRTC/videoFreezeRate/channel/lobby",
            },
            {"WebRTC/userCount/project"},
            id="an idle product type keeps its project user count alone, pinned",
        ),
        pytest.param(
            {LOBBY},
            {"Native/audioFreezeRate/channel/lobby", "Native/videoFreezeRate/channel/lobby"},
            {"Native/userCount/channel/lobby"},
            id="an idle channel keeps its own user count and pauses its quality",
        ),
    ],
)
def test_what_an_idle_group_pauses(
    idle: set[TrafficGroup], paused: set[str], pinned: set[str]
) -> None:
    def short(keys: frozenset[str]) -> set[str]:
        return {key.removeprefix(APPID + "/").rstrip("/") for key in keys}

    found_paused, found_pinned = paused_and_pinned(_series(), idle)
    assert short(found_paused) == paused
    assert short(found_pinned) == pinned


# --- the switch, on the fake clock, against the simulator ------------------------------

T0 = 1_764_000_000.0


def _config(base_url: str, state_dir: Path) -> dict[str, Any]:
    return {
        "agora": {
            "base_url": base_url,
            "customer_id": CUSTOMER_ID,
            "customer_secret": SECRET,
            "plan": "enterprise",
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "product_types": ["Native", "WebRTC"],
                "realtime": {
                    "usage": ["userCount", "channelCount"],
                    "quality": ["audioFreezeRate", "videoFreezeRate"],
                    "channels": [{"cname": "lobby"}],
                },
                "insight": {"enabled": False},
            }
        ],
    }


@dataclass
class Rig:
    app: App
    sim: Simulator
    clock: FakeClock
    quiet: dict[str, tuple[float, float]]
    """Product types the simulator shows without users, and the windows they span."""

    def users_leave(self, product_type: str) -> None:
        """No users from the start of time (the backfill sees none either) until further notice."""
        self.quiet[product_type] = (0.0, float("inf"))

    def users_return(self, product_type: str) -> None:
        """Users in every window from now on."""
        self.quiet[product_type] = (self.quiet[product_type][0], self.clock())

    def run_for(self, seconds: float) -> None:
        """Step the fake clock 20 s at a time, polling whatever is due."""
        end = self.clock() + seconds
        while self.clock() < end:
            self.app.scheduler.run_due()
            self.clock.advance(20)

    def run_until(self, done: Callable[[], bool], seconds: float) -> float:
        """Step until ``done``; the simulated seconds it took."""
        start = self.clock()
        while not done():
            assert self.clock() - start < seconds, "it never happened"
            self.run_for(20)
        return self.clock() - start

    def exposed(self) -> set[str]:
        body, _ = render_afresh(self.app.source.collector_input)
        return {name for name, _ in parse(body.decode())}


@contextmanager
def traffic_rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(T0)
    with Simulator(
        plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET, seed=3, clock=clock
    ) as sim:
        quiet: dict[str, tuple[float, float]] = {}
        real = sim.traffic.realtime

        def traffic(appid: str, product_type: str, metric: str, window: int, *args: Any) -> Any:
            since, until = quiet.get(product_type, (0.0, 0.0))
            if not since <= window < until:
                return real(appid, product_type, metric, window, *args)
            return 0 if metric in ("userCount", "channelCount") else None

        sim.traffic.realtime = traffic  # type: ignore[method-assign]
        settings = settings_from(_config(sim.base_url, tmp_path / "state"))
        app = build_app(settings, clock=clock, host="127.0.0.1", port=0, sleep=FakeSleep(clock))
        try:
            yield Rig(app, sim, clock, quiet)
        finally:
            app.stop()


def _keys(app: App, product_type: str, *metrics: str) -> set[str]:
    return {
        one.key
        for one in app.plan.series
        if one.product_type == product_type and one.metric in metrics
    }


def _busiest(times: list[float], length: float) -> int:
    """The most requests in any window of ``length`` seconds."""
    return max(bisect.bisect_right(times, at + length - 1e-9) - i for i, at in enumerate(times))


def test_a_product_type_without_users_pauses_gives_its_share_away_and_resumes_in_one_poll(
    tmp_path: Path,
) -> None:
    with traffic_rig(tmp_path) as rig:
        app = rig.app
        freeze = ("audioFreezeRate", "videoFreezeRate")
        native_freeze = Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT).key
        both = app.plan.timing[native_freeze].interval_s
        rig.users_leave("WebRTC")
        took = rig.run_until(lambda: bool(app.plan.paused), 3 * HOUR)
        # the first poll backfills 3540 s of no users: not yet a horizon; the gate's next
        # does, at its slot spread over its interval, so no later than one interval on
        assert 0 < took <= 3540 + 60, "paused at the gate's second poll"
        assert app.source.plan is app.plan, "/metrics shows the plan in force at once"
        paused = _keys(app, "WebRTC", *freeze, "channelCount") | {
            one.key for one in app.plan.series if one.product_type == "WebRTC" and one.cname
        }
        assert app.plan.paused == paused
        alone = app.plan.timing[native_freeze].interval_s
        assert alone < both, "the paused series' share goes to the active ones"
        web_users = Series(APPID, "WebRTC", "userCount", Scope.PROJECT).key
        gate = app.plan.timing[web_users].interval_s
        assert gate in (3500, 3540), "the gate is pinned at the ceiling (or just inside it)"
        rig.run_for(600)
        exposed = rig.exposed()
        samples = parse(render_afresh(app.source.collector_input)[0].decode())
        web = {labels for labels in named(samples, "agora_realtime_video_freeze_ratio")}
        assert all(("product_type", "WebRTC") not in labels for labels in web), "absent, not 0"
        assert "agora_realtime_users" in exposed
        assert named(samples, "agora_exporter_series_paused") == {
            (("budget", "realtime"),): float(len(paused))
        }
        rows = list(series_rows(app.source.collector_input()))
        assert {row.series.key for row in rows if row.paused} == paused

        back = rig.clock()
        rig.users_return("WebRTC")
        rig.run_until(lambda: not app.plan.paused, HOUR + 60)
        assert rig.clock() - back <= 3540 + 40, "within one poll of the gate"
        assert app.plan.timing[native_freeze].interval_s == both
        rig.run_for(120)
        for key in paused:
            assert app.store.cursor(key) is not None
            assert app.store.cursor(key) >= back, "resumed: polled at once since"
        rig.run_for(2 * HOUR)
        assert app.store.windows_missed_total == 0, "a pause is not a miss"
        assert rig.sim.refused() == []
        times = sorted(entry.at for entry in rig.sim.requests())
        assert _busiest(times, MINUTE) <= 10
        assert _busiest(times, DAY) <= 0.9 * 1440


def test_a_reload_keeps_an_idle_product_type_paused(tmp_path: Path) -> None:
    with traffic_rig(tmp_path) as rig:
        rig.users_leave("WebRTC")
        rig.run_until(lambda: bool(rig.app.plan.paused), 3 * HOUR)
        paused = rig.app.plan.paused
        replanned = rig.app.scheduler.replan(make_plan(rig.app.settings))
        assert replanned.paused == paused
        assert rig.app.scheduler.plan is replanned


def test_a_channel_of_a_busy_product_type_pauses_alone(tmp_path: Path) -> None:
    with traffic_rig(tmp_path) as rig:
        real = rig.sim.traffic.realtime

        def empty_lobby(
            appid: str, product_type: str, metric: str, window: int, cname: Any = None, *rest: Any
        ) -> Any:
            if cname == "lobby" and product_type == "Native":
                return 0 if metric == "userCount" else None
            return real(appid, product_type, metric, window, cname, *rest)

        rig.sim.traffic.realtime = empty_lobby  # type: ignore[method-assign]
        rig.run_until(lambda: bool(rig.app.plan.paused), 3 * HOUR)
        scopes = {
            (one.product_type, one.scope, one.metric)
            for one in rig.app.plan.series
            if one.key in rig.app.plan.paused
        }
        assert scopes == {
            ("Native", Scope.CHANNEL, "audioFreezeRate"),
            ("Native", Scope.CHANNEL, "videoFreezeRate"),
        }
