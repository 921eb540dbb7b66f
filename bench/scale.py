"""Scale benchmark: /metrics at 22,000 series, memory, start-up (`make bench`).

One run, everything side by side on one machine:

1. ``--demo``: seconds from start to a /metrics showing every real-time family.
2. The exporter as its own process with the issue's config: 200 channels x 10
   uids x 5 quality metrics x 2 product types (22,010 series, 4,010 requests a
   round), quotas raised in the simulators and in the config, an empty state
   directory. Its first round backfills the API's whole hour for every series
   through the real poller: 4,010 requests, paced by the per-minute limit
   (220 s). Two simulator processes behind nginx answer them (one Python
   process answers only ~20 such requests a second). Meanwhile 8 wrk
   connections scrape /metrics four times a second each: the scrapes must stay
   fast, and the polls keep the pace the exporter's own ledger says they planned.
3. With the hour stored: the same 8 paced scrapers (the latency target); then
   wrk back to back on 8 connections against /metrics and against nginx
   serving the identical bytes from a file (the throughput target), as curl
   asks (plain text, 7 MB) and as Prometheus asks (OpenMetrics, gzip).
   Resident memory (VmRSS) is sampled from /proc all along.

    python -m bench.scale [--duration 20] [--json out.json]

Needs Debian's wrk and nginx (``apt-get install -y wrk nginx-light``). A
benchmark, not a test: it measures, prints the figures against the issue's
targets and exits 1 if one is missed. About 6 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import INSTALL_HINT, Nginx, WrkResult, missing_tools, wrk
from bench.processes import Memory, demo_seconds, exporter, get, simulators
from bench.scale_report import PAUSE_MS, Report, Serving, markdown, verdicts
from exporter.agora.limits import Budget
from exporter.scheduling.planner import make_plan
from exporter.scheduling.queue import first_runs
from exporter.settings import load_settings
from exporter.store.schema import DB_NAME

APPID = "0123456789abcdef0123456789abcdef"
CUSTOMER = ("bench-customer", "bench-Secret-9")
QUALITY = ["joinSuccessRate", "joinSuccessIn5sRate", "audioFreezeRate", "videoFreezeRate"]
QUALITY.append("networkDelay")
PER_MINUTE = 1100  # the first round's 4,010 requests then take 220 s, the least the
# scheduler's catch-up allows (the first minute's allowance 0.2 s apart, the rest as it frees)
SIMULATORS = 2  # at most 23 requests a second: more than one simulator process answers
PER_DAY = 300_000  # then each series is polled every 1,300 s
PLAIN = {"Accept-Encoding": "identity"}
PROMETHEUS = {
    "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    "Accept-Encoding": "gzip",
}


def issue_config(base_url: str, state_dir: Path) -> dict[str, Any]:
    channels = [
        {
            "cname": f"room-{index:03d}",
            "uids": list(range(10_000 + index * 10, 10_010 + index * 10)),
        }
        for index in range(200)
    ]
    return {
        "agora": {
            "base_url": base_url,
            "customer_id": CUSTOMER[0],
            "customer_secret": CUSTOMER[1],
            "plan": "enterprise",
            "quota": {"realtime": {"per_minute": PER_MINUTE, "per_day": PER_DAY}},
        },
        "state_dir": str(state_dir),
        "apps": [
            {
                "appid": APPID,
                "product_types": ["Native", "WebRTC"],
                "realtime": {"usage": [], "quality": QUALITY, "channels": channels},
                "insight": {"enabled": False},
            }
        ],
    }


def _ledger(state_dir: Path, limit: int) -> list[float]:
    """When the exporter sent its first ``limit`` requests (its own ledger, read-only)."""
    path = state_dir / DB_NAME
    if not path.exists():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        query = "SELECT at FROM ledger ORDER BY at LIMIT ?"
        return [at for (at,) in db.execute(query, (limit,))]


def busiest_minute(sent: list[float]) -> int:
    """The most requests in any 60 s: the quota check that holds however many
    simulators shared the traffic (each one sees only its part)."""
    most, first = 0, 0
    for last, at in enumerate(sent):
        while at - sent[first] >= 60:
            first += 1
        most = max(most, last - first + 1)
    return most


def first_round(
    state_dir: Path, planned: list[float], timeout_s: float
) -> tuple[float, float, int, int]:
    """Wait for the first round's requests.

    Returns how long they took, how late one fell at worst, how many were sent,
    and the most sent in any minute.

    The ledger holds the time each request left, whatever the simulators did with it.
    """
    deadline = time.monotonic() + timeout_s
    sent = _ledger(state_dir, len(planned))
    while len(sent) < len(planned) and time.monotonic() < deadline:
        time.sleep(1)
        sent = _ledger(state_dir, len(planned))
    late = max(at - sent[0] - due for at, due in zip(sent, planned, strict=False))
    return sent[-1] - sent[0], max(0.0, late), len(sent), busiest_minute(sent)


def allowed(due: list[float], per_minute: int) -> list[float]:
    """When each request may leave at the earliest: when it is due, and when the
    sliding minute has room (the exporter's own rule; the scheduler's catch-up
    plans 300 requests a minute more than that after the first minute)."""
    found: list[float] = []
    for index, at in enumerate(due):
        if index >= per_minute:
            at = max(at, found[index - per_minute] + 60)
        found.append(max(at, found[-1]) if found else at)
    return found


def refused(text: str) -> dict[str, float]:
    """Requests that did not succeed, per outcome, from the exporter's own counters."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if (
            line.startswith("agora_exporter_api_requests_total{")
            and 'outcome="success"' not in line
        ):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return {outcome: count for outcome, count in found.items() if count}


