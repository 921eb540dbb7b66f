"""``backfill --fetch``: the insight history the plan keeps, inside the ledger, never over it.

The simulator and the export share a fake clock; waits for the per-minute
limit advance it instead of sleeping.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.agora.limits import DAY, HOUR, Budget
from exporter.backfill.fetch import history_frames
from exporter.backfill.history import HISTORY_NAME, FetchedHistory, load_history
from exporter.backfill.render import EOF
from exporter.cli.backfill import run_backfill
from exporter.cli.backfill_args import BackfillRequest
from exporter.cli.main import main
from exporter.scheduling.planner import make_plan
from exporter.simulator import Simulator
from exporter.store import DB_NAME, Store
from exporter.store.lock import StateDirLock
from tests.backfill.test_render import parse_export
from tests.backfill_helpers import roomy_config, simulator_history
from tests.configs import settings_from, small_insight_config, write_config
from tests.daemon_helpers import live_simulator
from tests.fakes import FakeClock

NOW = 1_764_000_000  # 2025-11-24 16:00 UTC: a day point's ts
FRAMES = 45  # 9 insight series x 5 frames of 7 days for Enterprise's 30 days


@dataclass
class FetchRig:
    clock: FakeClock
    sim: Simulator
    config: dict[str, Any]
    base: Path

    def run(self, stderr: io.StringIO | None = None) -> tuple[int, str, Path]:
        out = self.base / "history.om"
        stream = stderr or io.StringIO()
        code = run_backfill(
            settings_from(self.config),
            BackfillRequest(out=str(out), fetch=True),
            clock=self.clock,
            sleep=self.clock.advance,
            stderr=stream,
        )
        return code, stream.getvalue(), out

    def ledger(self, budget: Budget) -> list[float]:
        with Store(self.base / "state", clock=self.clock) as store:
            return store.ledger.times(budget.value, self.clock() - DAY)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FetchRig]:
    """Enterprise's own insight quotas: 60 a day, most of it planned for the daemon."""
    clock = FakeClock(NOW + 7 * HOUR)
    with live_simulator(clock=clock) as sim:
        yield FetchRig(clock, sim, small_insight_config(sim.base_url, tmp_path / "state"), tmp_path)


@pytest.fixture
def roomy(tmp_path: Path) -> Iterator[FetchRig]:
    clock = FakeClock(NOW + 7 * HOUR)
    with live_simulator(clock=clock) as sim:
        yield FetchRig(clock, sim, roomy_config(sim, tmp_path / "state"), tmp_path)


def test_fetch_exports_every_day_the_plan_keeps_with_the_simulators_values(
    roomy: FetchRig,
) -> None:
    code, err, out = roomy.run()
    assert code == 0, err
    exported = parse_export(out.read_text())
    assert exported == simulator_history(roomy.sim, roomy.config, int(roomy.clock()))
    assert {len(points) for points in exported.values()} == {29}  # 30 days, less today
    assert roomy.sim.refused() == []
    assert f"{FRAMES} of {FRAMES} frames fetched with {FRAMES} requests" in err


def test_fetched_history_is_kept_so_a_plain_export_includes_it_later(roomy: FetchRig) -> None:
    _, _, out = roomy.run()
    fetched = out.read_text()
    config_file = write_config(roomy.base / "agora.yml", roomy.config)
    again = roomy.base / "again.om"
    assert main(["backfill", f"--config.file={config_file}", f"--out={again}"]) == 0
    assert again.read_text() == fetched


def test_fetch_never_spends_the_share_the_daemons_plan_needs(rig: FetchRig) -> None:
    code, err, out = rig.run()
    assert code == 0, err
    plan = make_plan(settings_from(rig.config))
    for budget in (Budget.INSIGHT_USAGE, Budget.INSIGHT_QUALITY):
        budget_plan = plan.budgets[budget]
        room = budget_plan.limits.per_day - math.ceil(budget_plan.requests_per_day)
        assert len(rig.ledger(budget)) <= room
    assert rig.sim.refused() == []
    sent = len(rig.ledger(Budget.INSIGHT_USAGE)) + len(rig.ledger(Budget.INSIGHT_QUALITY))
    assert len(rig.sim.requests()) == sent
    assert "stopped on insight_usage" in err
    assert "again once the ledger frees requests" in err
    assert parse_export(out.read_text())  # what was fetched is exported, in a valid file


