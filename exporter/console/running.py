"""An enabled bridge's parts: the queue, the listener, one forwarder per Alertmanager."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exporter.console.forward import (
    RESEND_INTERVAL_S,
    RETRY_SCHEDULE_S,
    Send,
    Target,
    TargetForwarder,
    post_alerts,
)
from exporter.console.queue import AlertQueue
from exporter.console.receiver import PATH_PREFIX, CallbackListener
from exporter.console.stats import ConsoleStats
from exporter.serving.web.config import WebConfigWatcher
from exporter.settings.alerts import AlertsSettings
from exporter.timing.clock import Clock, system_clock

log = logging.getLogger(__name__)


def listen_address(address: str) -> tuple[str, int]:
    """``:10043``, ``127.0.0.1:10043`` or ``[::]:10043`` -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def checked_web_config(path: Path | None) -> WebConfigWatcher:
    """The listener's web config: TLS, headers and a rate limit. What Agora cannot send
    is refused: basic auth, client certificates (ValueError); a broken file raises
    WebConfigError."""
    web = WebConfigWatcher(path)
    config = web.current()
    mode = None if config.ssl_context is None else config.ssl_context.verify_mode
    if config.auth is not None or config.client_cert_required or mode == ssl.CERT_REQUIRED:
        raise ValueError(
            f"alerts.web_config_file {path}: Agora's callbacks carry no credentials and no "
            "client certificate; remove basic_auth_users and client_auth_type (the token "
            "in the path is the protection)"
        )
    return web


@dataclass(frozen=True)
class ForwardOptions:
    """How forwarders wait and send (tests shorten the schedule)."""

    clock: Clock = system_clock
    send: Send = post_alerts
    retry_schedule_s: Sequence[float] = RETRY_SCHEDULE_S
    resend_interval_s: float = RESEND_INTERVAL_S


class Running:
    """The parts of an enabled bridge for one configuration; ``alerts`` changes on reload."""

    def __init__(self, alerts: AlertsSettings, queue: AlertQueue, listener: CallbackListener):
        self.alerts, self.queue, self.listener = alerts, queue, listener
        self.forwarders: dict[str, TargetForwarder] = {}

    @classmethod
    def open(
        cls,
        alerts: AlertsSettings,
        state_dir: Path,
        make_listener: Callable[[AlertsSettings], CallbackListener],
    ) -> Running:
        """Open the queue and bind the listener (nothing started)."""
        queue = AlertQueue(state_dir)
        try:
            return cls(alerts, queue, make_listener(alerts))
        except BaseException:
            queue.close()
            raise

    @property
    def targets(self) -> dict[str, Target]:
        parsed = [Target.parse(url) for url in self.alerts.alertmanagers]
        return {target.label: target for target in parsed}

    def start(self, stats: ConsoleStats, options: ForwardOptions) -> None:
        self.sync(stats, options)
        self.listener.start()
        log.info(
            "console alert listener started",
            extra={
                "address": self._url(self.listener.host, "<token>"),
                "alertmanagers": ", ".join(self.targets),
                "queue": str(self.queue.path),
            },
        )

    def sync(self, stats: ConsoleStats, options: ForwardOptions) -> None:
        """The queue and the forwarders follow the configured Alertmanagers."""
        targets = self.targets
        self.queue.set_targets(list(targets), now=options.clock())
        stats.preset_targets(targets)
        for label in [label for label in self.forwarders if label not in targets]:
            self.forwarders.pop(label).stop()
        for label, target in targets.items():
            current = self.forwarders.get(label)
            if current is not None and current.target == target:
                continue
            if current is not None:
                current.stop()
            self.forwarders[label] = forwarder = TargetForwarder(
                target,
                self.queue,
                stats,
                hold_s=lambda: self.alerts.hold,
                clock=options.clock,
                send=options.send,
                retry_schedule_s=options.retry_schedule_s,
                resend_interval_s=options.resend_interval_s,
            )
            forwarder.start()

    def wake(self) -> None:
        for forwarder in list(self.forwarders.values()):
            forwarder.wake()

    def local_url(self, token: str) -> str:
        """The URL to post to from this host (the token included: never log it)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.listener.host, self.listener.host)
        return self._url(host, token)

    def _url(self, host: str, token: str) -> str:
        host = f"[{host}]" if ":" in host else host
        return f"{self.listener.scheme}://{host}:{self.listener.port}{PATH_PREFIX}{token}"

    def shut(self) -> None:
        self.listener.stop()
        for forwarder in self.forwarders.values():
            forwarder.request_stop()  # all at once: each may be waiting on a post
        for forwarder in self.forwarders.values():
            forwarder.join()
        self.queue.close()
