"""The forwarders (fake clock, a recording sender): first sends at once, re-sends every
minute while an alert holds, retries on the schedule, one Alertmanager never holds up
another, credentials never reach a label."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.console.forward import ForwardError, Target, TargetForwarder
from exporter.console.labels import ForwardedAlert
from exporter.console.queue import AlertQueue
from exporter.console.stats import ConsoleStats
from tests.fakes import FakeClock

NOW = 1_700_000_000.0
HOLD = 600.0


class Recorder:
    """Alertmanagers that take a post, or are down."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, list[dict[str, Any]]]] = []
        self.down: set[str] = set()

    def __call__(self, target: Target, body: bytes) -> None:
        if target.label in self.down:
            raise ForwardError("connection refused")
        self.posts.append((target.label, json.loads(body)))

    def to(self, label: str) -> list[list[dict[str, Any]]]:
        return [items for where, items in self.posts if where == label]


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[AlertQueue]:
    opened = AlertQueue(tmp_path)
    yield opened
    opened.close()


def _forwarder(
    url: str, queue: AlertQueue, stats: ConsoleStats, clock: FakeClock, send: Recorder
) -> TargetForwarder:
    return TargetForwarder(
        Target.parse(url), queue, stats, hold_s=lambda: HOLD, clock=clock, send=send
    )


def _store(queue: AlertQueue, clock: FakeClock, key: str, targets: list[str]) -> None:
    alert = ForwardedAlert({"alertname": "AgoraConsoleMetricAlert", "cname": key}, {}, clock())
    queue.accept(alert, key, now=clock(), hold_s=HOLD, targets=targets)


def test_a_new_alert_goes_out_at_once_and_again_each_minute_while_it_holds(
    queue: AlertQueue,
) -> None:
    clock, send, stats = FakeClock(NOW), Recorder(), ConsoleStats()
    forwarder = _forwarder("http://am:9093", queue, stats, clock, send)
    _store(queue, clock, "lobby", ["http://am:9093"])
    assert forwarder.send_due()
    clock.advance(30)
    assert forwarder.send_due()  # nothing new, no re-send yet
    clock.advance(30)
    assert forwarder.send_due()  # a minute: re-sent
    clock.advance(HOLD)
    assert forwarder.send_due()  # over: nothing
    sends = send.to("http://am:9093")
    assert [len(items) for items in sends] == [1, 1]
    assert sends[0][0]["endsAt"] == sends[1][0]["endsAt"] == "2023-11-14T22:23:20.000Z"
    state = stats.snapshot(targets=["http://am:9093"], queue_depth=0, active=0, last_alert={})
    assert state.forwarded == {"http://am:9093": 2}
    assert queue.depth() == 0


def test_a_failed_post_is_counted_kept_and_retried_on_the_schedule(queue: AlertQueue) -> None:
    clock, send, stats = FakeClock(NOW), Recorder(), ConsoleStats()
    forwarder = _forwarder("http://am:9093", queue, stats, clock, send)
    _store(queue, clock, "lobby", ["http://am:9093"])
    send.down.add("http://am:9093")
    waits = []
    for _ in range(8):
        assert not forwarder.send_due()
        waits.append(forwarder._retry_wait())
    assert waits == [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 60.0, 60.0]
    assert queue.depth() == 1
    send.down.clear()
    assert forwarder.send_due()
    assert queue.depth() == 0
    state = stats.snapshot(targets=["http://am:9093"], queue_depth=0, active=1, last_alert={})
    assert state.forward_failures == {"http://am:9093": 8}
    assert state.forwarded == {"http://am:9093": 1}


def test_one_alertmanager_down_does_not_hold_up_the_other(queue: AlertQueue) -> None:
    clock, send, stats = FakeClock(NOW), Recorder(), ConsoleStats()
    up = _forwarder("http://up:9093", queue, stats, clock, send)
    down = _forwarder("http://down:9093", queue, stats, clock, send)
    send.down.add("http://down:9093")
    _store(queue, clock, "lobby", ["http://up:9093", "http://down:9093"])
    assert up.send_due()
    assert not down.send_due()
    assert len(send.to("http://up:9093")) == 1
    assert queue.depth() == 1


def test_credentials_in_an_alertmanager_url_become_a_header_never_a_label() -> None:
    target = Target.parse("https://bridge:s%40cret@am.example:9443/prefix/")
    assert target.label == "https://am.example:9443/prefix"
    assert target.endpoint == "https://am.example:9443/prefix/api/v2/alerts"
    assert target.authorization == "Basic YnJpZGdlOnNAY3JldA=="
    assert Target.parse("http://[::1]:9093").label == "http://[::1]:9093"