def test_a_second_run_the_same_day_sends_nothing(rig: FetchRig) -> None:
    rig.run()
    sent = len(rig.sim.requests())
    code, err, _ = rig.run()
    assert code == 0, err
    assert len(rig.sim.requests()) == sent
    assert "requests allowed now: insight_usage 0" in err


def test_runs_on_later_days_continue_where_the_last_stopped_and_leave_no_gap(
    rig: FetchRig,
) -> None:
    for _ in range(5):
        code, err, out = rig.run()
        assert code == 0, err
        rig.clock.advance(DAY)
    assert "0 frames (one request each)" in err
    assert rig.sim.refused() == []
    for (family, _), points in parse_export(out.read_text()).items():
        days = sorted(points)
        assert days == list(range(days[0], days[-1] + DAY, DAY)), family
        assert days[-1] == NOW - DAY, family  # the newest day published at the first run
        # Back to the horizon of the run that finished; older days expired meanwhile.
        assert days[0] <= NOW - 26 * DAY, family


def test_an_interrupted_fetch_writes_a_valid_file_with_what_it_fetched_and_says_so(
    roomy: FetchRig,
) -> None:
    class CtrlC(io.StringIO):
        """Stderr that delivers a Ctrl-C while the third frame's progress is printed."""

        def write(self, text: str) -> int:
            if text.startswith("[3/"):
                raise KeyboardInterrupt
            return super().write(text)

    code, err, out = roomy.run(CtrlC())
    assert code == 130
    assert f"interrupted with {FRAMES - 3} of {FRAMES} frames not fetched" in err
    assert "run backfill --fetch again" in err
    exported = parse_export(out.read_text())
    assert len(exported) == 3
    assert len(load_history(roomy.base / "state").back_to) == 3
    assert len(roomy.sim.requests()) == 3
    code, err, _ = roomy.run()
    assert code == 0, err
    assert f"{FRAMES - 3} of {FRAMES - 3} frames fetched" in err


def test_fetch_refuses_while_the_daemon_holds_the_state_dir_but_a_plain_export_works(
    rig: FetchRig, capsys: pytest.CaptureFixture[str]
) -> None:
    Store(rig.base / "state", clock=rig.clock).close()
    config_file = write_config(rig.base / "agora.yml", rig.config)
    out = rig.base / "x.om"
    with StateDirLock(rig.base / "state"):
        code = main(["backfill", f"--config.file={config_file}", f"--out={out}", "--fetch"])
        err = capsys.readouterr().err
        assert code == 2
        assert "already running" in err
        assert "without --fetch" in err
        assert not out.exists()
        assert rig.sim.requests() == []
        assert main(["backfill", f"--config.file={config_file}", f"--out={out}"]) == 0
    assert out.read_text() == EOF


def test_fetch_without_a_store_creates_one_for_its_ledger(roomy: FetchRig) -> None:
    assert not (roomy.base / "state" / DB_NAME).exists()
    code, err, _ = roomy.run()
    assert code == 0, err
    assert len(roomy.ledger(Budget.INSIGHT_USAGE)) == 40
    assert (roomy.base / "state" / HISTORY_NAME).exists()


def test_frames_reach_back_from_the_oldest_known_point_newest_first_series_in_turn() -> None:
    settings = settings_from(small_insight_config("http://127.0.0.1:9", Path("/nonexistent")))
    plan = make_plan(settings)
    limits = {budget: one.limits for budget, one in plan.budgets.items()}
    users, sessions = plan.insight[:2]
    stored = {users.key: {NOW - 3 * DAY: 1.0, NOW: 2.0}}
    kept = FetchedHistory(back_to={sessions.key: NOW - 10 * DAY})
    frames = history_frames([users, sessions], stored, kept, limits, NOW + HOUR)
    assert [frame.series for frame in frames[:4]] == [users, sessions, users, sessions]
    for one, end in ((users, NOW - 3 * DAY - 1), (sessions, NOW - 10 * DAY - 1)):
        own = [frame for frame in frames if frame.series == one]
        assert own[0].end == end
        assert all(b.end == a.start - 1 for a, b in itertools.pairwise(own))
        assert all(frame.end - frame.start <= 7 * DAY for frame in own)
        assert own[-1].start == NOW + HOUR - (30 * DAY - HOUR)
