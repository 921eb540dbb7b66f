"""Freshness benchmark: how late the shipped alerts fire (`make bench-freshness`).

The daemon with the default configuration on Enterprise's own limits (one app,
both product types, the default metrics; Data Insights on, as by default)
runs for 25 simulated hours against the simulator and its project-wide
incidents (one every 45 minutes), three times:

1. every series weighing the same, both product types carrying traffic (the
   baseline: the plan before weights);
2. the default weights, both product types carrying traffic;
3. the default weights, WebRTC without any user all day (the simulator's
   ``idle_product_types``): once its userCount has read 0 for a horizon the
   exporter pauses its other series and gives their share to Native's.

Prometheus is played by a scrape every 15 simulated seconds (OpenMetrics,
gzip; replay, the default exposition mode) and ``promtool test rules`` on the
shipped ``deploy/prometheus/alerts.yml`` (``bench/freshness_rules.py``). For
each project-scope quality alert and product type: the incidents, the delay
from each incident's first window (the first 20 s window of the incident in
which the simulator's rate is beyond the rule's threshold) to the alert
firing, min / median / max, next to what ``agora-exporter plan`` expects
(replay lag + the rule's ``for``), and the incidents that did not fire and
why; the same delays once more with the rules evaluated 14 s after each
scrape (a Prometheus's evaluations keep a phase of their own). Per run:
windows missed, requests refused, requests per budget in the run, and the
real-time requests of the last 24 hours by the exporter's ledger: the daily
spend once the start's catch-up (one more poll of every series, which the
headroom is there to absorb) is an hour behind.

Targets: in every run 0 windows missed and 0 refusals; with the default
weights, the audio and video freeze alerts fire at most 12 minutes after each
incident's first window with both product types busy and at most 9 with one
(incidents that began after the pause; before it, 12), every incident long
enough to fire an alert does (the run's end aside), and the last 24 hours'
real-time requests stay within (1 - headroom) of the daily limit.

    python -m bench.freshness [--hours 25] [--json out.json]

A benchmark, not a test: it prints the figures, a PASS or FAIL per target, and
exits 1 if one fails. The three runs take about 2.5 minutes on 2 vCPUs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from time import monotonic
from typing import Any

from bench.freshness_measure import Measured, measure, verdicts
from bench.freshness_report import markdown
from bench.freshness_run import Scenario, run

SCENARIOS = (
    Scenario("equal weights, both product types busy", equal_weights=True),
    Scenario("default weights, both product types busy", equal_weights=False),
    Scenario("default weights, WebRTC idle", equal_weights=False, idle=("WebRTC",)),
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=25.0, help="simulated hours (default 25)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.hours < 2:
        parser.error("--hours must be at least 2 (the pause waits for a horizon)")
    return args


def figures(measured: Measured) -> dict[str, Any]:
    """One run's figures as JSON (what was served left out)."""
    result = measured.result
    return {
        "scenario": asdict(result.scenario),
        "summaries": [asdict(one) for one in measured.summaries],
        "late_summaries": [asdict(one) for one in measured.late],
        "phases": measured.phases,
        "paused_at": measured.paused_at,
        "requests": result.requests,
        "last_day": result.last_day,
        "requests_planned": result.requests_planned,
        "refused": result.refused,
        "missed": result.missed,
        "seconds": result.seconds,
    }


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    started = monotonic()
    runs = [measure(run(scenario, args.hours), args.hours) for scenario in SCENARIOS]
    if args.json is not None:
        args.json.write_text(json.dumps([figures(one) for one in runs], indent=2) + "\n")
    print(markdown(runs, monotonic() - started))
    return 0 if all(ok for _, ok in verdicts(runs)) else 1


if __name__ == "__main__":
    sys.exit(main())
