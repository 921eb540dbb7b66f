"""Composition root: the one module that wires the stages together.

settings -> plan -> scheduler -> poller -> client -> Agora; poller -> store;
store -> view -> collector -> /metrics. Everything that varies (clock, HTTP
transport, registry, listen address) is a keyword argument here.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType

import httpx
from prometheus_client import CollectorRegistry

from exporter.agora import AgoraClient, RequestRecord
from exporter.clock import Clock, system_clock
from exporter.collector import AgoraCollector, BudgetState, CollectorInput
from exporter.planning import PollPlan, make_plan
from exporter.plans import Budget
from exporter.poller import Poller, make_sleep
from exporter.quota import periods, used_since
from exporter.scheduler import PollScheduler
from exporter.server import MetricsServer, Routes
from exporter.settings import Settings
from exporter.stats import RuntimeStats
from exporter.status import render_status
from exporter.store import Store
from exporter.view import Mode

log = logging.getLogger(__name__)


class InfeasiblePlanError(Exception):
    """The configured series cannot be covered without gaps within the quota."""


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
        )

    def is_ready(self) -> bool:
        return self.first_round_done.is_set() or len(self.store.snapshot()) > 0

    def status_page(self) -> str:
        return render_status(
            self.collector_input(), plan_name=self.plan.plan.value, ready=self.is_ready()
        )

    def start(self) -> None:
        self.server.start()
        self.scheduler.start()
        log.info(
            "serving on port %d: %d series, plan %s",
            self.port,
            len(self.plan.series),
            self.plan.plan,
        )

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.stop(wait=True)
        self.server.stop()
        self.client.close()
        self.store.close()
        log.info("stopped")

    def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop cleanly."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            del frame
            log.info("received signal %d; shutting down", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        self.stopping.wait()
        self.stop()


def build_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    transport: httpx.BaseTransport | None = None,
    host: str = "0.0.0.0",
    port: int = 10042,
    registry: CollectorRegistry | None = None,
) -> App:
    """Build every stage; raises InfeasiblePlanError before anything is sent."""
    plan = make_plan(settings)
    if not plan.feasible:
        raise InfeasiblePlanError("\n".join(plan.problems))
    for warning in settings.not_built_warnings():
        log.warning("%s", warning)
    stats = RuntimeStats()
    store = Store(settings.state_dir, clock=clock)
    stopping = threading.Event()

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
    poller = Poller(
        client=client,
        store=store,
        limits=limits,
        stats=stats,
        clock=clock,
        sleep=make_sleep(stopping),
    )
    registry = registry or CollectorRegistry(auto_describe=False)
    app_holder: list[App] = []
    scheduler = PollScheduler(
        poller=poller,
        store=store,
        plan=plan,
        clock=clock,
        on_round=lambda: app_holder[0].first_round_done.set(),
    )
    routes = Routes(
        registry=registry,
        status_page=lambda: app_holder[0].status_page(),
        is_ready=lambda: app_holder[0].is_ready(),
    )
    server = MetricsServer(routes, host=host, port=port)
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
    )
    app_holder.append(app)
    registry.register(AgoraCollector(app.collector_input))
    return app
