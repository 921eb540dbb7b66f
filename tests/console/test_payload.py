"""A callback body: strict about JSON, lenient about fields (table tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.console.payload import ConsoleAlert, PayloadError, parse_alert

DOCUMENTED = {
    "alertTime": "1631703720000",
    "timeZone": "UTC+8",
    "projectName": "Demo project",
    "cname": "lobby",
    "uid": "1001",
    "enContent": "video freeze rate≥85%",
    "cnContent": "视频卡顿率≥85%",
    "currentUserNum": "12",
    "currentHostNum": "2",
    "callId": "0c5e8a1b2c3d4e5f",
    "url": "https://console.agora.io/analytics/call/detail?callId=0c5e8a1b2c3d4e5f",
    "remark": "freeze rule of the lobby",
}


def _body(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def test_the_documented_shape_reads_into_every_field() -> None:
    alert = parse_alert(_body(DOCUMENTED))
    assert alert == ConsoleAlert(
        alert_time="1631703720000",
        time_zone="UTC+8",
        project="Demo project",
        cname="lobby",
        uid="1001",
        en_content="video freeze rate≥85%",
        cn_content="视频卡顿率≥85%",
        users="12",
        hosts="2",
        call_id="0c5e8a1b2c3d4e5f",
        url=DOCUMENTED["url"],
        remark="freeze rule of the lobby",
    )
    assert alert.starts_at() == 1_631_703_720.0
    assert alert.kind == "metric"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{'alertTime': '1'}", "invalid_json", id="single quotes are not JSON"),
        pytest.param(b'{"cname": "a",}', "invalid_json", id="a trailing comma is not JSON"),
        pytest.param(b"", "invalid_json", id="an empty body is not JSON"),
        pytest.param(b'{"cname": "a"} {"cname": "b"}', "invalid_json", id="two objects"),
        pytest.param(b'{"cname": "a", "cname": "b"}', "invalid_json", id="a key twice"),
        pytest.param(b'{"cname": "a", "x": NaN}', "invalid_json", id="NaN is not JSON"),
        pytest.param(b'{"cname": "\xff"}', "invalid_json", id="bytes that are not UTF-8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "invalid_json", id="nesting too deep"),
        pytest.param(b'["lobby"]', "not_an_alert", id="an array is not an alert"),
        pytest.param(b'"lobby"', "not_an_alert", id="a string is not an alert"),
        pytest.param(b"{}", "not_an_alert", id="an empty object is not an alert"),
        pytest.param(b'{"alertTime": "1"}', "not_an_alert", id="a time alone is not an alert"),
        pytest.param(b'{"cname": ""}', "not_an_alert", id="empty fields are not an alert"),
    ],
)
def test_a_body_that_is_not_one_json_alert_is_refused_with_its_reason(
    body: bytes, reason: str
) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_alert(body)
    assert raised.value.reason == reason
    assert str(raised.value)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"cname": "a"}, ConsoleAlert(cname="a"), id="missing fields are empty"),
        pytest.param(
            {"cname": "a", "currentUserNum": 12, "alertTime": 1631703720000},
            ConsoleAlert(cname="a", users="12", alert_time="1631703720000"),
            id="numbers instead of strings are read as written",
        ),
        pytest.param(
            {"cname": "a", "uid": None, "remark": ["x"], "url": {"a": 1}, "hosts": True},
            ConsoleAlert(cname="a"),
            id="null, lists, objects and booleans count as absent",
        ),
        pytest.param(
            {"cname": " a ", "newField": "x", "nested": {"deep": [1, 2]}},
            ConsoleAlert(cname="a"),
            id="unknown fields are ignored and text is stripped",
        ),
        pytest.param(
            {"projectName": "p", "cnContent": "视频卡顿率≥85%"},
            ConsoleAlert(project="p", cn_content="视频卡顿率≥85%"),
            id="cnContent alone is enough",
        ),
        pytest.param(
            {"cname": "a", "currentUserNum": 12.5},
            ConsoleAlert(cname="a", users="12.5"),
            id="a fraction keeps its digits",
        ),
    ],
)
def test_fields_are_read_leniently(fields: dict[str, Any], expected: ConsoleAlert) -> None:
    assert parse_alert(_body(fields)) == expected


def test_the_chinese_text_stands_in_when_the_english_is_missing() -> None:
    alert = parse_alert(_body({"cname": "a", "cnContent": "视频卡顿率≥85%"}))
    assert alert.content == "视频卡顿率≥85%"
    assert alert.kind == "metric"


@pytest.mark.parametrize(
    ("alert_time", "seconds"),
    [
        pytest.param("1631703720000", 1_631_703_720.0, id="milliseconds as documented"),
        pytest.param("1631703720", 1_631_703_720.0, id="seconds as the comment says"),
        pytest.param("1631703720123.0", 1_631_703_720.123, id="milliseconds with a fraction"),
        pytest.param("", None, id="absent"),
        pytest.param("yesterday", None, id="not a number"),
        pytest.param("-5", None, id="negative"),
        pytest.param("nan", None, id="not a number spelled as one"),
        pytest.param("inf", None, id="infinite"),
    ],
)
def test_alert_time_is_read_as_milliseconds_or_seconds(
    alert_time: str, seconds: float | None
) -> None:
    assert ConsoleAlert(cname="a", alert_time=alert_time).starts_at() == seconds


@pytest.mark.parametrize(
    ("content", "uid", "kind"),
    [
        pytest.param("video freeze rate≥85%", "", "metric", id="a channel metric rule"),
        pytest.param("video freeze rate≥85%", "7", "metric", id="a user metric rule"),
        pytest.param("audio freeze rate>10%", "7", "metric", id="an ascii comparison"),
        pytest.param("no frame sending,no voice sending", "7", "event", id="user events"),
        pytest.param("wifi congestion", "7", "event", id="one event"),
        pytest.param("", "", "metric", id="nothing said: a metric alert"),
    ],
)
def test_metric_and_event_alerts_are_told_apart(content: str, uid: str, kind: str) -> None:
    assert ConsoleAlert(cname="a", en_content=content, uid=uid).kind == kind


def test_a_resend_has_the_same_key_whatever_the_key_order_and_another_trigger_not() -> None:
    first = parse_alert(_body(DOCUMENTED))
    resent = parse_alert(_body(dict(reversed(list(DOCUMENTED.items())))))
    later = parse_alert(_body({**DOCUMENTED, "alertTime": "1631703740000"}))
    assert first.dedup_key() == resent.dedup_key()
    assert first.dedup_key() != later.dedup_key()
