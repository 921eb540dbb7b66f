"""``alerts``: the Agora Console alert callbacks bridge (opt-in), see docs/console-alerts.md.

The token is a secret: it is typed ``SecretStr`` (hidden in ``repr`` and dumps)
and checked in an after-validator of the section, so an error about it shows
the section, never the value.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from exporter.settings.fields import _custom, _split_commas, _text

TOKEN_MIN_LENGTH = 16
_TOKEN = re.compile(r"[A-Za-z0-9._~-]+")
_LABEL_VALUE = re.compile(r"[a-z][a-z0-9_-]*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MIN_HOLD_S = 60.0


def parse_duration(value: object) -> float:
    """``10m``, ``1h30m``, ``90s`` or a number of seconds -> seconds; ValueError otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"{text!r} is not a duration such as 10m, 1h30m or 90s")
    return total


def _hold(value: object) -> object:
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise _custom("not_a_duration", "must be a duration such as 10m, 1h or 90s") from None
    if seconds < MIN_HOLD_S:
        raise _custom(
            "short_hold",
            "must be at least 1m: alerts are re-sent every minute while they hold",
        )
    return seconds


def _listen_address(value: object) -> object:
    text = _text(value, "listen_address").strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _custom(
            "not_host_port", "must be HOST:PORT, e.g. ':10043', '0.0.0.0:10043' or '[::]:10043'"
        )
    return f"{host}:{int(port)}"


def _network(value: object) -> object:
    text = _text(value, "an allow_from entry").strip()
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise _custom(
            "not_cidr", f"{text!r} is not an address or CIDR such as 203.0.113.0/24"
        ) from None


def _alertmanager(value: object) -> object:
    text = _text(value, "an Alertmanager URL").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _custom(
            "not_alertmanager_url",
            f"{text!r} is not an http:// or https:// URL such as http://localhost:9093",
        )
    if parts.query or parts.fragment:
        raise _custom("url_extras", "an Alertmanager URL must not have a query or fragment")
    return text.rstrip("/")


def _severity(value: object) -> object:
    text = _text(value, "severity").strip()
    if not _LABEL_VALUE.fullmatch(text):
        raise _custom("bad_severity", "must be a lower-case word such as critical, warning or info")
    return text


def _pattern(value: object) -> object:
    text = _text(value, "match")
    try:
        re.compile(text)
    except re.error as error:
        raise _custom("bad_regex", f"is not a regular expression: {error}") from None
    return text


def _token(value: object) -> object:
    """Anything is kept as text here; the section's validator checks it without echoing it."""
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(str(value).strip())


Severity = Annotated[str, BeforeValidator(_severity)]
Network = Annotated[str, BeforeValidator(_network)]
AlertmanagerURL = Annotated[str, BeforeValidator(_alertmanager)]


class SeverityRule(BaseModel):
    """``alerts.severity_rules[]``: the first whose ``match`` is found sets the severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Annotated[str, BeforeValidator(_pattern)] = Field(
        description="a regular expression searched in the rule's remark and the alert text"
    )
    severity: Severity = Field(description="the severity label when it matches")


class AlertsSettings(BaseModel):
    """``alerts``: receive Agora Console's Alert Notification callbacks, forward them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="true or false (default false)")
    listen_address: Annotated[str, BeforeValidator(_listen_address)] = Field(
        ":10043", description="HOST:PORT of the callback listener (default :10043)"
    )
    token: Annotated[SecretStr | None, BeforeValidator(_token)] = Field(
        None,
        description="the secret path segment Agora posts to: /agora/alerts/<token>; "
        f"at least {TOKEN_MIN_LENGTH} characters of A-Z a-z 0-9 . _ ~ -",
    )
    token_file: Path | None = Field(
        None, description="a file holding the token (instead of token), e.g. a mounted secret"
    )
    allow_from: Annotated[list[Network], BeforeValidator(_split_commas)] = Field(
        default_factory=list,
        description="source addresses or CIDRs allowed to post (empty: any)",
    )
    alertmanagers: Annotated[list[AlertmanagerURL], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: ["http://localhost:9093"],
        min_length=1,
        description="Alertmanager URLs, each gets every alert (default http://localhost:9093)",
    )
    hold: Annotated[float, BeforeValidator(_hold)] = Field(
        600.0, description="how long an alert lasts after its last trigger, e.g. 10m (default)"
    )
    severity: Severity = Field("warning", description="the severity label (default warning)")
    severity_rules: list[SeverityRule] = Field(
        default_factory=list, description="[{match: <regex>, severity: <word>}], first match wins"
    )
    web_config_file: Path | None = Field(
        None, description="a web config file (TLS, rate_limit) for the callback listener"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(set(self.alertmanagers)) != len(self.alertmanagers):
            raise _custom("duplicate", "an Alertmanager is listed twice", at=".alertmanagers")
        if self.token is not None and self.token_file is not None:
            raise _custom("token_twice", "set token or token_file, not both", at=".token_file")
        token = self.secret_token()
        if token is None:
            if self.enabled:
                raise _custom(
                    "no_token",
                    "alerts.enabled is true but no token is set; set alerts.token (or "
                    "AGORA_EXPORTER_ALERTS__TOKEN, or alerts.token_file) to a random secret, "
                    "e.g. the output of: openssl rand -hex 24",
                    at=".token",
                )
            return self
        if len(token) < TOKEN_MIN_LENGTH or not _TOKEN.fullmatch(token):
            raise _custom(
                "weak_token",
                f"the token must be at least {TOKEN_MIN_LENGTH} characters of A-Z a-z 0-9 . _ ~ - "
                "(it is the only protection Agora allows): e.g. the output of openssl rand -hex 24",
                at=".token",
            )
        return self

    def secret_token(self) -> str | None:
        """The token, from ``token`` or ``token_file`` (read now); None when neither is set."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is None:
            return None
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise _custom(
                "token_file", f"cannot read {self.token_file}", at=".token_file"
            ) from None
