"""``--demo``: the embedded simulator on a free loopback port, and a config for it."""

from __future__ import annotations

import logging
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.agora.limits import Budget
from exporter.app import App
from exporter.console import ConsoleBridge
from exporter.simulator import Simulator
from exporter.simulator.console_alerts import ConsoleAlertSender

log = logging.getLogger("exporter")

DEMO_APPID = "0123456789abcdef0123456789abcdef"
DEMO_CUSTOMER_ID = "demo-customer"
DEMO_CUSTOMER_SECRET = "demo-secret"
DEMO_QUOTA = {"realtime": {"per_minute": 60, "per_day": 14400}}
DEMO_PROJECT = "Demo project"
DEMO_ALERTS = {"token": "demo-console-alerts", "listen_address": "127.0.0.1:0"}
"""With alerts.enabled, the simulator posts Console alerts to this loopback listener."""


def demo_account(base_url: str) -> dict[str, Any]:
    """The ``agora`` section for the simulated account at ``base_url``, on Enterprise's
    own limits."""
    return {
        "base_url": base_url,
        "customer_id": DEMO_CUSTOMER_ID,
        "customer_secret": DEMO_CUSTOMER_SECRET,
        "plan": "enterprise",
    }


def demo_overrides(base_url: str, state_dir: Path) -> dict[str, Any]:
    """The demo's config: one app, both product types, two channels with users.

    The simulated account gets ten times Enterprise's quota so that this many
    series refresh every few minutes; the planner treats it like any override.
    """
    return {
        "agora": demo_account(base_url) | {"quota": DEMO_QUOTA},
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": DEMO_APPID,
                "product_types": ["Native", "WebRTC"],
                "realtime": {
                    "channels": [
                        {"cname": "lobby", "uids": [1001, 1002]},
                        {"cname": "stage", "uids": [2001, 2002, 2003]},
                    ]
                },
                "insight": {"enabled": True, "hourly_quality": True},
                "calls": {"enabled": True, "max_calls": 5, "max_sessions_per_call": 10},
                "project": DEMO_PROJECT,
            }
        ],
        "alerts": dict(DEMO_ALERTS),
    }


@dataclass(frozen=True)
class Demo:
    """The running simulator and the demo's config overrides."""

    simulator: Simulator
    overrides: dict[str, Any]

    def connect(self, app: App) -> ConsoleAlertSender | None:
        """With ``alerts.enabled``, let the simulator post Console alerts to the exporter."""
        bridge = app.source.console
        if not isinstance(bridge, ConsoleBridge) or (url := bridge.local_url()) is None:
            return None
        sender = self.simulator.send_console_alerts(url, {DEMO_APPID: DEMO_PROJECT})
        log.info("demo: the simulator sends Agora Console alerts", extra={"port": bridge.port})
        return sender


def start_demo(stack: ExitStack) -> Demo:
    """Start the simulator (stopped with ``stack``); the demo's config overrides with it."""
    simulator = stack.enter_context(
        Simulator(
            plan="enterprise",
            customer_id=DEMO_CUSTOMER_ID,
            customer_secret=DEMO_CUSTOMER_SECRET,
            seed=42,
        )
    )
    for budget, limits in DEMO_QUOTA.items():
        simulator.set_quota(Budget(budget), **limits)
    state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="agora-demo-")))
    return Demo(simulator, demo_overrides(simulator.base_url, state_dir))
