"""The bridge's counters, shared by the listener's and the forwarders' threads."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping

from exporter.serving.console_view import KINDS, REJECT_REASONS, ConsoleAlertState


class ConsoleStats:
    """Counts since start; :meth:`snapshot` adds the queue's gauges. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted: Counter[str] = Counter({kind: 0 for kind in KINDS})
        self._rejected: Counter[str] = Counter({reason: 0 for reason in REJECT_REASONS})
        self._forwarded: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._duplicates = 0

    def preset_targets(self, targets: Iterable[str]) -> None:
        """Show every Alertmanager's counters from the start, at 0."""
        with self._lock:
            for target in targets:
                self._forwarded.setdefault(target, 0)
                self._failures.setdefault(target, 0)

    def accepted(self, kind: str) -> None:
        with self._lock:
            self._accepted[kind] += 1

    def duplicate(self) -> None:
        with self._lock:
            self._duplicates += 1

    def rejected(self, reason: str) -> None:
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        with self._lock:
            self._rejected[reason] += 1

    def forwarded(self, target: str, count: int) -> None:
        with self._lock:
            self._forwarded[target] += count

    def failed(self, target: str) -> None:
        with self._lock:
            self._failures[target] += 1

    def snapshot(
        self,
        *,
        targets: Iterable[str],
        queue_depth: int,
        active: int,
        last_alert: Mapping[str, float],
    ) -> ConsoleAlertState:
        """The counters of the configured Alertmanagers, and the queue's gauges."""
        shown = list(targets)
        with self._lock:
            return ConsoleAlertState(
                enabled=True,
                accepted=dict(self._accepted),
                duplicates=self._duplicates,
                rejected=dict(self._rejected),
                forwarded={target: self._forwarded[target] for target in shown},
                forward_failures={target: self._failures[target] for target in shown},
                queue_depth=queue_depth,
                active=active,
                last_alert=dict(last_alert),
            )
