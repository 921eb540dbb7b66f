"""The configurations tests run with, built in one place.

``small_config`` is the reference daemon config (one app, Native, three
metrics, lobby with two uids); ``small_insight_config`` adds Data Insights to
it; ``insight_config`` is an insight-first config with real-time cut to one
series. ``settings_from`` validates any of them as the daemon would (no file,
no environment); ``write_config`` writes one as the YAML file a CLI reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from exporter.catalog.realtime import QUALITY_METRICS
from exporter.settings import Settings, load_settings
from tests.conftest import APPID, CUSTOMER_SECRET
from tests.conftest import CUSTOMER_ID as TEST_CUSTOMER_ID

CUSTOMER_ID = "e2e-customer"
SECRET = "e2e-Secret-7f3a9c1d"
"""The credentials of the end-to-end configs (the simulator fixtures use conftest's)."""


def small_config(
    base_url: str, state_dir: Path, *, uids: list[int] | None = None, **agora: Any
) -> dict[str, Any]:
    """The issue's reference config: one app, Native, three metrics, lobby with two uids."""
    return {
        "agora": {
            "base_url": base_url,
            "customer_id": CUSTOMER_ID,
            "customer_secret": SECRET,
            "plan": "enterprise",
            **agora,
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "product_types": ["Native"],
                "realtime": {
                    "usage": ["userCount", "channelCount"],
                    "quality": ["audioFreezeRate"],
                    "channels": [{"cname": "lobby", "uids": uids or [1001, 1002]}],
                },
                "insight": {"enabled": False},
            }
        ],
    }


def small_insight_config(base_url: str, state_dir: Path, **agora: Any) -> dict[str, Any]:
    """The small config with Data Insights on: 8 usage series and audioFreezeRate Native."""
    config = small_config(base_url, state_dir, **agora)
    config["apps"][0]["insight"] = {"enabled": True, "quality": ["audioFreezeRate"]}
    return config


def insight_config(
    base_url: str,
    state_dir: Path,
    *,
    hourly: bool = False,
    product_types: Sequence[str] = ("Native", "WebRTC"),
    quality: Sequence[str] = QUALITY_METRICS,
    **agora: Any,
) -> dict[str, Any]:
    """One Enterprise app with insight on; real-time reduced to userCount and ``quality``
    (which is also the insight quality list)."""
    return {
        "agora": {
            "base_url": base_url,
            "customer_id": TEST_CUSTOMER_ID,
            "customer_secret": CUSTOMER_SECRET,
            "plan": "enterprise",
            **agora,
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "product_types": list(product_types),
                "realtime": {"usage": ["userCount"], "quality": list(quality)},
                "insight": {"enabled": True, "hourly_quality": hourly, "quality": list(quality)},
            }
        ],
    }


def settings_from(config: dict[str, Any]) -> Settings:
    return load_settings(None, environ={}, overrides=config)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path
