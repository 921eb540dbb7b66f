"""Fixtures of the Console alert tests: a real Alertmanager, and bridges posting to it.

``alertmanager`` runs for the module (tests tell their alerts apart by project
name); ``make_bridge(**alerts)`` builds a started :class:`ConsoleBridge` on a
free loopback port with retries cut to a fraction of a second, stopped after
the test; ``post(bridge, fields)`` sends one callback as Agora does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.console import ConsoleBridge
from exporter.console.running import ForwardOptions
from exporter.settings import Settings, load_settings
from tests.conftest import APPID
from tests.console.alertmanager import Alertmanager

TOKEN = "t0ken-for-the-console-tests"
FAST = ForwardOptions(retry_schedule_s=(0.2, 0.5), resend_interval_s=60.0)

MakeBridge = Callable[..., ConsoleBridge]


def alerts_settings(state_dir: Path, **alerts: Any) -> Settings:
    """A valid daemon config with the alerts section ``alerts`` (enabled, loopback)."""
    section = {"enabled": True, "token": TOKEN, "listen_address": "127.0.0.1:0", **alerts}
    config = {
        "agora": {"customer_id": "id-1234", "customer_secret": "secret-1234", "plan": "premium"},
        "state_dir": str(state_dir),
        "apps": [{"appid": APPID, "project": "Demo project"}],
        "alerts": section,
    }
    return load_settings(None, environ={}, overrides=config)


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    running = Alertmanager(tmp_path_factory.mktemp("alertmanager"))
    yield running
    running.close()


@pytest.fixture
def make_bridge(tmp_path: Path) -> Iterator[MakeBridge]:
    started: list[ConsoleBridge] = []

    def make(**alerts: Any) -> ConsoleBridge:
        bridge = ConsoleBridge(alerts_settings(tmp_path / "state", **alerts), options=FAST)
        bridge.start()
        started.append(bridge)
        return bridge

    yield make
    for bridge in started:
        bridge.stop()


def post(bridge: ConsoleBridge, fields: dict[str, Any], **options: Any) -> httpx.Response:
    """One callback, as Agora posts it: JSON, no credentials, the token in the path."""
    url = bridge.local_url()
    assert url is not None
    body = json.dumps(fields, ensure_ascii=False).encode()
    return httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, timeout=5, **options
    )


def callback(project: str, cname: str = "lobby", **fields: str) -> dict[str, str]:
    """A channel-granularity callback in the documented shape (no uid)."""
    return {
        "alertTime": "1631703720000",
        "timeZone": "UTC+8",
        "projectName": project,
        "cname": cname,
        "enContent": "video freeze rate≥85%",
        "cnContent": "视频卡顿率≥85%",
        "currentUserNum": "12",
        "currentHostNum": "2",
        "callId": "0c5e8a1b2c3d4e5f",
        "url": "https://console.agora.io/analytics/call/detail?callId=0c5e8a1b2c3d4e5f",
        "remark": "freeze rule of the lobby",
        **fields,
    }
