"""Composition root: the one module that wires the stages together.

settings -> plan -> scheduler -> poller -> client -> Agora; poller -> store;
store -> view -> collector -> /metrics. Everything that varies (clock, HTTP
transport, registry, listen address) is a keyword argument here.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import httpx
from prometheus_client import CollectorRegistry

from exporter.agora import ALL_OUTCOMES, AgoraClient, RequestRecord
from exporter.agora.limits import Budget, Endpoint
from exporter.calls.fetch import CallFetcher
from exporter.calls.inspector import CallInspector
from exporter.calls.view import EMPTY_CALLS
from exporter.insight.passes import InsightPasses
from exporter.insight.poller import InsightPoller
from exporter.insight.view import EMPTY_INSIGHT
from exporter.quota.context import PollContext
from exporter.quota.ledger import Ledger, Sleep, make_sleep
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.rules import periods, used_since
from exporter.realtime.poller import Poller
from exporter.realtime.view import Mode
from exporter.scheduling.jobs import PollScheduler
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.serving.collector import AgoraCollector, BudgetState, CollectorInput
from exporter.serving.exposition import Exposition
from exporter.serving.server import MetricsServer, Routes
from exporter.serving.status_page import render_status
from exporter.serving.tuning import tune_for_serving
from exporter.serving.web.config import WebConfigWatcher
from exporter.settings import ConfigError, Settings
from exporter.store import StateDirError, Store
from exporter.store.lock import StateDirLock
from exporter.timing.clock import Clock, system_clock

log = logging.getLogger(__name__)


class InfeasiblePlanError(Exception):
    """The configured series cannot be covered without gaps within the quota."""


class ReloadError(Exception):
    """A reloaded configuration was rejected; the previous one stays in force."""


@dataclass
class App:
    settings: Settings
    plan: PollPlan
    store: Store
    client: AgoraClient
    stats: RuntimeStats
    poller: Poller
    scheduler: PollScheduler
    server: MetricsServer
    registry: CollectorRegistry
    clock: Clock
    stopping: threading.Event
    first_round_done: threading.Event = field(default_factory=threading.Event)
    insight: InsightPasses | None = None
    calls: CallInspector | None = None
    lock: StateDirLock | None = None
    reload_settings: Callable[[], Settings] | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    exposition: Exposition | None = None
    """The cached /metrics (None when the caller brought its own registry)."""

    @property
    def port(self) -> int:
        return self.server.port

    def collector_input(self) -> CollectorInput:
        now = self.clock()
        budgets: dict[Budget, BudgetState] = {}
        for budget, budget_plan in self.plan.budgets.items():
            if budget_plan.series == 0:
                continue
            sent = self.store.request_times(budget.value, now - 86400)
            used = {
                name: used_since(sent, now - length)
                for name, length, _ in periods(budget_plan.limits)
            }
            budgets[budget] = BudgetState(
                limits=budget_plan.limits,
                interval_s=budget_plan.interval_s,
                lag_s=budget_plan.replay_lag_s,
                used=used,
            )
        snapshot = self.store.snapshot()
        return CollectorInput(
            now=now,
            series=self.plan.series,
            budgets=budgets,
            windows=snapshot,
            windows_missed_total=snapshot.windows_missed_total,
            stats=self.stats.snapshot(),
            mode=Mode(self.settings.exposition.mode),
            timestamps=self.settings.exposition.timestamps,
            insight=self.insight.state() if self.insight is not None else EMPTY_INSIGHT,
            calls=self.calls.state() if self.calls is not None else EMPTY_CALLS,
        )

    def metrics_version(self) -> object:
        """Changes whenever /metrics would: state, plan, settings, or a second passing."""
        return (
            self.store.snapshot(),
            self.stats.version,
            self.plan,
            self.settings,
            int(self.clock()),
        )

    def is_ready(self) -> bool:
        return self.first_round_done.is_set() or len(self.store.snapshot()) > 0

    def status_page(self) -> str:
        return render_status(
            self.collector_input(), plan_name=self.plan.plan.value, ready=self.is_ready()
        )

    def start(self) -> None:
        if self.exposition is not None:
            tune_for_serving()  # process-wide, before the threads start; see its docstring
        self.server.start()
        self.scheduler.start()
        if self.exposition is not None:
            self.exposition.start()
        log.info(
            "serving on port %d: %d series, plan %s",
            self.port,
            len(self.plan.series),
            self.plan.plan,
        )

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.stop(wait=True)
        if self.exposition is not None:
            self.exposition.stop()
        self.server.stop()
        self.client.close()
        try:
            self.store.close()
        except StateDirError as error:  # everything was committed; only the tidy-up failed
            log.error("%s", error)
        if self.lock is not None:
            self.lock.release()
        log.info("stopped")

    # --- signals and reload (SIGHUP, POST /-/reload) -------------------------

    def _apply(self, settings: Settings, plan: PollPlan) -> None:
        """Switch to a checked configuration; the store is left as it is."""
        old, new = self.settings.agora, settings.agora
        connection = ("base_url", "customer_id", "customer_secret", "timeout_s")
        if any(getattr(old, key) != getattr(new, key) for key in connection):
            self.client.reconfigure(
                base_url=new.base_url,
                customer_id=new.customer_id,
                customer_secret=new.customer_secret,
                timeout_s=new.timeout_s,
            )
            self.poller.clear_pauses()
            if self.insight is not None:
                self.insight.clear_pauses()
        self.poller.set_limits({b: bp.limits for b, bp in plan.budgets.items()})
        self.store.keep_in_memory(plan.memory_s)  # a longer lag reads older windows back
        self.scheduler.replan(plan)
        self.settings, self.plan = settings, plan

    def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop cleanly; SIGHUP reloads the config.

        Stopping lets the requests in flight finish (each is bounded by
        ``agora.timeout_s``) and starts no new one.
        """
        wake = threading.Event()
        received: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            del frame
            received.append(signum)
            wake.set()

        for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(handled, on_signal)
        self.start()
        while not self.stopping.is_set():
            wake.wait(timeout=1.0)
            wake.clear()
            while received:
                signum = received.pop(0)
                if signum != signal.SIGHUP:
                    log.info("received %s; shutting down", signal.Signals(signum).name)
                    self.stopping.set()
                elif not self.stopping.is_set():
                    log.info("received SIGHUP; reloading the configuration")
                    self._reload_logged()
        self.stop()

    def _reload_logged(self) -> None:
        try:
            self.reload_all()
        except ReloadError as error:
            log.error("reload failed; the previous configuration stays in force: %s", error)

    def reload_all(self) -> None:
        """Re-read the web config file and the configuration; raises ReloadError."""
        web_ok = self.server.web.reload()
        self.reload()
        if not web_ok:
            raise ReloadError(
                f"web config {self.server.web.path} is invalid (see the log); the previous "
                "web config stays in force"
            )

    def reload(self) -> None:
        """Re-read the configuration and replan without a restart.

        Cursors, the ledger and fetched windows stay in the store, so nothing
        is refetched or overspent. A configuration that is invalid, cannot be
        polled without gaps or moves ``state_dir`` raises ReloadError and
        changes nothing.
        """
        with self.reload_lock:
            if self.reload_settings is None:
                raise ReloadError("this exporter has no configuration source to re-read")
            try:
                settings = self.reload_settings()
            except ConfigError as error:
                raise ReloadError(f"invalid configuration:\n{error}") from None
            if settings.state_dir != self.settings.state_dir:
                raise ReloadError(
                    f"state_dir cannot change while running ({self.settings.state_dir} -> "
                    f"{settings.state_dir}); restart the exporter to move it"
                )
            plan = make_plan(settings)
            if not plan.feasible:
                raise ReloadError(
                    "the configuration cannot be polled without gaps:\n" + "\n".join(plan.problems)
                )
            self._apply(settings, plan)
        for warning in settings.not_built_warnings():
            log.warning("%s", warning)
        log.info("configuration reloaded: %d series, plan %s", len(plan.series), plan.plan)


