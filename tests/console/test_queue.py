"""The durable queue (a real SQLite file): stored before the answer, de-duplicated,
delivered per Alertmanager, re-sent while an alert holds, kept across a reopen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.console.labels import ForwardedAlert
from exporter.console.queue import DB_FILE, AlertQueue, QueueError

NOW = 1_700_000_000.0
HOLD = 600.0
AM1, AM2 = "http://am1:9093", "http://am2:9093"


def _alert(
    cname: str = "lobby", summary: str = "video freeze rate≥5%", at: float = NOW
) -> ForwardedAlert:
    labels = {"alertname": "AgoraConsoleMetricAlert", "cname": cname, "project": "p"}
    return ForwardedAlert(labels, {"summary": summary}, at)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[AlertQueue]:
    opened = AlertQueue(tmp_path)
    yield opened
    opened.close()


def _accept(queue: AlertQueue, alert: ForwardedAlert, key: str, now: float = NOW) -> bool:
    return queue.accept(alert, key, now=now, hold_s=HOLD, targets=[AM1, AM2])


def test_a_resend_of_a_stored_trigger_changes_nothing(queue: AlertQueue) -> None:
    assert _accept(queue, _alert(), "k1")
    assert not _accept(queue, _alert(), "k1", now=NOW + 2)
    assert queue.depth() == 2  # one trigger, two Alertmanagers
    due = queue.due(AM1, now=NOW + 2, resend=False, hold_s=HOLD)
    assert [(one.version, one.ends_at) for one in due] == [(1, NOW + HOLD)]


def test_each_alertmanager_is_delivered_on_its_own(queue: AlertQueue) -> None:
    _accept(queue, _alert(), "k1")
    queue.delivered(AM1, queue.due(AM1, now=NOW, resend=False, hold_s=HOLD))
    assert queue.due(AM1, now=NOW + 1, resend=False, hold_s=HOLD) == []
    assert len(queue.due(AM2, now=NOW + 1, resend=False, hold_s=HOLD)) == 1
    assert queue.depth() == 1


def test_a_delivered_alert_is_resent_while_it_holds_and_no_longer(queue: AlertQueue) -> None:
    _accept(queue, _alert(), "k1")
    queue.delivered(AM1, queue.due(AM1, now=NOW, resend=False, hold_s=HOLD))
    assert len(queue.due(AM1, now=NOW + 60, resend=True, hold_s=HOLD)) == 1
    assert queue.active(now=NOW + 60) == 1
    assert queue.due(AM1, now=NOW + HOLD, resend=True, hold_s=HOLD) == []
    assert queue.active(now=NOW + HOLD) == 0


def test_a_new_trigger_of_a_holding_alert_extends_it_and_keeps_its_start(
    queue: AlertQueue,
) -> None:
    _accept(queue, _alert(summary="first"), "k1")
    queue.delivered(AM1, queue.due(AM1, now=NOW, resend=False, hold_s=HOLD))
    _accept(queue, _alert(summary="again", at=NOW + 300), "k2", now=NOW + 300)
    (due,) = queue.due(AM1, now=NOW + 300, resend=False, hold_s=HOLD)
    assert due.version == 2
    assert due.ends_at == NOW + 300 + HOLD
    assert due.alert.starts_at == NOW
    assert due.alert.annotations["summary"] == "again"


def test_a_trigger_after_the_hold_ended_starts_a_new_alert(queue: AlertQueue) -> None:
    _accept(queue, _alert(), "k1")
    later = NOW + HOLD + 5
    _accept(queue, _alert(at=later), "k2", now=later)
    (due,) = queue.due(AM1, now=later, resend=False, hold_s=HOLD)
    assert due.alert.starts_at == later


def test_an_alert_that_waited_past_its_hold_gets_a_new_hold_from_its_delivery(
    queue: AlertQueue,
) -> None:
    _accept(queue, _alert(), "k1")
    late = NOW + HOLD + 120  # the Alertmanager was down longer than the hold
    (due,) = queue.due(AM1, now=late, resend=False, hold_s=HOLD)
    assert due.ends_at == late + HOLD
    queue.delivered(AM1, [due])
    (again,) = queue.due(AM1, now=late + 60, resend=True, hold_s=HOLD)
    assert again.ends_at == late + HOLD


def test_a_version_that_grew_while_it_was_sent_stays_queued(queue: AlertQueue) -> None:
    _accept(queue, _alert(), "k1")
    sent = queue.due(AM1, now=NOW, resend=False, hold_s=HOLD)
    _accept(queue, _alert(summary="newer"), "k2", now=NOW + 1)
    queue.delivered(AM1, sent)
    (due,) = queue.due(AM1, now=NOW + 2, resend=False, hold_s=HOLD)
    assert due.version == 2


def test_everything_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    first = AlertQueue(tmp_path)
    _accept(first, _alert(), "k1")
    first.close()  # as a kill -9 would, minus the tidy-up: the commit is on disk
    again = AlertQueue(tmp_path)
    try:
        assert (tmp_path / DB_FILE).is_file()
        assert not _accept(again, _alert(), "k1")  # still a resend
        assert len(again.due(AM1, now=NOW, resend=False, hold_s=HOLD)) == 1
        assert again.last_alerts() == {"p": NOW}
    finally:
        again.close()


def test_removed_alertmanagers_are_forgotten_and_new_ones_get_what_holds(
    queue: AlertQueue,
) -> None:
    _accept(queue, _alert("lobby"), "k1")
    _accept(queue, _alert("old"), "k2", now=NOW - HOLD - 1)  # over
    queue.set_targets([AM1, "http://am3:9093"], now=NOW)
    assert queue.due(AM2, now=NOW, resend=True, hold_s=HOLD) == []
    due = queue.due("http://am3:9093", now=NOW, resend=False, hold_s=HOLD)
    assert [one.alert.labels["cname"] for one in due] == ["lobby"]


def test_pruning_drops_delivered_alerts_past_their_hold_and_old_triggers(
    queue: AlertQueue,
) -> None:
    _accept(queue, _alert(), "k1")
    for target in (AM1, AM2):
        queue.delivered(target, queue.due(target, now=NOW, resend=False, hold_s=HOLD))
    queue.prune(now=NOW + HOLD + 1)
    assert queue.active(now=NOW) == 0  # the alert row is gone
    assert not _accept(queue, _alert(), "k1", now=NOW + HOLD + 2)  # the key is kept a day
    queue.prune(now=NOW + 86_400 + 1)
    assert _accept(queue, _alert(), "k1", now=NOW + 86_400 + 2)


def test_only_the_newest_hundred_projects_are_kept(queue: AlertQueue) -> None:
    for index in range(105):
        alert = ForwardedAlert({"project": f"p{index}", "cname": "a"}, {}, NOW)
        queue.accept(alert, f"k{index}", now=NOW + index, hold_s=HOLD, targets=[AM1])
    queue.prune(now=NOW + 200)
    projects = queue.last_alerts()
    assert len(projects) == 100
    assert "p0" not in projects
    assert projects["p104"] == NOW + 104


def test_an_unusable_directory_is_a_queue_error_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a directory")
    with pytest.raises(QueueError, match=r"console alert queue .*state"):
        AlertQueue(blocker)
