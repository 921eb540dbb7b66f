"""``apps[].insight``: its own usage and quality lists, independent of ``apps[].realtime``."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.catalog.insight import INSIGHT_QUALITY_METRICS, INSIGHT_USAGE_METRICS
from exporter.settings import ConfigError, Settings, load_settings

APPID = "0123456789abcdef0123456789abcdef"
AGORA = {"customer_id": "cid-7d1f2e3a4b5c", "customer_secret": "sec-9a8b", "plan": "enterprise"}


def _load(app: dict[str, Any]) -> Settings:
    overrides = {"agora": AGORA, "apps": [{"appid": APPID, **app}]}
    return load_settings(None, environ={}, overrides=overrides)


def _problem(app: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(app)
    [problem] = caught.value.problems
    return problem


def test_insight_asks_for_every_metric_the_reference_names_by_default() -> None:
    [app] = _load({}).apps
    assert app.insight.usage == list(INSIGHT_USAGE_METRICS)
    assert len(app.insight.usage) == 8
    assert app.insight.quality == list(INSIGHT_QUALITY_METRICS)
    assert len(app.insight.quality) == 5


def test_the_insight_lists_do_not_follow_the_real_time_ones() -> None:
    [app] = _load({"realtime": {"usage": [], "quality": []}}).apps
    assert (app.realtime.usage, app.realtime.quality) == ([], [])
    assert app.insight.quality == list(INSIGHT_QUALITY_METRICS)
    assert app.insight.usage == list(INSIGHT_USAGE_METRICS)


@pytest.mark.parametrize(
    ("given", "usage", "quality"),
    [
        pytest.param(
            {"usage": ["userCount"], "quality": []}, ["userCount"], [], id="lists are kept as given"
        ),
        pytest.param(
            {"usage": "usercount, PEAKCURRENTUSERS", "quality": "networkdelay"},
            ["userCount", "peakCurrentUsers"],
            ["networkDelay"],
            id="comma-separated text in any case is read as a list",
        ),
        pytest.param(
            {"usage": ["peakConcurrentUsers", "peakConcurrentChannels"]},
            ["peakCurrentUsers", "peakCurrentChannels"],
            list(INSIGHT_QUALITY_METRICS),
            id="the other peak spelling becomes the reference's",
        ),
    ],
)
def test_the_insight_lists_are_normalised(
    given: dict[str, Any], usage: list[str], quality: list[str]
) -> None:
    [app] = _load({"insight": given}).apps
    assert (app.insight.usage, app.insight.quality) == (usage, quality)


def test_the_insight_lists_come_from_the_environment_too() -> None:
    environ = {f"AGORA_EXPORTER_AGORA__{key.upper()}": value for key, value in AGORA.items()}
    environ |= {
        "AGORA_EXPORTER_APPS__0__APPID": APPID,
        "AGORA_EXPORTER_APPS__0__INSIGHT__QUALITY": "videoFreezeRate,networkDelay",
    }
    [app] = load_settings(None, environ=environ).apps
    assert app.insight.quality == ["videoFreezeRate", "networkDelay"]


@pytest.mark.parametrize(
    ("insight", "path", "fragment"),
    [
        pytest.param(
            {"usage": ["videoFreezeRate"]},
            "apps[0].insight.usage[0]",
            "videoFreezeRate is a quality metric: list it under quality",
            id="a quality metric under usage says where it belongs",
        ),
        pytest.param(
            {"quality": ["totalDuration"]},
            "apps[0].insight.quality[0]",
            "totalDuration is a usage metric: list it under usage",
            id="a usage metric under quality says where it belongs",
        ),
        pytest.param(
            {"quality": ["peakConcurrentUsers"]},
            "apps[0].insight.quality[0]",
            "is a usage metric",
            id="the other peak spelling under quality is a usage metric too",
        ),
        pytest.param(
            {"usage": ["sessionCounts"]},
            "apps[0].insight.usage[0]",
            "did you mean sessionCount?",
            id="a misspelt usage metric suggests the right one",
        ),
        pytest.param(
            {"usage": ["peakCurrentUsers", "peakConcurrentUsers"]},
            "apps[0].insight.usage[1]",
            "listed twice",
            id="one metric under both spellings is listed twice",
        ),
        pytest.param(
            {"quality": ["networkDelay", "networkDelay"]},
            "apps[0].insight.quality[1]",
            "listed twice",
            id="a quality metric twice is refused",
        ),
    ],
)
def test_a_wrong_insight_metric_names_the_key_and_the_fix(
    insight: dict[str, Any], path: str, fragment: str
) -> None:
    problem = _problem({"insight": insight})
    assert problem.startswith(f"{path}: ")
    assert fragment in problem