def serve_side_by_side(url: str, headers: dict[str, str], duration_s: float) -> Serving:
    """wrk on the exporter, then on nginx serving the bytes the exporter just sent."""
    with httpx.stream("GET", url, headers=headers, timeout=30) as answer:
        raw = b"".join(answer.iter_raw())  # still gzipped when it was sent so
        content_type = answer.headers["Content-Type"]
        encoding = answer.headers.get("Content-Encoding")
    ours = wrk(url, duration_s=duration_s, headers=headers)
    with tempfile.TemporaryDirectory(prefix="agora-bench-body-") as scratch:
        body = Path(scratch) / "metrics"
        body.write_bytes(raw)
        extra = {"Content-Encoding": encoding} if encoding else {}
        with Nginx.file(body, content_type=content_type, headers=extra) as nginx:
            theirs = wrk(nginx.url, duration_s=duration_s, headers=headers)
    return Serving(body_bytes=len(raw), exporter=ours, nginx=theirs)


def run(duration_s: float) -> Report:
    notes: list[str] = []
    demo = demo_seconds()
    with (
        tempfile.TemporaryDirectory(prefix="agora-bench-scale-") as scratch,
        simulators(SIMULATORS, CUSTOMER, (PER_MINUTE, PER_DAY)) as base_url,
    ):
        state_dir = Path(scratch) / "state"
        config = issue_config(base_url, state_dir)
        plan = make_plan(load_settings(None, environ={}, overrides=config))
        runs = first_runs(plan.series, plan, now=0.0, is_stale=lambda one: True)
        limits = plan.budgets[Budget.REALTIME].limits
        planned = allowed(sorted(runs.values()), limits.minute_capacity)
        with exporter(config, Path(scratch)) as (url, pid):
            memory = Memory(pid)
            during: list[WrkResult] = []
            scrapers = threading.Thread(
                target=lambda: during.append(
                    wrk(url, duration_s=planned[-1] + 5, headers=PROMETHEUS, pause_ms=PAUSE_MS)
                )
            )
            scrapers.start()
            round_s, late, sent, busiest = first_round(state_dir, planned, planned[-1] + 120)
            scrapers.join()
            if sent < len(planned):
                notes.append(f"only {sent} of {len(planned)} requests were sent")
            time.sleep(5)  # the last answers are committed
            text = get(url, PROMETHEUS).text  # OpenMetrics: the plain text format waits its turn
            exposed = sum(1 for line in text.splitlines() if line.startswith("agora_realtime_"))
            failed = refused(text)
            notes += [f"{count:.0f} requests ended {outcome}" for outcome, count in failed.items()]
            memory.mark()
            paced = wrk(url, duration_s=2 * duration_s, headers=PROMETHEUS, pause_ms=PAUSE_MS)
            rss_one = memory.most  # only Prometheus's format scraped so far
            plain = serve_side_by_side(url, PLAIN, duration_s)
            prometheus = serve_side_by_side(url, PROMETHEUS, duration_s / 2)
            rss, peak = memory.most, memory.status("VmHWM")
            memory.stop()
        return Report(
            cpus=os.cpu_count() or 1,
            series=sum(max(1, len(one.uids)) for one in plan.series),
            requests_per_round=len(plan.series),
            interval_s=plan.budgets[Budget.REALTIME].interval_s,
            demo_s=round(demo, 2),
            round_s=round(round_s, 1),
            round_planned_s=round(planned[-1], 1),
            round_late_max_s=round(late, 2),
            round_refused=round(sum(failed.values())),
            round_busiest_minute=busiest,
            per_minute=limits.minute_capacity,
            during_round=during[0],
            paced=paced,
            prometheus=prometheus,
            plain=plain,
            rss_mib=round(rss, 1),
            rss_one_format_mib=round(rss_one, 1),
            rss_peak_mib=round(peak, 1),
            samples_exposed=exposed,
            notes=notes,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"{' and '.join(missing)} missing; {INSTALL_HINT}", file=sys.stderr)
        return 2
    report = run(args.duration)
    print(markdown(report))
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if all(ok for _, ok in verdicts(report)) else 1


if __name__ == "__main__":
    sys.exit(main())
