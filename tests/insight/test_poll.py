"""Daily insight against the simulator over loopback HTTP, on a FakeClock, with real SQLite.

Days are walked through with the fake clock: publication delay, recomputation,
a late day, the peak-name fallback and the ledger across restarts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.agora.limits import DAY, HOUR, Budget, Endpoint
from exporter.catalog.insight import INSIGHT_METRICS, INSIGHT_USAGE_METRICS
from exporter.catalog.realtime import QUALITY_METRICS
from exporter.insight.plan import SLACK_S
from exporter.insight.series import InsightSeries
from exporter.quota.series_poller import PollStatus
from exporter.simulator import Fault
from tests.configs import insight_config
from tests.conftest import APPID, START, MakeSimulator
from tests.daemon_helpers import named
from tests.fakes import FakeClock
from tests.insight_helpers import insight_rig, latest_published, metric_params

USAGE = Endpoint.INSIGHT_USAGE.value
TICK_S = 300
NEXT_DAY = 1_699_977_600  # 2023-11-14 16:00 UTC: not yet published at START


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_a_day_appears_once_published_and_an_unpublished_day_is_absent_not_zero(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    published = sim.traffic.insight_published_at("userCount", NEXT_DAY)
    config = insight_config(sim.base_url, tmp_path, quality=[])
    with insight_rig(config, fake_clock) as rig:
        rig.tick()
        before = latest_published(sim, "userCount", None, fake_clock())
        assert before == NEXT_DAY - DAY
        stamps = named(rig.exposed(), "agora_daily_timestamp_seconds")
        assert stamps[_labels(appid=APPID, metric="userCount", product_type="")] == before
        key = InsightSeries(APPID, "userCount").key
        assert NEXT_DAY not in rig.store.insight.snapshot()[key]

        fake_clock.set(published + SLACK_S)
        rig.tick()
        shown = rig.exposed()
    value = sim.traffic.insight_at(APPID, "userCount", NEXT_DAY, "1d", None, published + SLACK_S)
    assert named(shown, "agora_daily_users") == {_labels(appid=APPID): value}
    stamps = named(shown, "agora_daily_timestamp_seconds")
    assert stamps[_labels(appid=APPID, metric="userCount", product_type="")] == NEXT_DAY


def test_a_recomputed_day_replaces_the_stored_value_within_one_pass(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    published = sim.traffic.insight_published_at("totalDuration", NEXT_DAY)
    recomputed = sim.traffic.insight_recomputed_at("totalDuration", NEXT_DAY)
    assert recomputed is not None
    key = InsightSeries(APPID, "totalDuration").key
    config = insight_config(sim.base_url, tmp_path, quality=[])
    with insight_rig(config, fake_clock) as rig:
        fake_clock.set(published + SLACK_S)
        rig.tick()
        first = rig.store.insight.snapshot()[key][NEXT_DAY]
        fake_clock.set(recomputed + SLACK_S)
        rig.tick()
        again = rig.store.insight.snapshot()[key][NEXT_DAY]
    truth = sim.traffic.insight_at(APPID, "totalDuration", NEXT_DAY, "1d", None, recomputed)
    assert first != truth
    assert again == truth


def test_three_days_of_passes_show_each_day_soon_after_publication_within_the_budget(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    config = insight_config(sim.base_url, tmp_path, product_types=["Native"])
    first_seen: dict[int, float] = {}
    most_in_a_day = {Budget.INSIGHT_USAGE: 0, Budget.INSIGHT_QUALITY: 0}
    with insight_rig(config, fake_clock) as rig:
        while fake_clock() < START + 3 * DAY + HOUR:
            rig.tick()
            now = fake_clock()
            shown = named(rig.exposed(), "agora_daily_timestamp_seconds")
            day = int(shown[_labels(appid=APPID, metric="userCount", product_type="")])
            first_seen.setdefault(day, now)
            latest = latest_published(sim, "userCount", None, now)
            assert latest is not None
            assert day in (latest, latest - DAY), "the newest day, or the one before for a while"
            for budget, most in most_in_a_day.items():
                most_in_a_day[budget] = max(most, len(rig.sent(budget)))
            fake_clock.advance(TICK_S)
    assert sim.refused() == []
    assert most_in_a_day == {Budget.INSIGHT_USAGE: 6 * 8, Budget.INSIGHT_QUALITY: 10 * 5}
    later_days = sorted(first_seen)[1:]
    assert len(later_days) == 3
    for day in later_days:
        published = sim.traffic.insight_published_at("userCount", day)
        assert published <= first_seen[day] <= published + SLACK_S + TICK_S


def test_a_day_published_late_is_asked_for_again_later_in_the_day(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    # The simulated account publishes usage 7 h late; the exporter expects Enterprise's 6 h.
    sim = make_simulator(quota={"insight_usage": {"delay_s": 7 * HOUR}})
    published = sim.traffic.insight_published_at("userCount", NEXT_DAY)
    expected = NEXT_DAY + DAY + 6 * HOUR + SLACK_S
    config = insight_config(sim.base_url, tmp_path, quality=[])
    with insight_rig(config, fake_clock) as rig:
        while fake_clock() < published + 2 * HOUR:
            rig.tick()
            fake_clock.advance(TICK_S)
        key = InsightSeries(APPID, "userCount").key
        stored = rig.store.insight.snapshot()[key]
    times = [entry.at for entry in sim.requests() if entry.params.get("metric") == "userCount"]
    assert NEXT_DAY in stored
    assert any(expected <= at < published for at in times), "a pass at the expected time"
    found = [at for at in times if at >= published]
    assert found
    assert found[0] <= published + HOUR, "the retry, not the pass four hours later"


def test_peak_metrics_fall_back_to_the_concurrent_spelling_once_and_remember_it(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator(peak_spelling="concurrent")
    config = insight_config(sim.base_url, tmp_path, quality=[])
    with insight_rig(config, fake_clock) as rig:
        rig.tick()
        used = len(rig.sent(Budget.INSIGHT_USAGE))
        shown = rig.exposed()
    peaks = [m for m in metric_params(sim, USAGE) if m.startswith("peak")]
    assert peaks == [
        "peakCurrentUsers",
        "peakConcurrentUsers",
        "peakCurrentChannels",
        "peakConcurrentChannels",
    ]
    assert used == len(INSIGHT_USAGE_METRICS) + 2, "the rejected requests are in the ledger too"
    now = fake_clock()
    day = latest_published(sim, "peakConcurrentUsers", None, now)
    assert day is not None
    truth = sim.traffic.insight_at(APPID, "peakConcurrentUsers", day, "1d", None, now)
    assert named(shown, "agora_daily_peak_concurrent_users") == {_labels(appid=APPID): truth}
    stamps = named(shown, "agora_daily_timestamp_seconds")
    assert _labels(appid=APPID, metric="peakCurrentUsers", product_type="") in stamps

    # After a restart the accepted spelling is sent first.
    fake_clock.advance(DAY)
    with insight_rig(config, fake_clock) as rig:
        rig.tick()
    again = [m for m in metric_params(sim, USAGE) if m.startswith("peak")][len(peaks) :]
    assert again == ["peakConcurrentUsers", "peakConcurrentChannels"]


def test_the_reference_spelling_is_sent_alone_when_the_api_accepts_it(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator(peak_spelling="current")
    with insight_rig(insight_config(sim.base_url, tmp_path, quality=[]), fake_clock) as rig:
        rig.tick()
    assert [m for m in metric_params(sim, USAGE) if m.startswith("peak")] == [
        "peakCurrentUsers",
        "peakCurrentChannels",
    ]
    assert sim.refused() == []


def test_the_daily_budget_holds_across_a_restart(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator(quota={"insight_usage": {"per_day": 12}})
    config = insight_config(
        sim.base_url, tmp_path, quality=[], quota={"insight_usage": {"per_day": 12}}
    )
    series = [InsightSeries(APPID, metric) for metric in INSIGHT_USAGE_METRICS]
    with insight_rig(config, fake_clock) as rig:
        rig.tick()
        first_at = rig.sent(Budget.INSIGHT_USAGE)[0]
    fake_clock.advance(HOUR)
    with insight_rig(config, fake_clock) as rig:
        rig.tick()  # not due: the ledger says a pass ran an hour ago
        assert len(rig.sent(Budget.INSIGHT_USAGE)) == len(series)
        forced = rig.poller.run_pass(series)  # past the schedule: only the ledger stands guard
        assert len(rig.sent(Budget.INSIGHT_USAGE)) == 12
    statuses = [result.status for result in forced.results.values()]
    assert statuses == [PollStatus.FETCHED] * 4 + [PollStatus.DEFERRED]
    assert forced.retry_at == pytest.approx(first_at + DAY)
    assert len(sim.requests()) == 12
    assert sim.refused() == []


def test_hourly_quality_shows_the_latest_published_hour_per_product_type(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    config = insight_config(sim.base_url, tmp_path, hourly=True)
    with insight_rig(config, fake_clock) as rig:
        rig.tick()
        shown = rig.exposed()
        now = fake_clock()
    stamps = named(shown, "agora_hourly_timestamp_seconds")
    for metric in QUALITY_METRICS:
        family = INSIGHT_METRICS[metric].hourly_family
        assert family is not None
        values = named(shown, family)
        for product_type in ("Native", "WebRTC"):
            hour = latest_published(sim, metric, product_type, now, "1h")
            labels = _labels(appid=APPID, product_type=product_type)
            if hour is None:
                assert labels not in values
                continue
            truth = sim.traffic.insight_at(APPID, metric, hour, "1h", product_type, now)
            assert values[labels] == truth
            assert stamps[_labels(appid=APPID, metric=metric, product_type=product_type)] == hour
    assert sim.refused() == []


def test_a_server_error_is_retried_after_a_back_off_and_counted_in_the_ledger(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    sim.faults.inject(Fault.HTML_500, path=USAGE)
    with insight_rig(insight_config(sim.base_url, tmp_path, quality=[]), fake_clock) as rig:
        rig.tick()
        stored = rig.store.insight.snapshot()
        used = len(rig.sent(Budget.INSIGHT_USAGE))
    assert all(InsightSeries(APPID, metric).key in stored for metric in INSIGHT_USAGE_METRICS)
    assert used == len(INSIGHT_USAGE_METRICS) + 1


def test_a_daily_limit_answer_stops_the_pass_and_the_rest_follows_when_it_lifts(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    sim.faults.inject(Fault.CODE_300, message="qpd limit error", path=USAGE)
    with insight_rig(insight_config(sim.base_url, tmp_path, quality=[]), fake_clock) as rig:
        rig.tick()
        assert rig.store.insight.snapshot() == {}
        assert len(sim.requests()) == 1
        fake_clock.advance(HOUR - 60)
        rig.tick()
        assert len(sim.requests()) == 1, "nothing before the pause ends"
        fake_clock.advance(60)
        rig.tick()
        stored = rig.store.insight.snapshot()
    assert len(stored) == len(INSIGHT_USAGE_METRICS)
    assert len(sim.requests()) == 1 + len(INSIGHT_USAGE_METRICS)


def test_without_real_time_quality_every_daily_ratio_is_exported_for_both_product_types(
    make_simulator: MakeSimulator, fake_clock: FakeClock, tmp_path: Path
) -> None:
    sim = make_simulator()
    config = insight_config(sim.base_url, tmp_path, quality=[])
    del config["apps"][0]["insight"]["quality"]  # realtime.quality: [], insight's left default
    with insight_rig(config, fake_clock) as rig:
        assert {one.metric for one in rig.plan.series} == {"userCount"}, "no real-time quality"
        rig.tick()
        shown = rig.exposed()
        now = fake_clock()
    assert sim.refused() == []
    for metric in QUALITY_METRICS:
        family = INSIGHT_METRICS[metric].daily_family
        assert re.fullmatch(r"agora_daily_\w+_ratio", family)
        exported = named(shown, family)
        for product_type in ("Native", "WebRTC"):
            day = latest_published(sim, metric, product_type, now)
            labels = _labels(appid=APPID, product_type=product_type)
            if metric == "audioFreezeRate" and product_type == "WebRTC":
                assert day is None, "the Web SDK reports no audio freeze rate"
                assert labels not in exported
                continue
            assert day is not None
            truth = sim.traffic.insight_at(APPID, metric, day, "1d", product_type, now)
            assert exported[labels] == truth
