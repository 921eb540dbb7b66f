"""One Call Inspector cycle: search the ongoing calls, then fetch each inspected call.

Per app (a :class:`CallTarget`), a cycle

1. searches the calls since each search's cursor (paging, and narrowing a
   search Agora answered only in part (``has_more``), within the plan's page
   allowance) and moves the cursor to the oldest call still ongoing;
2. updates the inspected calls: a call the search says has finished gets an
   end; calls of channels no longer watched and calls whose last window was
   shown a cycle ago are forgotten (their series disappear); new ongoing
   calls fill the free places up to ``max_calls``, longest-running first (the
   API has published their data; a call younger than its 300 s delay has
   none yet, and may be over before it has), and the rest are counted as
   skipped;
3. per inspected call, asks for the sessions overlapping the next frame (at
   most ``max_sessions_per_call``, the rest counted) and their metrics, 20
   sessions per request, keeps the newest sample of each series and moves the
   call's cursor past the frame. Sessions no longer in the frame take their
   series with them.

Nothing raises out of :meth:`CallInspector.run_cycle`: failures are logged and
counted in the stats, as the real-time poller does.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import replace

from exporter.agora import AgoraError
from exporter.agora.limits import Budget
from exporter.calls.choosing import Covered, Listed, choose_calls
from exporter.calls.fetch import CallFetcher, CycleStop
from exporter.calls.frames import details_frame, is_done, list_frame, next_list_cursor
from exporter.calls.gather import call_samples, call_sessions, search_calls
from exporter.calls.plan import PAGE_SIZE, CallPlan, CallTarget
from exporter.calls.view import CallState
from exporter.catalog.calls import SKIP_REASONS
from exporter.quota.request_stats import RuntimeStats
from exporter.store import StateDirError, Store
from exporter.store.calls import TrackedCall
from exporter.timing.clock import Clock, system_clock

log = logging.getLogger(__name__)


class CallInspector:
    """Runs inspection cycles one at a time; :meth:`state` is safe from any thread."""

    def __init__(
        self,
        *,
        fetcher: CallFetcher,
        store: Store,
        stats: RuntimeStats,
        plan: CallPlan,
        clock: Clock = system_clock,
        page_size: int = PAGE_SIZE,
        forget_others: bool = True,
    ) -> None:
        self._fetcher = fetcher
        self._store = store
        self._stats = stats
        self._clock = clock
        self._page_size = page_size
        self._forget_others = forget_others
        self._cycle_lock = threading.Lock()
        self._lock = threading.Lock()
        self._skipped: Counter[str] = Counter(dict.fromkeys(SKIP_REASONS, 0))
        self._unknown: Counter[int] = Counter()
        self._ongoing: dict[str, int] = {}
        self._last_cycle_at: float | None = None
        self._last_error: str | None = None
        self._plan = plan
        self._now = 0.0

    def set_plan(self, plan: CallPlan) -> None:
        """Adopt a (re)loaded plan; cursors and inspected calls stay in the store."""
        with self._lock:
            self._plan = plan
        self._fetcher.set_limits({b: bp.limits for b, bp in plan.budgets.items()})

    @property
    def plan(self) -> CallPlan:
        with self._lock:
            return self._plan

    def run_cycle(self) -> bool:
        """Run one cycle (False when one is already running or nothing is configured)."""
        plan = self.plan
        if not plan.targets or not self._cycle_lock.acquire(blocking=False):
            return False
        try:
            self._now = self._clock()
            for target in plan.targets:
                if not self._inspect_app(plan, target):
                    break
            with self._lock:
                self._last_cycle_at = self._now
            return True
        finally:
            self._cycle_lock.release()

    def _inspect_app(self, plan: CallPlan, target: CallTarget) -> bool:
        """One app's part of the cycle; False when the whole cycle must stop."""
        try:
            listed, covered, error = self._search(plan, target)
            skipped = choose_calls(
                self._store.calls,
                target,
                listed,
                covered,
                now=self._now,
                linger_s=plan.interval_s / 2,
                forget_others=self._forget_others,
            )
            self._count("max_calls", skipped)
            for call in self._inspected(target):
                if call.done_at is None:
                    try:
                        self._inspect_call(plan, target, call, listed)
                    except AgoraError as call_error:
                        log.warning(
                            "inspecting a call failed",
                            extra={
                                "appid": target.appid,
                                "call_id": call.call_id,
                                "outcome": call_error.outcome,
                                "error": str(call_error),
                            },
                        )
                        error = call_error
        except CycleStop as stop:
            if stop.outcome != "stopping":  # shutting down is no failure of the app
                log.warning(
                    "Call Inspector cycle stopped",
                    extra={"appid": target.appid, "outcome": stop.outcome, "error": str(stop)},
                )
                self._record(target, stop.outcome, str(stop))
            return False
        except StateDirError as failed:
            log.error(
                "state store failed while inspecting calls",
                extra={"appid": target.appid, "error": str(failed)},
            )
            self._record(target, "store_error", str(failed))
            return False
        except Exception as failed:  # a bug must cost one cycle, never the schedule
            log.exception(
                "inspecting the calls of an app failed unexpectedly",
                extra={"appid": target.appid},
            )
            self._record(target, "internal_error", f"internal error: {type(failed).__name__}")
            return True
        if error is None:
            self._record(target, "success", None)
        else:
            self._record(target, getattr(error, "outcome", "api_error"), str(error))
        return True

    def _inspected(self, target: CallTarget) -> list[TrackedCall]:
        calls = self._store.calls.tracked(target.appid)
        return [c for c in calls if not target.channels or c.cname in target.channels]

    # --- 1. searching ----------------------------------------------------------------

    def _search(
        self, plan: CallPlan, target: CallTarget
    ) -> tuple[Listed, Covered, AgoraError | None]:
        """Every search of the app: the calls found, the frames searched completely, and
        the last error a search met (the app's outcome, as the pollers record theirs)."""
        limits = plan.budgets[Budget.CALL_LISTS].limits
        listed: Listed = {}
        covered: Covered = []
        searched = False
        failed: AgoraError | None = None
        for cname in target.searches:
            key = f"{target.appid}/{cname or ''}"
            frame = list_frame(self._store.calls.list_cursor(key), self._now, limits)
            if frame is None:
                continue
            try:
                search = search_calls(
                    self._fetcher, target.appid, cname, frame, plan.pages_per_search
                )
            except AgoraError as error:
                log.warning(
                    "call search failed",
                    extra={
                        "appid": target.appid,
                        "cname": cname,
                        "outcome": error.outcome,
                        "error": str(error),
                    },
                )
                failed = error
                continue
            searched = True
            calls = search.calls
            listed.update((call.call_id, call) for call in calls)
            self._count("list_pages", search.unreached)
            self._count("search_cap", int(search.capped))
            if search.complete:
                covered.append((cname, search.frame))
            found = {call.call_id for call in calls}
            ongoing = [c.created_ts for c in calls if not c.finished] + [
                c.created_ts
                for c in self._inspected(target)
                if not c.finished and c.call_id not in found and cname in (None, c.cname)
            ]
            oldest = None if search.complete else min((c.created_ts for c in calls), default=None)
            cursor = next_list_cursor(search.frame, ongoing_since=ongoing, oldest_seen=oldest)
            self._store.calls.set_list_cursor(key, cursor)
        if searched:
            with self._lock:
                self._ongoing[target.appid] = sum(1 for c in listed.values() if not c.finished)
        return listed, covered, failed

    # --- 3. one call -----------------------------------------------------------------

    def _inspect_call(
        self, plan: CallPlan, target: CallTarget, call: TrackedCall, listed: Listed
    ) -> None:
        limits = plan.budgets[Budget.CALL_DETAILS].limits
        frame = details_frame(call, self._now, limits, plan.interval_s)
        if frame is None:
            if call.finished:  # everything fetched, or what is left is out of reach
                self._store.calls.upsert([replace(call, done_at=self._now)])
            return
        cap = target.max_sessions_per_call
        sessions, total, frame = call_sessions(
            self._fetcher, target.appid, call, frame, cap=cap, page_size=self._page_size
        )
        self._count("max_sessions_per_call", total - len(sessions))
        found = call_samples(self._fetcher, target.appid, call, frame, sessions)
        with self._lock:
            self._unknown.update(found.unknown)
        updated = replace(
            call, cursor=frame.end + 1, sessions=tuple(sessions), samples=tuple(found.samples)
        )
        if is_done(updated) or (total == 0 and call.call_id not in listed):
            updated = replace(updated, done_at=self._now)
        self._store.calls.commit_details(updated)

    # --- bookkeeping -----------------------------------------------------------------

    def _count(self, reason: str, amount: int) -> None:
        if amount > 0:
            with self._lock:
                self._skipped[reason] += amount

    def _record(self, target: CallTarget, outcome: str, error: str | None) -> None:
        with self._lock:
            self._last_error = error
        self._stats.record_poll(
            series_key=f"calls/{target.appid}",
            appid=target.appid,
            at=self._now,
            outcome=outcome,
            error=error,
        )

    def state(self) -> CallState:
        """What a scrape, the status page and the ``calls`` command show about calls."""
        plan = self.plan
        watched = {target.appid: target.channels for target in plan.targets}
        calls = tuple(
            c
            for c in self._store.calls.snapshot()
            if c.appid in watched and (not watched[c.appid] or c.cname in watched[c.appid])
        )
        with self._lock:
            return CallState(
                enabled=bool(plan.targets),
                interval_s=plan.interval_s,
                calls=calls,
                ongoing=dict(self._ongoing),
                skipped=dict(self._skipped),
                unknown_mids=dict(self._unknown),
                last_cycle_at=self._last_cycle_at,
                last_error=self._last_error,
            )