def build_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    transport: httpx.BaseTransport | None = None,
    host: str = "0.0.0.0",
    port: int = 10042,
    registry: CollectorRegistry | None = None,
    sleep: Sleep | None = None,
    web: WebConfigWatcher | None = None,
    reload_settings: Callable[[], Settings] | None = None,
) -> App:
    """Build every stage; raises InfeasiblePlanError before anything is sent.

    Takes the state_dir lock (StateDirError if another exporter holds it);
    ``App.stop`` releases it. ``sleep`` replaces the real waits of the
    pollers (tests), ``web`` is the web config (TLS, basic auth) and
    ``reload_settings`` re-reads the configuration on SIGHUP or /-/reload.
    """
    plan = make_plan(settings)
    if not plan.feasible:
        raise InfeasiblePlanError("\n".join(plan.problems))
    for warning in settings.not_built_warnings():
        log.warning("%s", warning)
    stats = RuntimeStats()
    stats.preset_requests(
        endpoints=[
            endpoint.label
            for endpoint in Endpoint
            if endpoint.budget in plan.budgets and plan.budgets[endpoint.budget].series > 0
        ],
        outcomes=ALL_OUTCOMES,
    )
    lock = StateDirLock(settings.state_dir).acquire()
    try:
        store = Store(settings.state_dir, clock=clock, memory_s=plan.memory_s)
    except BaseException:
        lock.release()
        raise
    stopping = threading.Event()
    sleep = sleep or make_sleep(stopping)

    def on_request(record: RequestRecord) -> None:
        stats.record_request(
            endpoint=record.endpoint.label, outcome=record.outcome, duration_s=record.duration_s
        )

    client = AgoraClient(
        base_url=settings.agora.base_url,
        customer_id=settings.agora.customer_id,
        customer_secret=settings.agora.customer_secret,
        timeout_s=settings.agora.timeout_s,
        transport=transport,
        on_request=on_request,
    )
    limits = {budget: budget_plan.limits for budget, budget_plan in plan.budgets.items()}
    context = PollContext(
        client=client,
        store=store,
        ledger=Ledger(store=store, clock=clock, sleep=sleep),
        stats=stats,
        limits=limits,
        clock=clock,
        sleep=sleep,
        stopping=stopping,
    )
    poller = Poller(context)
    insight_poller = InsightPoller(context)
    insight = InsightPasses(poller=insight_poller, store=store, plan=plan, clock=clock)
    call_fetcher = CallFetcher(context)
    calls = CallInspector(
        fetcher=call_fetcher, store=store, stats=stats, plan=plan.calls, clock=clock
    )
    # /metrics renders through the caching exposition, unless the caller brought a
    # registry (which may hold collectors of its own): then the registry is served.
    exposition = Exposition(lambda: app_holder[0].collector_input()) if registry is None else None
    registry = registry or CollectorRegistry(auto_describe=False)
    app_holder: list[App] = []
    scheduler = PollScheduler(
        poller=poller,
        store=store,
        plan=plan,
        clock=clock,
        on_round=lambda: app_holder[0].first_round_done.set(),
        insight=insight,
        calls=calls,
    )
    routes = Routes(
        registry=registry,
        status_page=lambda: app_holder[0].status_page(),
        is_ready=lambda: app_holder[0].is_ready(),
        reload=lambda: app_holder[0].reload_all(),
        metrics_version=lambda: app_holder[0].metrics_version(),
        metrics=exposition.payload if exposition is not None else None,
    )
    server = MetricsServer(routes, host=host, port=port, web=web)
    app = App(
        settings=settings,
        plan=plan,
        store=store,
        client=client,
        stats=stats,
        poller=poller,
        scheduler=scheduler,
        server=server,
        registry=registry,
        clock=clock,
        stopping=stopping,
        insight=insight,
        calls=calls,
        lock=lock,
        reload_settings=reload_settings,
        exposition=exposition,
    )
    app_holder.append(app)
    registry.register(AgoraCollector(app.collector_input))
    return app
