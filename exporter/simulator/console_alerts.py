"""Agora Console's Alert Notification, simulated: callbacks during the simulator's incidents.

Agora Console evaluates alert rules on the 20-second metrics and POSTs each
trigger to a URL (see docs/console-alerts.md for the fields). This sender does
the same with the simulator's own traffic, so ``--demo`` and the Compose stack
show Console alerts next to the polled freeze-rate alerts:

- a channel rule: ``videoFreezeRate`` at or above ``threshold`` (either
  product type) for ``cycles`` consecutive 20 s windows of a listed channel
  triggers a channel-granularity callback (no ``uid``); it triggers again
  every ``retrigger_s`` while the condition holds;
- with each channel trigger, an event callback (``no frame sending``) for the
  channel's first user, as Agora's event rules send per user.

Delivery is Agora's: JSON, no authentication, a 2 s timeout, and up to two
resends of a callback that got no 2xx answer.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exporter.simulator.realtime import PRODUCT_TYPES, WINDOW_S, align_window
from exporter.simulator.traffic import TrafficModel
from exporter.timing.clock import Clock

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0
RESENDS = 2
CONSOLE_URL = "https://console.agora.io/analytics/call/detail?callId={call_id}"
Payload = dict[str, str]
Post = Callable[[str, bytes], bool]


@dataclass(frozen=True)
class ConsoleRule:
    """The simulated alert rule (one per sender)."""

    threshold: float = 0.05
    cycles: int = 2
    retrigger_s: int = 300
    remark: str = "simulated Alert Notification rule (agora-exporter simulator)"

    @property
    def text(self) -> str:
        return f"video freeze rate≥{self.threshold * 100:g}%"

    @property
    def text_cn(self) -> str:
        return f"视频卡顿率≥{self.threshold * 100:g}%"


def post_json(url: str, body: bytes) -> bool:
    """One POST as Agora sends it; True on a 2xx answer within the timeout."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    context = None
    if url.startswith("https:"):  # the exporter on this host, maybe a self-signed cert
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as answer:
            return 200 <= int(answer.status) < 300
    except (OSError, ValueError):
        return False


class ConsoleAlertSender:
    """Evaluates the rule every 20 s of ``clock`` for the apps in ``projects``
    (appid -> project name) and posts each trigger to ``url``."""

    def __init__(
        self,
        traffic: TrafficModel,
        clock: Clock,
        url: str,
        projects: Mapping[str, str],
        *,
        rule: ConsoleRule | None = None,
        post: Post = post_json,
    ) -> None:
        self._traffic, self._clock, self.url = traffic, clock, url
        self._projects = dict(projects)
        self.rule = rule or ConsoleRule()
        self._post = post
        self._fired: dict[tuple[str, str], float] = {}
        self.sent: list[Payload] = []
        """Every callback Agora's side got a 2xx for, oldest first."""
        self.failed: list[Payload] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _rate(self, appid: str, cname: str, window: int) -> float | None:
        rates = [
            self._traffic.realtime(appid, product, "videoFreezeRate", window, cname)
            for product in PRODUCT_TYPES
        ]
        found = [float(rate) for rate in rates if rate is not None]
        return max(found) if found else None

    def _holds(self, appid: str, cname: str, newest: int) -> bool:
        for back in range(self.rule.cycles):
            rate = self._rate(appid, cname, newest - back * WINDOW_S)
            if rate is None or rate < self.rule.threshold:
                return False
        return True

    def due(self, now: float) -> list[Payload]:
        """The callbacks the rule triggers at ``now`` (on the newest complete window)."""
        newest = align_window(now) - WINDOW_S
        payloads: list[Payload] = []
        for appid, project in self._projects.items():
            for cname in self._traffic.channels(appid, newest):
                if not self._holds(appid, cname, newest):
                    continue
                last = self._fired.get((appid, cname))
                if last is not None and now - last < self.rule.retrigger_s:
                    continue
                self._fired[(appid, cname)] = now
                payloads += self._payloads(appid, project, cname, newest, now)
        return payloads

    def _payloads(
        self, appid: str, project: str, cname: str, window: int, now: float
    ) -> list[Payload]:
        users = self._traffic.uids(appid, cname, window)
        call_id = self._call_id(appid, cname, now)
        channel: Payload = {
            "alertTime": str(int(now * 1000)),
            "timeZone": "UTC+0",
            "projectName": project,
            "cname": cname,
            "enContent": self.rule.text,
            "cnContent": self.rule.text_cn,
            "currentUserNum": str(len(users)),
            "currentHostNum": str(min(len(users), 2)),
            "callId": call_id,
            "url": CONSOLE_URL.format(call_id=call_id) if call_id else "",
            "remark": self.rule.remark,
        }
        if not users:
            return [channel]
        event = {**channel, "uid": str(users[0]), "enContent": "no frame sending"}
        event["cnContent"] = "无帧发送"
        return [channel, event]

    def _call_id(self, appid: str, cname: str, now: float) -> str:
        calls = self._traffic.calls(appid, int(now) - 3600, int(now) + 1, cname)
        ongoing = [call for call in calls if not call.finished]
        return ongoing[0].call_id if ongoing else ""

    def send(self, payload: Payload) -> bool:
        """POST one callback, resending it up to twice as Agora does."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        for _ in range(1 + RESENDS):
            if self._post(self.url, body):
                self.sent.append(payload)
                return True
        self.failed.append(payload)
        log.debug("a simulated console alert found no taker", extra={"cname": payload["cname"]})
        return False

    def tick(self, now: float | None = None) -> list[Payload]:
        """Evaluate the rule once and send what it triggers; returns what was triggered."""
        payloads = self.due(self._clock() if now is None else now)
        for payload in payloads:
            self.send(payload)
        return payloads

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the demo goes on without console alerts
                log.exception("simulated console alerts failed")
            wait = WINDOW_S - self._clock() % WINDOW_S + 1.0
            self._stopping.wait(min(max(wait, 1.0), WINDOW_S + 1.0))

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="console-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
