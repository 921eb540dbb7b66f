"""The ``alerts`` section: defaults, every key from the environment, readable errors, and
a token that no error, repr or dump ever shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.settings import ConfigError, load_settings
from exporter.settings.alerts import parse_duration

TOKEN = "s3cret-Token-0f9a8b7c"
BASE: dict[str, Any] = {
    "agora": {"customer_id": "id-1234", "customer_secret": "secret-1234", "plan": "premium"},
    "apps": [{"appid": "0123456789abcdef0123456789abcdef"}],
}


def _load(environ: dict[str, str] | None = None, **alerts: Any) -> Any:
    config = {**BASE, "alerts": alerts} if alerts else BASE
    return load_settings(None, environ=environ or {}, overrides=config).alerts


def _problem(environ: dict[str, str] | None = None, **alerts: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        _load(environ, **alerts)
    return str(raised.value)


def test_the_section_is_off_by_default_with_the_documented_defaults() -> None:
    alerts = _load()
    assert not alerts.enabled
    assert alerts.listen_address == ":10043"
    assert alerts.alertmanagers == ["http://localhost:9093"]
    assert alerts.hold == 600.0
    assert alerts.severity == "warning"
    assert alerts.allow_from == []
    assert alerts.secret_token() is None


def test_every_key_can_come_from_the_environment() -> None:
    environ = {
        "AGORA_EXPORTER_ALERTS__ENABLED": "true",
        "AGORA_EXPORTER_ALERTS__LISTEN_ADDRESS": "[::]:9443",
        "AGORA_EXPORTER_ALERTS__TOKEN": TOKEN,
        "AGORA_EXPORTER_ALERTS__ALLOW_FROM": "203.0.113.7, 2001:db8::/32",
        "AGORA_EXPORTER_ALERTS__ALERTMANAGERS": "http://am1:9093,https://am2:9093/",
        "AGORA_EXPORTER_ALERTS__HOLD": "1h30m",
        "AGORA_EXPORTER_ALERTS__SEVERITY": "critical",
        "AGORA_EXPORTER_ALERTS__SEVERITY_RULES": '[{match: "freeze", severity: info}]',
        "AGORA_EXPORTER_ALERTS__WEB_CONFIG_FILE": "/etc/agora/alerts-web.yml",
    }
    alerts = _load(environ)
    assert alerts.enabled
    assert alerts.listen_address == "[::]:9443"
    assert alerts.secret_token() == TOKEN
    assert alerts.allow_from == ["203.0.113.7/32", "2001:db8::/32"]
    assert alerts.alertmanagers == ["http://am1:9093", "https://am2:9093"]
    assert alerts.hold == 5400.0
    assert alerts.severity == "critical"
    assert [(r.match, r.severity) for r in alerts.severity_rules] == [("freeze", "info")]
    assert alerts.web_config_file == Path("/etc/agora/alerts-web.yml")


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "alerts_token"
    secret.write_text(TOKEN + "\n")
    assert _load(enabled=True, token_file=str(secret)).secret_token() == TOKEN


@pytest.mark.parametrize(
    ("alerts", "key", "advice"),
    [
        pytest.param({"enabled": True}, "alerts.token", "openssl rand", id="enabled without token"),
        pytest.param({"token": "short"}, "alerts.token", "at least 16", id="a short token"),
        pytest.param(
            {"token": "with space and more than 16"}, "alerts.token", "A-Z", id="a token with space"
        ),
        pytest.param(
            {"token": TOKEN, "token_file": "/x"}, "alerts.token_file", "not both", id="two tokens"
        ),
        pytest.param({"listen_address": "10043"}, "alerts.listen_address", "HOST:PORT", id="port"),
        pytest.param({"allow_from": ["10.0.0.300"]}, "alerts.allow_from[0]", "CIDR", id="cidr"),
        pytest.param(
            {"alertmanagers": ["localhost:9093"]}, "alerts.alertmanagers[0]", "http://", id="url"
        ),
        pytest.param({"alertmanagers": []}, "alerts.alertmanagers", "at least 1", id="none"),
        pytest.param(
            {"alertmanagers": ["http://a:1", "http://a:1/"]}, "alerts", "twice", id="twice"
        ),
        pytest.param({"hold": "ten minutes"}, "alerts.hold", "duration", id="hold not a duration"),
        pytest.param({"hold": "30s"}, "alerts.hold", "at least 1m", id="hold too short"),
        pytest.param({"severity": "Page Me"}, "alerts.severity", "lower-case", id="severity"),
        pytest.param(
            {"severity_rules": [{"match": "(", "severity": "info"}]},
            "alerts.severity_rules[0].match",
            "regular expression",
            id="a rule that is no regex",
        ),
        pytest.param({"enable": True}, "alerts.enable", "Did you mean enabled", id="typo"),
    ],
)
def test_a_bad_value_is_one_readable_problem_naming_the_key(
    alerts: dict[str, Any], key: str, advice: str
) -> None:
    problem = _problem(**alerts)
    assert problem.startswith(key), problem
    assert advice in problem


def test_no_error_repr_or_dump_shows_the_token() -> None:
    environ = {"AGORA_EXPORTER_ALERTS__TOKEN": "tooShortButSecret"[:12]}
    assert "tooShortBu" not in _problem(environ, enabled=True)
    alerts = _load(enabled=True, token=TOKEN)
    assert TOKEN not in repr(alerts)
    assert TOKEN not in str(alerts.model_dump())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("1h30m", 5400.0), ("90s", 90.0), ("1d", 86400.0), (120, 120.0)],
)
def test_durations_read_as_prometheus_writes_them(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10 m", "5x", "1h 30m"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
