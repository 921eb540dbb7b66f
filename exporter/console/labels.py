"""A Console alert as Alertmanager takes it: labels, annotations, times. Pure.

Labels (what Alertmanager groups, routes and de-duplicates on): ``alertname``
(``AgoraConsoleMetricAlert`` or ``AgoraConsoleEventAlert``), ``project``,
``cname``, ``uid`` (when Agora sent one), ``appid`` (when the project name is
an app's ``project`` in the configuration) and ``severity`` (the first
``severity_rules`` entry found in the remark or the text, else ``severity``).
Annotations: ``summary`` (the alert text), ``console_url``, ``call_id``,
``users``, ``hosts``, ``remark``. Empty values are left out: Alertmanager reads
an empty label as no label.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from exporter.console.payload import ConsoleAlert
from exporter.settings import AppSettings
from exporter.settings.alerts import AlertsSettings

ALERTNAMES = {"metric": "AgoraConsoleMetricAlert", "event": "AgoraConsoleEventAlert"}
FALLBACK_SUMMARY = "Agora Console alert"


@dataclass(frozen=True)
class Labelling:
    """What the configuration decides about labels: severities and project -> appid."""

    severity: str = "warning"
    rules: tuple[tuple[re.Pattern[str], str], ...] = ()
    appids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_settings(cls, alerts: AlertsSettings, apps: Sequence[AppSettings]) -> Labelling:
        """The first app naming a project wins (a project has one App ID)."""
        appids: dict[str, str] = {}
        for app in apps:
            if app.project and app.project.strip() not in appids:
                appids[app.project.strip()] = app.appid
        rules = tuple((re.compile(rule.match), rule.severity) for rule in alerts.severity_rules)
        return cls(alerts.severity, rules, MappingProxyType(appids))

    def severity_of(self, alert: ConsoleAlert) -> str:
        text = f"{alert.remark}\n{alert.content}"
        for pattern, severity in self.rules:
            if pattern.search(text):
                return severity
        return self.severity


@dataclass(frozen=True)
class ForwardedAlert:
    """One alert for Alertmanager, without its end (each send computes that)."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        """One per label set: Alertmanager's identity of an alert, so ours too."""
        text = json.dumps(dict(sorted(self.labels.items())), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def project(self) -> str:
        return self.labels.get("project", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "generator_url": self.generator_url,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ForwardedAlert:
        return cls(
            labels=dict(data["labels"]),
            annotations=dict(data["annotations"]),
            starts_at=float(data["starts_at"]),
            generator_url=str(data.get("generator_url", "")),
        )


def _present(pairs: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in pairs.items() if value}


def forwarded(alert: ConsoleAlert, labelling: Labelling, received_at: float) -> ForwardedAlert:
    """``alert`` as labels and annotations; it starts at ``alertTime`` (never later than
    it arrived: Alertmanager refuses an alert that ends before it starts)."""
    labels = _present(
        {
            "alertname": ALERTNAMES[alert.kind],
            "project": alert.project,
            "cname": alert.cname,
            "uid": alert.uid,
            "appid": labelling.appids.get(alert.project, ""),
            "severity": labelling.severity_of(alert),
        }
    )
    annotations = _present(
        {
            "summary": alert.content or FALLBACK_SUMMARY,
            "console_url": alert.url,
            "call_id": alert.call_id,
            "users": alert.users,
            "hosts": alert.hosts,
            "remark": alert.remark,
        }
    )
    starts = alert.starts_at()
    starts_at = received_at if starts is None else min(starts, received_at)
    url = alert.url if re.fullmatch(r"https?://\S+", alert.url) else ""
    return ForwardedAlert(labels, annotations, starts_at, url)


def rfc3339(seconds: float) -> str:
    """Alertmanager's time format, in UTC with milliseconds."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def postable(alert: ForwardedAlert, ends_at: float) -> dict[str, Any]:
    """One item of ``POST /api/v2/alerts``."""
    item: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(max(ends_at, alert.starts_at)),
    }
    if alert.generator_url:
        item["generatorURL"] = alert.generator_url
    return item
