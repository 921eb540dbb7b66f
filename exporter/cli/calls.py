"""``agora-exporter calls [--cname=X]``: ongoing calls and their users' quality, in the terminal.

For an on-call engineer without Grafana. Two ways to get the data, never
overspending:

* no exporter runs on ``state_dir``: this command takes the state_dir lock,
  runs one Call Inspector cycle for every configured app (only channel X with
  ``--cname``; else the channels ``apps[].calls.channels`` watches, or all),
  with every request in the store's ledger, and prints what it fetched. Its
  cursors stay in the store, so running it again fetches only what is new;
* the exporter runs (it holds the lock, and with it the ledger): the command
  reads what the exporter inspected from the store, read-only, and spends no
  quota. The exporter must have ``calls: {enabled: true}`` for that app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from exporter.calls.fetch import CallFetcher
from exporter.calls.inspector import CallInspector
from exporter.calls.plan import CALL_BUDGETS, CallTarget, plan_calls
from exporter.calls.table import render_calls
from exporter.calls.view import CallState
from exporter.quota.context import PollContext, agora_client
from exporter.quota.ledger import Sleep
from exporter.quota.request_stats import RuntimeStats
from exporter.scheduling.planner import make_plan
from exporter.settings import Settings
from exporter.store import DB_NAME, StateDirError, Store
from exporter.store.calls import read_calls
from exporter.store.lock import StateDirLock
from exporter.timing.clock import Clock, system_clock

EXIT_OK, EXIT_FAILURE = 0, 1

Say = Callable[[str], None]


def command_targets(settings: Settings, cname: str | None) -> list[CallTarget]:
    """Every configured app (enabled for calls or not), watching ``cname`` if given."""
    return [
        CallTarget(
            app.appid,
            (cname,) if cname else tuple(app.calls.channels),
            app.calls.max_calls,
            app.calls.max_sessions_per_call,
        )
        for app in settings.apps
    ]


def run_calls(
    settings: Settings,
    *,
    cname: str | None = None,
    say: Say = print,
    clock: Clock = system_clock,
    sleep: Sleep | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Print the ongoing calls; 0 on success, 1 when the cycle failed."""
    try:
        lock = StateDirLock(settings.state_dir).acquire()
    except StateDirError as locked:
        return _from_exporter(settings, cname, say, clock, locked)
    try:
        state, sent = _inspect_now(settings, cname, clock, sleep, transport)
    finally:
        lock.release()
    source = f"fetched now with {sent} requests (all in the ledger)"
    say(render_calls(state, now=clock(), cname=cname, source=source).rstrip("\n"))
    return EXIT_FAILURE if state.last_error else EXIT_OK


def _inspect_now(
    settings: Settings,
    cname: str | None,
    clock: Clock,
    sleep: Sleep | None,
    transport: httpx.BaseTransport | None,
) -> tuple[CallState, int]:
    limits = {b: bp.limits for b, bp in make_plan(settings).budgets.items()}
    call_limits = {budget: limits[budget] for budget in CALL_BUDGETS if budget in limits}
    plan = plan_calls(command_targets(settings, cname), call_limits, settings.agora.headroom)
    stopping = threading.Event()
    with (
        Store(settings.state_dir, clock=clock) as store,
        agora_client(settings.agora, transport=transport) as client,
    ):
        context = PollContext.build(
            client=client, store=store, limits=limits, clock=clock, sleep=sleep, stopping=stopping
        )
        fetcher = CallFetcher(context)
        inspector = CallInspector(
            fetcher=fetcher,
            store=store,
            stats=RuntimeStats(),
            plan=plan,
            clock=clock,
            forget_others=False,
        )
        inspector.run_cycle()
        return inspector.state(), fetcher.sent


def _from_exporter(
    settings: Settings, cname: str | None, say: Say, clock: Clock, locked: StateDirError
) -> int:
    """Show what the running exporter inspected (read-only, no quota spent)."""
    try:
        stored = read_calls(Path(settings.state_dir) / DB_NAME)
    except Exception:  # the store cannot be read either: the lock's error says why
        raise locked from None
    state = CallState(enabled=True, calls=stored.calls)
    source = "read from the running exporter's store (no quota spent)"
    say(render_calls(state, now=clock(), cname=cname, source=source).rstrip("\n"))
    if not stored.calls:
        say(
            "the running exporter inspects no call: set calls: {enabled: true} on the app "
            "in its configuration (and channels: [...] to watch some channels only), or stop "
            "it to let this command fetch the calls itself"
        )
    return EXIT_OK
