"""A Console alert as Alertmanager takes it: the labels and annotations of DESIGN.md."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.console.labels import FALLBACK_SUMMARY, Labelling, forwarded, postable, rfc3339
from exporter.console.payload import ConsoleAlert
from exporter.settings import load_settings
from tests.conftest import APPID

RECEIVED = 1_631_703_725.0
OTHER_APPID = "fedcba9876543210fedcba9876543210"
CHANNEL_ALERT = ConsoleAlert(
    alert_time="1631703720000",
    time_zone="UTC+8",
    project="Demo project",
    cname="lobby",
    en_content="video freeze rate≥85%",
    users="12",
    hosts="2",
    call_id="c1",
    url="https://console.agora.io/analytics/call/detail?callId=c1",
    remark="freeze rule",
)


def _labelling(**alerts: Any) -> Labelling:
    config = {
        "agora": {"customer_id": "id-1234", "customer_secret": "secret-1234", "plan": "premium"},
        "apps": [
            {"appid": APPID, "project": "Demo project"},
            {"appid": OTHER_APPID, "project": "Demo project"},
        ],
        "alerts": alerts,
    }
    settings = load_settings(None, environ={}, overrides=config)
    return Labelling.from_settings(settings.alerts, settings.apps)


def test_a_channel_alert_carries_the_labels_and_annotations_of_the_design() -> None:
    alert = forwarded(CHANNEL_ALERT, _labelling(), RECEIVED)
    assert dict(alert.labels) == {
        "alertname": "AgoraConsoleMetricAlert",
        "project": "Demo project",
        "cname": "lobby",
        "appid": APPID,  # the first app naming the project
        "severity": "warning",
    }
    assert dict(alert.annotations) == {
        "summary": "video freeze rate≥85%",
        "console_url": CHANNEL_ALERT.url,
        "call_id": "c1",
        "users": "12",
        "hosts": "2",
        "remark": "freeze rule",
    }
    assert alert.starts_at == 1_631_703_720.0
    assert alert.generator_url == CHANNEL_ALERT.url


def test_a_user_event_alert_has_its_uid_and_its_own_alertname() -> None:
    event = ConsoleAlert(project="Other", cname="lobby", uid="1001", en_content="no frame sending")
    alert = forwarded(event, _labelling(), RECEIVED)
    assert dict(alert.labels) == {
        "alertname": "AgoraConsoleEventAlert",
        "project": "Other",  # no app names this project: no appid
        "cname": "lobby",
        "uid": "1001",
        "severity": "warning",
    }
    assert dict(alert.annotations) == {"summary": "no frame sending"}
    assert alert.starts_at == RECEIVED  # no alertTime: when it arrived
    assert alert.generator_url == ""


@pytest.mark.parametrize(
    ("remark", "content", "severity"),
    [
        pytest.param("page the on-call", "video freeze rate≥85%", "critical", id="by remark"),
        pytest.param("", "audio freeze rate≥20%", "info", id="by rule text"),
        pytest.param("page", "audio freeze rate≥20%", "critical", id="the first rule wins"),
        pytest.param("", "video freeze rate≥85%", "warning", id="no match: the default"),
    ],
)
def test_severity_comes_from_the_first_rule_matching_remark_or_text(
    remark: str, content: str, severity: str
) -> None:
    labelling = _labelling(
        severity="warning",
        severity_rules=[
            {"match": "page", "severity": "critical"},
            {"match": r"audio freeze rate≥\d+%", "severity": "info"},
        ],
    )
    alert = ConsoleAlert(cname="a", remark=remark, en_content=content)
    assert forwarded(alert, labelling, RECEIVED).labels["severity"] == severity


def test_empty_fields_leave_no_empty_labels_and_a_summary_is_always_there() -> None:
    alert = forwarded(ConsoleAlert(cname="lobby"), Labelling(), RECEIVED)
    assert dict(alert.labels) == {
        "alertname": "AgoraConsoleMetricAlert",
        "cname": "lobby",
        "severity": "warning",
    }
    assert dict(alert.annotations) == {"summary": FALLBACK_SUMMARY}


def test_an_alert_time_in_the_future_starts_when_the_alert_arrived() -> None:
    ahead = ConsoleAlert(cname="a", alert_time=str(int((RECEIVED + 3600) * 1000)))
    assert forwarded(ahead, Labelling(), RECEIVED).starts_at == RECEIVED


def test_a_console_url_that_is_not_http_is_an_annotation_but_no_generator_url() -> None:
    odd = ConsoleAlert(cname="a", url="javascript:alert(1)")
    alert = forwarded(odd, Labelling(), RECEIVED)
    assert alert.annotations["console_url"] == "javascript:alert(1)"
    assert alert.generator_url == ""


def test_the_fingerprint_follows_the_labels_only() -> None:
    first = forwarded(CHANNEL_ALERT, Labelling(), RECEIVED)
    again = forwarded(ConsoleAlert(**{**vars(CHANNEL_ALERT), "users": "40"}), Labelling(), 0.0)
    other = forwarded(ConsoleAlert(**{**vars(CHANNEL_ALERT), "cname": "stage"}), Labelling(), 0.0)
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other.fingerprint


def test_the_posted_item_has_rfc3339_times_and_never_ends_before_it_starts() -> None:
    alert = forwarded(CHANNEL_ALERT, Labelling(), RECEIVED)
    item = postable(alert, RECEIVED + 600)
    assert item["startsAt"] == "2021-09-15T11:02:00.000Z"
    assert item["endsAt"] == rfc3339(RECEIVED + 600) == "2021-09-15T11:12:05.000Z"
    assert item["generatorURL"] == CHANNEL_ALERT.url
    assert postable(alert, 0.0)["endsAt"] == item["startsAt"]
