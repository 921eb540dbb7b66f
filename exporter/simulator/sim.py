"""``Simulator``: the fake Agora Analytics API, started and stopped as one object."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType

from exporter.agora.limits import HOUR, Budget, Limits, Plan
from exporter.simulator.answers import Answer
from exporter.simulator.console_alerts import ConsoleAlertSender, ConsoleRule
from exporter.simulator.corrupt import damaged, early_answer
from exporter.simulator.faults import Fault, FaultInjector
from exporter.simulator.params import usage_metrics
from exporter.simulator.quota import LimitTable, QuotaCounter, QuotaOverride
from exporter.simulator.requestlog import RequestLog, RequestLogEntry
from exporter.simulator.server import SimulatorHTTPServer
from exporter.simulator.service import AnalyticsService, ServiceOptions, frozen_appids
from exporter.simulator.traffic import DEFAULT_INCIDENT_EVERY_S, TrafficModel
from exporter.timing.clock import Clock

POLL_INTERVAL_S = 0.02  # how fast stop() is noticed by the accept loop (tests stop often)
STOP_TIMEOUT_S = 5.0


class Simulator:
    """A faithful fake of the Agora Analytics REST API over real HTTP.

    ``customer_id=None`` accepts any credentials, even none; with a customer id
    (and, optionally, a secret) anything else is a 401. ``known_appids=None``
    accepts any appid; otherwise another appid is a 403. All time checks and
    all data follow ``clock``. See the package docstring for the options.
    """

    def __init__(
        self,
        plan: Plan | str = Plan.ENTERPRISE,
        customer_id: str | None = None,
        customer_secret: str | None = None,
        seed: int = 1,
        clock: Clock = time.time,
        quota: Mapping[Budget | str, QuotaOverride] | None = None,
        known_appids: Iterable[str] | None = None,
        *,
        peak_spelling: str = "both",
        call_success_code: int = 200,
        calls_per_hour: int = 40,
        call_list_cap: int = 1000,
        incident_every_s: int | None = DEFAULT_INCIDENT_EVERY_S,
        max_kvs_per_series: int = 360,
        idle_product_types: Iterable[str] = (),
    ) -> None:
        self.plan = Plan(plan)
        self.clock = clock
        usage_metrics(peak_spelling)  # fail now, not at the first request
        self._limits = LimitTable(self.plan, quota)
        self.traffic = TrafficModel(
            seed,
            clock,
            incident_every_s=incident_every_s,
            calls_per_hour=calls_per_hour,
            usage_delay_s=self._insight_delay(Budget.INSIGHT_USAGE),
            quality_delay_s=self._insight_delay(Budget.INSIGHT_QUALITY),
            max_kvs_per_series=max_kvs_per_series,
            idle_product_types=idle_product_types,
        )
        self.faults = FaultInjector()
        self._quota = QuotaCounter()
        self._log = RequestLog()
        options = ServiceOptions(
            customer_id=customer_id,
            customer_secret=customer_secret,
            known_appids=frozen_appids(known_appids),
            peak_spelling=peak_spelling,
            call_success_code=call_success_code,
            call_list_cap=call_list_cap,
        )
        self._service = AnalyticsService(self.traffic, self._limits, self._quota, options)
        self._customer_id = customer_id
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._base_url: str | None = None
        self._console_alerts: list[ConsoleAlertSender] = []

    def _insight_delay(self, budget: Budget) -> int:
        limits = self._limits.get(budget)
        # A plan without insight access never serves it; any delay will do.
        return limits.delay_s if limits else 6 * HOUR

    # -- lifecycle ----------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port), serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = SimulatorHTTPServer((host, port), self.respond)
        bound_port = self._server.server_address[1]
        self._base_url = f"http://{host}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name="agora-simulator",
            daemon=True,
        )
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # wakes SLOW answers
        for sender in self._console_alerts:
            sender.stop()
        server.shutdown()
        server.close_connections(STOP_TIMEOUT_S)
        server.server_close()
        thread.join(STOP_TIMEOUT_S)
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running simulator."""
        if self._base_url is None:
            raise RuntimeError("the simulator has not been started")
        return self._base_url

    def send_console_alerts(
        self, url: str, projects: Mapping[str, str], rule: ConsoleRule | None = None
    ) -> ConsoleAlertSender:
        """Post Agora Console alert callbacks to ``url`` during incidents of the apps in
        ``projects`` (appid -> project name), every 20 s, until :meth:`stop`."""
        sender = ConsoleAlertSender(self.traffic, self.clock, url, projects, rule=rule)
        self._console_alerts.append(sender)
        sender.start()
        return sender

    # -- limits and what was counted ---------------------------------------------

    def set_quota(
        self,
        budget: Budget | str,
        *,
        per_minute: int | None = None,
        per_second: int | None = None,
        per_day: int | None = None,
    ) -> Limits:
        """Change some request limits of a budget at run time; returns the new limits."""
        changes = {"per_minute": per_minute, "per_second": per_second, "per_day": per_day}
        return self._limits.override(Budget(budget), changes)

    def limits(self, budget: Budget | str) -> Limits | None:
        """The limits in force on a budget (None: the plan has no access)."""
        return self._limits.get(Budget(budget))

    def quota_used(self, budget: Budget | str, period: str) -> int:
        """Requests counted for the configured customer (all, if none is configured)
        on a budget in the current ``"second"``, ``"minute"`` or ``"day"``."""
        return self._quota.used(Budget(budget), period, self._customer_id, self.clock())

    def requests(self) -> list[RequestLogEntry]:
        """Every request seen so far, oldest first."""
        return self._log.entries()

    def refused(self) -> list[RequestLogEntry]:
        """Requests that did not get a genuine answer with data."""
        return [entry for entry in self._log.entries() if not entry.success]

    # -- one request --------------------------------------------------------------

    def respond(self, path: str, params: dict[str, str], authorization: str | None) -> Answer:
        """Answer one request: injected fault, or the service (maybe slowed or damaged)."""
        arrived = self.clock()
        spec = self.faults.take(path)
        fault = spec.fault if spec else None
        if spec is not None and spec.fault.family == "early":
            answer = early_answer(spec)
            self._log.record(path, params, answer, arrived, fault)
            return answer
        if spec is not None and spec.fault is Fault.SLOW:
            self._stopping.wait(spec.delay_s)
        answer = self._service.handle(path, params, authorization, self.clock())
        if spec is not None and spec.fault.family == "data" and answer.success and answer.body:
            answer.body = damaged(answer.body, spec.fault)
        self._log.record(path, params, answer, arrived, fault)
        return answer
