"""Callbacks into a real Alertmanager (Debian's prometheus-alertmanager): what Agora posts
appears with the labels and annotations of DESIGN.md; what is malformed, unauthenticated
or over a limit gets its 4xx, a counter, and nothing forwarded; an Alertmanager that is
down loses nothing."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.console import ConsoleBridge
from exporter.console.receiver import MAX_BODY
from tests.conftest import APPID
from tests.console.alertmanager import Alertmanager
from tests.console.conftest import TOKEN, MakeBridge, callback, post
from tests.daemon_helpers import wait_until
from tests.tls_certs import make_pki

pytestmark = pytest.mark.slow
DEADLINE_S = 5.0


def _arrived(
    alertmanager: Alertmanager, project: str, count: int = 1, **labels: str
) -> list[dict[str, Any]]:
    """Wait (at most DEADLINE_S) until ``count`` alerts of ``project`` are in the API."""
    found: list[dict[str, Any]] = []

    def there() -> bool:
        found[:] = alertmanager.alerts(project=project, **labels)
        return len(found) >= count

    wait_until(there, timeout_s=DEADLINE_S, what=f"{count} alerts of {project} in Alertmanager")
    return found


def test_documented_callbacks_appear_in_alertmanager_with_their_labels_and_annotations(
    make_bridge: MakeBridge, alertmanager: Alertmanager
) -> None:
    bridge = make_bridge(alertmanagers=[alertmanager.url], hold="10m")
    channel = callback("Demo project")
    event = callback("Demo project", uid="1001", enContent="no frame sending,wifi congestion")
    assert post(bridge, channel).json() == {"status": "accepted"}
    assert post(bridge, event).status_code == 200
    (metric,) = _arrived(alertmanager, "Demo project", alertname="AgoraConsoleMetricAlert")
    assert metric["labels"] == {
        "alertname": "AgoraConsoleMetricAlert",
        "project": "Demo project",
        "cname": "lobby",
        "appid": APPID,
        "severity": "warning",
    }
    assert metric["annotations"] == {
        "summary": "video freeze rate≥85%",
        "console_url": channel["url"],
        "call_id": "0c5e8a1b2c3d4e5f",
        "users": "12",
        "hosts": "2",
        "remark": "freeze rule of the lobby",
    }
    assert metric["startsAt"].startswith("2021-09-15T11:02:00")
    assert metric["generatorURL"] == channel["url"]
    (user,) = _arrived(alertmanager, "Demo project", alertname="AgoraConsoleEventAlert")
    assert user["labels"]["uid"] == "1001"
    assert user["annotations"]["summary"] == "no frame sending,wifi congestion"


def test_agora_resending_a_callback_is_answered_and_notified_once(
    make_bridge: MakeBridge, alertmanager: Alertmanager
) -> None:
    bridge = make_bridge(alertmanagers=[alertmanager.url])
    fields = callback("Resent project")
    statuses = [post(bridge, fields).json()["status"] for _ in range(3)]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    _arrived(alertmanager, "Resent project")
    wait_until(
        lambda: bool(alertmanager.webhook.firing(project="Resent project")),
        timeout_s=DEADLINE_S,
        what="the notification",
    )
    assert len(alertmanager.webhook.firing(project="Resent project")) == 1
    state = bridge.state()
    assert state.accepted["metric"] == 1
    assert state.duplicates == 2


def _raw(bridge: ConsoleBridge, request: bytes) -> bytes:
    """Send ``request`` as bytes (what httpx would not send) and return the answer."""
    assert bridge.port is not None
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _wrong_token(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    url = (bridge.local_url() or "").replace(TOKEN, TOKEN[:-1] + "X")
    return httpx.post(url, json=fields, timeout=5)


def _oversized(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    padded = {**fields, "remark": "x" * MAX_BODY}
    return post(bridge, padded)


def _invalid_json(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    url = bridge.local_url() or ""
    return httpx.post(url, content=str(fields).encode(), timeout=5)  # Python's quotes


def _not_an_alert(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    return httpx.post(bridge.local_url() or "", json=[fields], timeout=5)


def _get(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    return httpx.get(bridge.local_url() or "", params=fields, timeout=5)


def _elsewhere(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    url = (bridge.local_url() or "").replace("/agora/alerts/", "/alerts/")
    return httpx.post(url, json=fields, timeout=5)


def _chunked(bridge: ConsoleBridge, fields: dict[str, Any]) -> httpx.Response:
    body = json.dumps(fields).encode()
    path = f"/agora/alerts/{TOKEN}"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    status = int(_raw(bridge, request).split(b" ", 2)[1])
    return httpx.Response(status)


REFUSALS = [
    pytest.param(_wrong_token, 403, "token", id="a wrong token is a 403"),
    pytest.param(_oversized, 413, "too_large", id="an oversized body is a 413"),
    pytest.param(_invalid_json, 400, "invalid_json", id="invalid JSON is a 400"),
    pytest.param(_not_an_alert, 422, "not_an_alert", id="JSON that is no alert is a 422"),
    pytest.param(_get, 405, "method", id="a GET is a 405"),
    pytest.param(_elsewhere, 404, "not_found", id="another path is a 404"),
    pytest.param(_chunked, 411, "length_required", id="a body without a length is a 411"),
]


@pytest.mark.parametrize(("send", "status", "reason"), REFUSALS)
def test_a_refused_request_gets_its_4xx_and_a_counter_and_nothing_is_forwarded(
    make_bridge: MakeBridge,
    alertmanager: Alertmanager,
    send: Any,
    status: int,
    reason: str,
    request: pytest.FixtureRequest,
) -> None:
    project = f"Refused {request.node.callspec.id}"
    bridge = make_bridge(alertmanagers=[alertmanager.url])
    answer = send(bridge, callback(project, cname="refused"))
    assert answer.status_code == status
    assert bridge.state().rejected[reason] == 1
    # A good alert sent after it arrives alone: the refused one was never stored.
    assert post(bridge, callback(project, cname="marker")).status_code == 200
    (alone,) = _arrived(alertmanager, project)
    assert alone["labels"]["cname"] == "marker"
    assert sum(bridge.state().rejected.values()) == 1


def test_a_source_outside_allow_from_is_a_403_and_nothing_is_forwarded(
    make_bridge: MakeBridge, alertmanager: Alertmanager
) -> None:
    bridge = make_bridge(alertmanagers=[alertmanager.url], allow_from=["192.0.2.0/24"])
    answer = post(bridge, callback("Not allowed"))
    assert answer.status_code == 403
    assert bridge.state().rejected["source"] == 1
    assert bridge.state().queue_depth == 0
    assert alertmanager.alerts(project="Not allowed") == []


def test_a_flood_beyond_the_rate_limit_gets_429s_and_only_what_was_taken_is_forwarded(
    make_bridge: MakeBridge, alertmanager: Alertmanager, tmp_path: Path
) -> None:
    web = tmp_path / "alerts-web.yml"
    web.write_text(yaml.safe_dump({"rate_limit": {"interval": "1m", "burst": 3}}))
    bridge = make_bridge(alertmanagers=[alertmanager.url], web_config_file=str(web))
    statuses = [post(bridge, callback("Flood", cname=f"c{n}")).status_code for n in range(10)]
    assert statuses == [200] * 3 + [429] * 7
    _arrived(alertmanager, "Flood", count=3)
    wait_until(lambda: bridge.state().queue_depth == 0, timeout_s=DEADLINE_S, what="delivery")
    assert len(alertmanager.alerts(project="Flood")) == 3
    assert bridge.state().rejected["rate_limited"] == 7


def test_alerts_posted_while_alertmanager_is_down_all_arrive_once_it_is_back(
    make_bridge: MakeBridge, tmp_path: Path
) -> None:
    """A shortened retry schedule (0.2 s, then 0.5 s) stands in for a minute's outage."""
    (tmp_path / "am").mkdir()
    alertmanager = Alertmanager(tmp_path / "am")
    try:
        bridge = make_bridge(alertmanagers=[alertmanager.url])
        alertmanager.stop()
        for cname in ("a", "b", "c"):
            assert post(bridge, callback("Outage", cname=cname)).status_code == 200
        wait_until(
            lambda: bridge.state().forward_failures[alertmanager.url] >= 3,
            timeout_s=DEADLINE_S,
            what="failed posts while Alertmanager is down",
        )
        assert bridge.state().queue_depth == 3
        alertmanager.start()
        alerts = _arrived(alertmanager, "Outage", count=3)
        assert sorted(alert["labels"]["cname"] for alert in alerts) == ["a", "b", "c"]
        wait_until(lambda: bridge.state().queue_depth == 0, timeout_s=DEADLINE_S, what="drain")
    finally:
        alertmanager.close()


