"""The simulator's Agora Console alerts: the rule fires exactly when the traffic model says
it should, in the documented shape the exporter reads, and is delivered as Agora does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.console.payload import parse_alert
from exporter.simulator.cli import main
from exporter.simulator.console_alerts import RESENDS, ConsoleAlertSender, ConsoleRule
from exporter.simulator.realtime import PRODUCT_TYPES, WINDOW_S, align_window
from exporter.simulator.traffic import TrafficModel
from tests.conftest import APPID, START
from tests.fakes import FakeClock

RULE = ConsoleRule(threshold=0.05, cycles=2, retrigger_s=300)
DAY = 86_400


class Posts:
    """Where the callbacks go: taken, or refused ``refuse`` times first."""

    def __init__(self, refuse: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.refuse = refuse

    def __call__(self, url: str, body: bytes) -> bool:
        self.bodies.append(json.loads(body))
        if self.refuse > 0:
            self.refuse -= 1
            return False
        return True


def _sender(traffic: TrafficModel, post: Posts) -> ConsoleAlertSender:
    clock = FakeClock(START)
    return ConsoleAlertSender(
        traffic, clock, "http://x/agora/alerts/t", {APPID: "Demo project"}, rule=RULE, post=post
    )


def _expected_channels(traffic: TrafficModel, now: float) -> set[str]:
    """Listed channels whose video freeze rate was >= 5 % in both newest windows."""
    newest = align_window(now) - WINDOW_S
    found = set()
    for cname in traffic.channels(APPID, newest):
        rates = []
        for window in (newest, newest - WINDOW_S):
            values = [
                traffic.realtime(APPID, product, "videoFreezeRate", window, cname)
                for product in PRODUCT_TYPES
            ]
            present = [float(v) for v in values if v is not None]
            rates.append(max(present) if present else None)
        if all(rate is not None and rate >= RULE.threshold for rate in rates):
            found.add(cname)
    return found


def test_the_rule_fires_for_exactly_the_channels_over_the_threshold_two_windows_running() -> None:
    traffic = TrafficModel(seed=42, incident_every_s=45 * 60)
    fired_somewhere = quiet_somewhere = False
    for step in range(0, DAY // 4, 300):  # every 5 minutes for 6 hours: no retrigger due
        now = START + step
        payloads = _sender(traffic, Posts()).due(now)
        channels = {p["cname"] for p in payloads if "uid" not in p}
        assert channels == _expected_channels(traffic, now), now
        fired_somewhere |= bool(channels)
        quiet_somewhere |= not channels
    assert fired_somewhere
    assert quiet_somewhere


def _incident_time(traffic: TrafficModel) -> int:
    (incident, *_) = traffic.incidents(APPID, START, START + DAY)
    return incident.start + 120  # past its one-minute ramp


def test_a_trigger_is_a_channel_callback_and_a_user_event_in_the_documented_shape() -> None:
    traffic = TrafficModel(seed=42, incident_every_s=45 * 60)
    at = _incident_time(traffic)
    payloads = _sender(traffic, Posts()).due(at)
    channel = next(p for p in payloads if "uid" not in p)
    event = next(p for p in payloads if "uid" in p and p["cname"] == channel["cname"])
    assert set(channel) == {
        "alertTime",
        "timeZone",
        "projectName",
        "cname",
        "enContent",
        "cnContent",
        "currentUserNum",
        "currentHostNum",
        "callId",
        "url",
        "remark",
    }
    assert all(isinstance(value, str) for value in channel.values())
    assert channel["alertTime"] == str(at * 1000)
    assert channel["enContent"] == "video freeze rate≥5%"
    read = parse_alert(json.dumps(channel).encode())
    assert (read.kind, read.project, read.starts_at()) == ("metric", "Demo project", at)
    assert parse_alert(json.dumps(event).encode()).kind == "event"
    assert int(event["uid"]) in traffic.uids(APPID, event["cname"], align_window(at) - WINDOW_S)


def test_a_channel_triggers_again_only_after_the_retrigger_time() -> None:
    traffic = TrafficModel(seed=42, incident_every_s=45 * 60)
    at = _incident_time(traffic)
    sender = _sender(traffic, Posts())
    first = {p["cname"] for p in sender.due(at)}
    assert first
    assert sender.due(at + WINDOW_S) == []
    again = {p["cname"] for p in sender.due(at + RULE.retrigger_s)}
    assert again == _expected_channels(traffic, at + RULE.retrigger_s)


def test_a_callback_without_a_2xx_is_resent_twice_as_agora_does_then_given_up() -> None:
    traffic = TrafficModel(seed=42, incident_every_s=45 * 60)
    payload = {"cname": "lobby", "projectName": "Demo project"}
    patient = Posts(refuse=RESENDS)
    assert _sender(traffic, patient).send(payload)
    assert len(patient.bodies) == 1 + RESENDS
    hopeless = Posts(refuse=10)
    sender = _sender(traffic, hopeless)
    assert not sender.send(payload)
    assert len(hopeless.bodies) == 1 + RESENDS
    assert sender.failed == [payload]
    assert sender.sent == []


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--console-alerts-project", "no-equals-sign"], id="a project without a name"),
        pytest.param(["--console-alerts-url", "http://x/agora/alerts/t"], id="a url alone"),
        pytest.param(["--console-alerts-project", f"{APPID}=Demo"], id="a project alone"),
    ],
)
def test_the_simulator_command_refuses_half_a_console_alerts_option(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", "0", *args]) == 2
    assert "--console-alerts" in capsys.readouterr().err
