"""The daemon end to end: the real app, the simulator over loopback HTTP, a real SQLite file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from exporter.app import InfeasiblePlanError, build_app
from exporter.simulator import Fault
from tests.configs import settings_from, small_config
from tests.daemon_helpers import (
    APPID,
    SECRET,
    Samples,
    live_simulator,
    named,
    running_app,
    scrape,
    steady_uids,
    wait_until,
)

REALTIME_FAMILIES = {
    "agora_realtime_users": ("userCount", None),
    "agora_realtime_channels": ("channelCount", None),
    "agora_realtime_audio_freeze_ratio": ("audioFreezeRate", None),
    "agora_realtime_channel_users": ("userCount", "lobby"),
    "agora_realtime_channel_audio_freeze_ratio": ("audioFreezeRate", "lobby"),
    "agora_realtime_user_audio_freeze_ratio": ("audioFreezeRate", "lobby"),
}
SELF_FAMILIES = (
    "agora_realtime_window_timestamp_seconds",
    "agora_realtime_newest_window_timestamp_seconds",
    "agora_up",
    "agora_exporter_api_requests_total",
    "agora_exporter_api_request_duration_seconds_count",
    "agora_exporter_quota_limit",
    "agora_exporter_quota_used",
    "agora_exporter_poll_interval_seconds",
    "agora_exporter_windows_missed_total",
    "agora_exporter_build_info",
)


def _has_every_family(port: int, keep: Samples | None = None) -> bool:
    """True once a scrape shows every family (both uids included); keeps that scrape."""
    samples = scrape(port)
    names = {name for name, _ in samples}
    users = named(samples, "agora_realtime_user_audio_freeze_ratio")
    complete = set(REALTIME_FAMILIES) <= names and set(SELF_FAMILIES) <= names and len(users) == 2
    if complete and keep is not None:
        keep.update(samples)
    return complete


def _shape_of(label: dict[str, str], metric: str, samples: Samples) -> tuple[tuple[str, str], ...]:
    """The labels of the request shape a value came from: one per request, whatever its uids."""
    scope = "user" if "uid" in label else "channel" if "cname" in label else "project"
    shapes = [
        labels
        for labels in named(samples, "agora_realtime_window_timestamp_seconds")
        if dict(labels)["metric"] == metric
        and dict(labels)["scope"] == scope
        and dict(labels)["cname"] == label.get("cname", "")
        and label.get("uid", "") in ("", *dict(labels)["uids"].split(","))
    ]
    assert len(shapes) == 1, (label, metric, shapes)
    return shapes[0]


def test_every_family_appears_and_equals_the_simulator_for_the_window_it_names(
    tmp_path: Path,
) -> None:
    with live_simulator() as sim:
        uids = steady_uids(sim, now=time.time())
        app_context = running_app(small_config(sim.base_url, tmp_path, uids=uids))
        with app_context as app:
            samples: Samples = {}
            wait_until(
                lambda: _has_every_family(app.port, samples), timeout_s=60, what="every family"
            )
            shown_at = named(samples, "agora_realtime_window_timestamp_seconds")
            checked = 0
            for family, (metric, cname) in REALTIME_FAMILIES.items():
                for labels, value in named(samples, family).items():
                    label = dict(labels)
                    uid = int(label["uid"]) if "uid" in label else None
                    window = int(shown_at[_shape_of(label, metric, samples)])
                    expected = sim.traffic.realtime(APPID, "Native", metric, window, cname, uid)
                    assert value == pytest.approx(expected, abs=1e-9), (family, label, window)
                    checked += 1
            assert checked == 7
            assert sim.refused() == []
            interval = named(samples, "agora_exporter_poll_interval_seconds")
            # the longest: usage, channel and user series as seldom as gap-free allows
            assert interval == {(("budget", "realtime"),): 3500.0}
            per_shape = named(samples, "agora_realtime_poll_interval_seconds")
            assert set(per_shape) == set(
                named(samples, "agora_realtime_newest_window_timestamp_seconds")
            )
            assert max(per_shape.values()) == 3500.0
            assert named(samples, "agora_up") == {(("appid", APPID),): 1.0}
            assert httpx.get(f"http://127.0.0.1:{app.port}/-/ready").status_code == 200


def test_every_series_arrives_when_every_third_request_is_an_html_500(tmp_path: Path) -> None:
    with live_simulator() as sim:
        sim.faults.every(3, Fault.HTML_500)
        config = small_config(sim.base_url, tmp_path, uids=steady_uids(sim, now=time.time()))
        with running_app(config) as app:
            wait_until(lambda: _has_every_family(app.port), timeout_s=90, what="every family")
            requests = named(scrape(app.port), "agora_exporter_api_requests_total")
        outcomes = {dict(labels)["outcome"] for labels in requests}
        assert "server_error" in outcomes
        assert "success" in outcomes


def test_bad_credentials_set_up_to_zero_after_a_handful_of_requests_without_logging_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = small_config("", tmp_path)
    with live_simulator(customer_secret="the-right-one") as sim:
        config["agora"]["base_url"] = sim.base_url
        with running_app(config) as app:
            wait_until(
                lambda: named(scrape(app.port), "agora_up") == {(("appid", APPID),): 0.0},
                timeout_s=30,
                what="agora_up to drop to 0",
            )
            sent_first = len(sim.requests())
            # A real pause: the daemon runs on the wall clock; a stream would show here.
            time.sleep(2)
            page = httpx.get(f"http://127.0.0.1:{app.port}/").text
            metrics = httpx.get(f"http://127.0.0.1:{app.port}/metrics").text
        assert sent_first <= 6, "every series may try once; no stream of retries"
        assert len(sim.requests()) == sent_first
    assert SECRET not in caplog.text
    assert SECRET not in page
    assert SECRET not in metrics
    assert "unauthorized" in metrics


def test_an_infeasible_config_is_refused_before_any_request(tmp_path: Path) -> None:
    config = small_config("", tmp_path)
    channels = [{"cname": f"room-{n}", "uids": [1, 2]} for n in range(20)]
    config["apps"][0]["realtime"]["channels"] = channels
    with live_simulator() as sim:
        config["agora"]["base_url"] = sim.base_url
        with pytest.raises(InfeasiblePlanError, match="drop"):
            build_app(settings_from(config), host="127.0.0.1", port=0)
        assert sim.requests() == []