def test_the_listener_speaks_tls_from_a_web_config_file(
    make_bridge: MakeBridge, alertmanager: Alertmanager, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "alerts-web.yml"
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    web.write_text(yaml.safe_dump({"tls_server_config": tls}))
    bridge = make_bridge(alertmanagers=[alertmanager.url], web_config_file=str(web))
    assert (bridge.local_url() or "").startswith("https://127.0.0.1:")
    trusted = ssl.create_default_context(cafile=str(pki.ca))
    assert post(bridge, callback("Over TLS"), verify=trusted).status_code == 200
    _arrived(alertmanager, "Over TLS")
    with pytest.raises(httpx.TransportError):
        httpx.post((bridge.local_url() or "").replace("https:", "http:"), json={}, timeout=5)


def test_a_web_config_asking_for_what_agora_cannot_send_is_refused(
    make_bridge: MakeBridge, tmp_path: Path
) -> None:
    web = tmp_path / "alerts-web.yml"
    hashed = "$2b$10$" + "a" * 53
    web.write_text(yaml.safe_dump({"basic_auth_users": {"agora": hashed}}))
    with pytest.raises(ValueError, match="carry no credentials"):
        make_bridge(web_config_file=str(web))


def test_a_callback_the_queue_cannot_store_gets_a_503_so_that_agora_resends(
    make_bridge: MakeBridge, alertmanager: Alertmanager
) -> None:
    bridge = make_bridge(alertmanagers=[alertmanager.url])
    running = bridge._running
    assert running is not None
    running.queue.close()  # as a failed disk would leave it
    answer = post(bridge, callback("Unstorable"))
    assert answer.status_code == 503
    assert bridge.state().rejected["unavailable"] == 1
