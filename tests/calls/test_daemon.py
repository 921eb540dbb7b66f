"""The Call Inspector in the running daemon: simulator over HTTP, real store, real scrape."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from exporter.calls.view import CallState
from exporter.catalog import calls as catalog
from exporter.simulator import SessionInfo, Simulator
from tests.configs import small_config
from tests.daemon_helpers import APPID, live_simulator, named, running_app, scrape, wait_until


def _has_call_metrics(port: int) -> bool:
    names = {name for name, _ in scrape(port)}
    return catalog.CALL_METRICS[20001].family in names


def _newest(state: CallState) -> dict[tuple[str, ...], tuple[int, float, int, str, str]]:
    """Per exposed labels and metric ID: the newest stored sample (ts, value, mid, call, sid)."""
    best: dict[tuple[str, ...], tuple[int, float, int, str, str]] = {}
    for call in state.calls:
        uids = {s.sid: s.uid for s in call.sessions}
        for sample in call.samples:
            peer = "" if sample.peer_uid == 0 else str(sample.peer_uid)
            key = (call.appid, call.cname, str(uids[sample.sid]), peer, str(sample.mid))
            if key not in best or sample.ts > best[key][0]:
                best[key] = (sample.ts, sample.value, sample.mid, call.call_id, sample.sid)
    return best


def test_the_daemon_exposes_call_metrics_equal_to_the_simulator(tmp_path: Path) -> None:
    config = small_config("", tmp_path)
    config["apps"][0]["calls"] = {"enabled": True, "max_calls": 2, "max_sessions_per_call": 4}
    with live_simulator() as sim:
        config["agora"]["base_url"] = sim.base_url
        with running_app(config) as app:
            assert app.calls is not None
            calls = app.calls
            wait_until(
                lambda: calls.state().last_cycle_at is not None and _has_call_metrics(app.port),
                timeout_s=60,
                what="a whole cycle and call metrics",
            )
            before = calls.state()
            samples = scrape(app.port)
            state = calls.state()
            assert state.last_cycle_at == before.last_cycle_at, "a cycle ran during the scrape"
            status = httpx.get(f"http://127.0.0.1:{app.port}/", timeout=10).text
        newest = _newest(state)
        checked = 0
        for key, (ts, value, mid, call_id, sid) in newest.items():
            metric = catalog.CALL_METRICS.get(mid)
            if metric is None:
                continue
            labels = tuple(sorted(zip(catalog.CALL_LABELS, key[:4], strict=True)))
            exposed = named(samples, metric.family)[labels]
            assert exposed == pytest.approx(value * metric.scale)
            [truth] = [
                kvs
                for found_mid, peer, kvs in sim.traffic.call_metrics(APPID, call_id, sid, ts, ts)
                if found_mid == mid and str(peer or "") == key[3]
            ]
            assert truth == [(ts, value)]
            checked += 1
    assert checked > 20
    limits = named(samples, "agora_exporter_quota_limit")
    assert limits[(("budget", "call_details"), ("period", "second"))] == 10
    assert named(samples, "agora_exporter_poll_interval_seconds")[(("budget", "call_lists"),)] > 0
    assert named(samples, "agora_calls_inspected")[(("appid", APPID),)] == len(state.calls)
    assert "Call Inspector" in status
    assert all(call.call_id in status for call in state.calls)
    info = named(samples, catalog.SESSION_INFO.name)
    assert info == _session_info_truth(sim, state)
    users = named(samples, catalog.SAMPLE_TIMESTAMP.name)
    assert {labels[:3] for labels in map(_by_name, info)} >= {
        labels for labels in map(_by_name, users)
    }


def _by_name(labels: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """Label values in the catalog's order (appid, cname, uid, ...)."""
    found = dict(labels)
    return tuple(found[name] for name in catalog.SESSION_INFO.labels if name in found)


def _session_info_truth(
    sim: Simulator, state: CallState
) -> dict[tuple[tuple[str, str], ...], float]:
    """What the simulator says of each inspected user's latest session, as info labels."""
    latest: dict[tuple[str, str, int], SessionInfo] = {}
    for call in state.calls:
        stored = {s.sid for s in call.sessions}
        for one in sim.traffic.sessions(APPID, call.call_id):
            key = (call.appid, call.cname, one.uid)
            known = latest.get(key)
            if one.sid in stored and (
                known is None or (one.join_ts, one.sid) > (known.join_ts, known.sid)
            ):
                latest[key] = one
    assert latest, "the inspected calls have users"
    return {
        tuple(
            sorted(
                zip(
                    catalog.SESSION_INFO.labels,
                    (appid, cname, str(uid), s.platform, s.network, s.sdk_version, s.device_type),
                    strict=True,
                )
            )
        ): 1.0
        for (appid, cname, uid), s in latest.items()
    }


@pytest.mark.prometheus
def test_the_call_families_pass_promtools_linter(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    config = small_config("", tmp_path)
    config["apps"][0]["calls"] = {"enabled": True, "max_calls": 1, "max_sessions_per_call": 2}
    with live_simulator() as sim:
        config["agora"]["base_url"] = sim.base_url
        with running_app(config) as app:
            wait_until(lambda: _has_call_metrics(app.port), timeout_s=60, what="call metrics")
            text = httpx.get(f"http://127.0.0.1:{app.port}/metrics", timeout=10).text
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    problems = [line for line in (lint.stdout + lint.stderr).splitlines() if "call" in line]
    assert problems == []
