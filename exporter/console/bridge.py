""":class:`ConsoleBridge`: the listener, the queue and the forwarders, as the daemon runs them.

Built by the composition root whether or not ``alerts.enabled`` is set, so a
reload can switch it on or off. Enabled, it binds its listener when built
(a busy port fails before anything starts), opens ``console-alerts.db`` in
``state_dir`` and, once started, forwards what the queue holds: alerts a
previous run stored but had not delivered go out first.

Its times are the system clock's: ``alertTime``, ``startsAt`` and ``endsAt``
are compared with Alertmanager's own clock, not with a poller's.
"""

from __future__ import annotations

import ipaddress
import logging

from exporter.console.labels import Labelling, forwarded
from exporter.console.payload import ConsoleAlert
from exporter.console.queue import QueueError
from exporter.console.receiver import CallbackListener, ListenerRules
from exporter.console.running import (
    ForwardOptions,
    Running,
    checked_web_config,
    listen_address,
)
from exporter.console.stats import ConsoleStats
from exporter.serving.console_view import EMPTY_CONSOLE, ConsoleAlertState
from exporter.serving.web.auth import RateLimiter
from exporter.serving.web.config import WebConfigError
from exporter.settings import Settings
from exporter.settings.alerts import AlertsSettings

log = logging.getLogger(__name__)

RATE_BURST = 50
RATE_INTERVAL_S = 0.1
"""Without a ``rate_limit`` in the web config: 50 at once, then 10 a second."""


class ConsoleBridge:
    """The Agora Console alert bridge; off unless ``alerts.enabled``."""

    def __init__(self, settings: Settings, *, options: ForwardOptions | None = None) -> None:
        self.stats = ConsoleStats()
        self._options = options or ForwardOptions()
        self._state_dir = settings.state_dir
        self._limiter = RateLimiter(interval_s=RATE_INTERVAL_S, burst=RATE_BURST)
        self._started = False
        self._settings = settings.alerts
        self._rules, self._labelling = self._rules_for(settings)
        self._running: Running | None = None
        self._gauges: tuple[int, int, dict[str, float]] = (0, 0, {})
        if self.enabled:
            self._running = Running.open(settings.alerts, self._state_dir, self._listener)

    def _listener(self, alerts: AlertsSettings) -> CallbackListener:
        host, port = listen_address(alerts.listen_address)
        web = checked_web_config(alerts.web_config_file)
        return CallbackListener(host, port, web=web, rules=self.rules, stats=self.stats)

    def _rules_for(self, settings: Settings) -> tuple[ListenerRules, Labelling]:
        alerts = settings.alerts
        token = (alerts.secret_token() or "").encode()
        networks = tuple(ipaddress.ip_network(one) for one in alerts.allow_from)
        rules = ListenerRules(token, networks, self._limiter, self._accept)
        return rules, Labelling.from_settings(alerts, settings.apps)

    # -- what the listener, the scrape and the demo read ---------------------------------

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    @property
    def port(self) -> int | None:
        return None if self._running is None else self._running.listener.port

    def local_url(self) -> str | None:
        """The URL to post to from this host (the token included: never log it)."""
        running = self._running
        return None if running is None else running.local_url(self._rules.token.decode())

    def rules(self) -> ListenerRules:
        return self._rules

    def state(self) -> ConsoleAlertState:
        """What /metrics shows; the queue's last gauges when it cannot be read now."""
        running = self._running
        if running is None:
            return EMPTY_CONSOLE
        queue = running.queue
        try:
            self._gauges = (
                queue.depth(),
                queue.active(now=self._options.clock()),
                queue.last_alerts(),
            )
        except QueueError as error:  # a scrape must not fail for it
            log.error("reading the console alert queue failed", extra={"error": str(error)})
        depth, active, last_alert = self._gauges
        return self.stats.snapshot(
            targets=list(running.targets),
            queue_depth=depth,
            active=active,
            last_alert=last_alert,
        )

    def _accept(self, alert: ConsoleAlert) -> bool:
        """Store one alert before the listener answers; wake the forwarders if it is new."""
        running = self._running
        if running is None:  # switched off by a reload while this request was under way
            raise QueueError("the console alert bridge was switched off")
        now = self._options.clock()
        new = running.queue.accept(
            forwarded(alert, self._labelling, now),
            alert.dedup_key(),
            now=now,
            hold_s=running.alerts.hold,
            targets=list(running.targets),
        )
        if new:
            running.wake()
        return new

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        if self._running is not None:
            self._running.start(self.stats, self._options)

    def stop(self) -> None:
        self._started = False
        self._shut()

    def _shut(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.shut()

    def reload(self, settings: Settings) -> None:
        """Apply a new configuration in place (SIGHUP, /-/reload).

        A new listen address is bound before the old one is let go (on the same
        port, right after). When that, a new web config or the queue fails, the
        error is logged and the previous alerts configuration stays in force:
        the rest of the exporter's reload is not held back by it.
        """
        try:
            self._reload(settings)
        except (OSError, ValueError, WebConfigError, QueueError) as error:
            log.error(
                "the new alerts configuration cannot be applied; the previous one stays",
                extra={"error": str(error)},
            )

    def _reload(self, settings: Settings) -> None:
        new, old, running = settings.alerts, self._settings, self._running
        web = None
        if new.enabled and running is not None and new.web_config_file != old.web_config_file:
            web = checked_web_config(new.web_config_file)  # nothing changed yet if it fails
        if not new.enabled:
            self._shut()
        elif running is None:
            running = Running.open(new, self._state_dir, self._listener)
        elif new.listen_address != old.listen_address:
            running.listener = self._rebind(new, running)
        (self._rules, self._labelling), self._settings = self._rules_for(settings), new
        if running is None or not new.enabled:
            return
        if web is not None:
            running.listener.set_web(web)
        running.alerts = new
        fresh, self._running = self._running is not running, running
        if self._started and fresh:
            running.start(self.stats, self._options)
        elif self._started:
            running.sync(self.stats, self._options)
            if not running.listener.running:
                running.listener.start()

    def _rebind(self, alerts: AlertsSettings, running: Running) -> CallbackListener:
        """A listener on the new address; the old one is stopped once it is bound."""
        old = running.listener
        try:
            listener = self._listener(alerts)
        except OSError:  # maybe the old listener's own port: let it go, try once more
            old.stop()
            try:
                listener = self._listener(alerts)
            except BaseException:
                running.listener = self._listener(running.alerts)
                if self._started:
                    running.listener.start()
                raise
        else:
            old.stop()
        return listener
