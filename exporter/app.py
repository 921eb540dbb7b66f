"""Composition root: the one module that wires the stages together.

settings -> plan -> scheduler -> poller -> client -> Agora; poller -> store;
store -> view -> collector -> /metrics. Everything that varies (clock, HTTP
transport, registry, listen address) is a keyword argument here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from exporter.agora import ALL_OUTCOMES, RequestRecord
from exporter.agora.limits import Endpoint
from exporter.calls.fetch import CallFetcher
from exporter.calls.inspector import CallInspector
from exporter.console import ConsoleBridge
from exporter.insight.passes import InsightPasses
from exporter.insight.poller import InsightPoller
from exporter.quota.context import PollContext, agora_client
from exporter.quota.ledger import Sleep
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.poller import Poller
from exporter.scheduling.jobs import PollScheduler
from exporter.scheduling.planner import PollPlan, make_plan
from exporter.serving.exposition import Exposition
from exporter.serving.scrape import ScrapeSource
from exporter.serving.server import MetricsServer, Routes
from exporter.serving.tuning import tune_for_serving
from exporter.serving.web.config import WebConfigWatcher
from exporter.settings import ConfigError, Settings
from exporter.store import StartOver, StateDirError, Store
from exporter.store.lock import StateDirLock, open_state
from exporter.timing.clock import Clock, system_clock

log = logging.getLogger(__name__)


class InfeasiblePlanError(Exception):
    """The configured series cannot be covered without gaps within the quota."""


class ReloadError(Exception):
    """A reloaded configuration was rejected; the previous one stays in force."""


@dataclass
class App:
    """The running exporter: its stages, started and stopped together, reloaded in place."""

    settings: Settings
    source: ScrapeSource
    context: PollContext
    poller: Poller
    scheduler: PollScheduler
    server: MetricsServer
    exposition: Exposition
    lock: StateDirLock | None = None
    reload_settings: Callable[[], Settings] | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def plan(self) -> PollPlan:
        return self.source.plan

    @property
    def store(self) -> Store:
        return self.source.store

    @property
    def clock(self) -> Clock:
        return self.source.clock

    @property
    def insight(self) -> InsightPasses | None:
        return self.source.insight

    @property
    def calls(self) -> CallInspector | None:
        return self.source.calls

    def start(self) -> None:
        tune_for_serving()  # process-wide, before the threads start; see its docstring
        self.server.start()
        self.source.console.start()
        self.scheduler.start()
        self.exposition.start()
        log.info(
            "serving",
            extra={
                "port": self.port,
                "series_count": len(self.plan.series),
                "plan": self.plan.tier,
            },
        )

    def stop(self) -> None:
        self.context.stopping.set()
        self.scheduler.stop(wait=True)
        self.exposition.stop()
        self.server.stop()
        self.source.console.stop()
        self.context.client.close()
        try:
            self.store.close()
        except StateDirError as error:  # everything was committed; only the tidy-up failed
            log.error("closing the state store failed", extra={"error": str(error)})
        if self.lock is not None:
            self.lock.release()
        log.info("stopped")

    # --- signals and reload (SIGHUP, POST /-/reload) -------------------------

    def _apply(self, settings: Settings, plan: PollPlan) -> None:
        """Switch to a checked configuration; the store is left as it is."""
        old, new = self.settings.agora, settings.agora
        connection = ("base_url", "customer_id", "customer_secret", "timeout_s")
        if any(getattr(old, key) != getattr(new, key) for key in connection):
            self.context.client.reconfigure(
                base_url=new.base_url,
                customer_id=new.customer_id,
                customer_secret=new.customer_secret,
                timeout_s=new.timeout_s,
            )
            self.poller.clear_pauses()
            if self.insight is not None:
                self.insight.clear_pauses()
        self.context.set_limits({b: bp.limits for b, bp in plan.budgets.items()})
        self.store.keep_in_memory(plan.memory_s)  # a longer lag reads older windows back
        plan = self.scheduler.replan(plan)  # groups without users stay paused
        self.settings = settings
        self.source.plan, self.source.exposition = plan, settings.exposition
        self.source.console.reload(settings)  # an error is logged; the old alerts config stays

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
        log.info(
            "configuration reloaded",
            extra={"series_count": len(plan.series), "plan": plan.tier},
        )


def build_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    transport: httpx.BaseTransport | None = None,
    host: str = "0.0.0.0",
    port: int = 10042,
    sleep: Sleep | None = None,
    web: WebConfigWatcher | None = None,
    reload_settings: Callable[[], Settings] | None = None,
    enable_lifecycle: bool = False,
    reset_state: bool = False,
) -> App:
    """Build every stage; raises InfeasiblePlanError before anything is sent.

    Takes the state_dir lock (StateDirError if another exporter holds it);
    ``App.stop`` releases it. ``sleep`` replaces the real waits of the
    pollers (tests), ``web`` is the web config (TLS, basic auth) and
    ``reload_settings`` re-reads the configuration on SIGHUP or /-/reload (if ``enable_lifecycle``).
    ``reset_state`` (``--state.reset``) starts over a lost state database.
    """
    plan = make_plan(settings)
    if not plan.feasible:
        raise InfeasiblePlanError("\n".join(plan.problems))
    over = StartOver({b.value: p.limits for b, p in plan.budgets.items()}) if reset_state else None
    lock, store = open_state(settings.state_dir, plan.memory_s, clock=clock, start_over=over)
    context = _poll_context(settings, plan, store, clock=clock, transport=transport, sleep=sleep)
    poller = Poller(context)
    source = _scrape_source(settings, plan, context)
    scheduler = PollScheduler(
        poller=poller,
        store=store,
        plan=plan,
        clock=clock,
        on_round=source.first_round_done.set,
        insight=source.insight,
        calls=source.calls,
        on_plan=source.adopt_plan,  # a product type or channel paused or resumed
    )
    exposition = Exposition(source.collector_input)
    routes = Routes(
        metrics=exposition.payload,
        status_page=source.status_page,
        status_json=source.status_json,
        is_ready=source.is_ready,
        reload=(lambda: app.reload_all()) if enable_lifecycle else None,  # ``app``: bound below
    )
    server = MetricsServer(routes, host=host, port=port, web=web)
    app = App(
        settings=settings,
        source=source,
        context=context,
        poller=poller,
        scheduler=scheduler,
        server=server,
        exposition=exposition,
        lock=lock,
        reload_settings=reload_settings,
    )
    return app


def _scrape_source(settings: Settings, plan: PollPlan, context: PollContext) -> ScrapeSource:
    """The insight passes and the call inspector, and what a scrape reads of every stage."""
    store, clock = context.store, context.clock
    return ScrapeSource(
        store=store,
        stats=context.stats,
        clock=clock,
        plan=plan,
        exposition=settings.exposition,
        insight=InsightPasses(poller=InsightPoller(context), store=store, plan=plan, clock=clock),
        calls=CallInspector(
            fetcher=CallFetcher(context),
            store=store,
            stats=context.stats,
            plan=plan.calls,
            clock=clock,
        ),
        console=ConsoleBridge(settings),  # Agora Console alerts, off unless alerts.enabled
    )


def _poll_context(
    settings: Settings,
    plan: PollPlan,
    store: Store,
    *,
    clock: Clock,
    transport: httpx.BaseTransport | None,
    sleep: Sleep | None,
) -> PollContext:
    """The client, ledger, statistics and stop signal every poller shares."""
    stats = RuntimeStats()
    budgets = plan.budgets
    polled = [e.label for e in Endpoint if e.budget in budgets and budgets[e.budget].series > 0]
    stats.preset_requests(endpoints=polled, outcomes=ALL_OUTCOMES)

    def on_request(record: RequestRecord) -> None:
        stats.record_request(
            endpoint=record.endpoint.label, outcome=record.outcome, duration_s=record.duration_s
        )

    client = agora_client(settings.agora, transport=transport, on_request=on_request)
    limits = {budget: budget_plan.limits for budget, budget_plan in plan.budgets.items()}
    return PollContext.build(
        client=client, store=store, limits=limits, stats=stats, clock=clock, sleep=sleep
    )
