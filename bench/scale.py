"""Scale benchmark: /metrics at 22,000 series, memory, start-up (`make bench`).

One run, everything side by side on one machine:

1. ``--demo``: seconds from start to a /metrics showing every real-time family.
2. The exporter as its own process with the issue's config: 200 channels x 10
   uids x 5 quality metrics x 2 product types (22,010 series, 4,010 requests a
   round), quotas raised in the simulator (in this process) and in the config,
   an empty state directory. Its first round backfills the API's whole hour for
   every series: 4,010 requests, paced by the per-minute limit. Meanwhile wrk
   scrapes /metrics on 8 connections back to back: the polls must keep their
   planned pace, the scrapes their latency.
3. With the hour stored: wrk on 8 connections against /metrics and against
   nginx serving the identical bytes from a file, first as Prometheus asks
   (OpenMetrics, gzip), then as curl asks (plain text, 11 MB a scrape).
   Resident memory (VmRSS) is sampled from /proc all along.

    python -m bench.scale [--duration 30] [--json out.json]

Needs Debian's wrk and nginx (``apt-get install -y wrk nginx-light``). A
benchmark, not a test: it measures, prints the figures against the issue's
targets and exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.loadgen import INSTALL_HINT, Nginx, WrkResult, free_port, missing_tools, wrk
from exporter.demo import demo_overrides
from exporter.planning import make_plan
from exporter.plans import Budget
from exporter.scheduler import first_runs
from exporter.settings import load_settings
from exporter.simulator import Simulator
from exporter.store.schema import DB_NAME

APPID = "0123456789abcdef0123456789abcdef"
CUSTOMER = ("bench-customer", "bench-Secret-9")
QUALITY = ["joinSuccessRate", "joinSuccessIn5sRate", "audioFreezeRate", "videoFreezeRate"]
QUALITY.append("networkDelay")
PER_MINUTE = 1100  # the first round's 4,010 requests then take the least time (~220 s)
PER_DAY = 300_000  # then each series is polled every 1,300 s
PAUSE_MS = 250  # a paced scraper: 4 scrapes a second each, 32 in all
PLAIN = {"Accept-Encoding": "identity"}
PROMETHEUS = {
    "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    "Accept-Encoding": "gzip",
}
TARGETS = {"p99_ms": 50.0, "nginx_share": 0.25, "rss_mib": 150.0, "demo_s": 10.0}


@dataclass
class Serving:
    """wrk against the exporter and against nginx with the same bytes."""

    body_bytes: int
    exporter: WrkResult
    nginx: WrkResult

    @property
    def nginx_share(self) -> float:
        return self.exporter.per_second / self.nginx.per_second


@dataclass
class Report:
    cpus: int
    series: int
    requests_per_round: int
    interval_s: int
    demo_s: float
    round_s: float
    round_planned_s: float
    round_late_max_s: float
    round_refused: int
    during_round: WrkResult
    paced: WrkResult
    prometheus: Serving
    plain: Serving
    rss_mib: float
    rss_peak_mib: float
    samples_exposed: int
    notes: list[str] = field(default_factory=list)


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


class Memory:
    """Samples a process's VmRSS every half second; ``mark()`` starts a new maximum."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self.most = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def status(self, key: str) -> float:
        for line in Path(f"/proc/{self._pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.most = max(self.most, self.status("VmRSS"))
            except OSError:
                return

    def mark(self) -> None:
        self.most = self.status("VmRSS")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, headers=headers or {}, timeout=30)


def demo_seconds() -> float:
    """Seconds from starting ``--demo`` to a /metrics with every real-time family of its plan."""
    families = {one.family for one in make_plan(_demo_settings()).series}
    port = free_port()
    started = time.monotonic()
    args = [sys.executable, "-m", "exporter", "--demo", f"--web.listen-address=127.0.0.1:{port}"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 60:
            try:
                text = _get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.HTTPError:
                text = ""
            shown = {line.split("{", 1)[0] for line in text.splitlines() if "{" in line}
            if families <= shown:
                return time.monotonic() - started
            time.sleep(0.05)
        raise SystemExit("--demo did not populate /metrics within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _demo_settings() -> Any:
    return load_settings(None, environ={}, overrides=demo_overrides("http://127.0.0.1:1", Path()))


@contextmanager
def exporter(config: dict[str, Any], directory: Path) -> Iterator[tuple[str, int]]:
    """The exporter as its own process; yields its /metrics URL and pid."""
    config_file = directory / "agora.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [sys.executable, "-m", "exporter", f"--config.file={config_file}"]
    args.append(f"--web.listen-address=127.0.0.1:{port}")
    with (directory / "exporter.log").open("w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + 60
            while True:
                try:
                    _get(url)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit(f"the exporter did not start; see {directory}") from None
                    time.sleep(0.1)
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def first_round(sim: Simulator, series: int, timeout_s: float) -> int:
    """Wait until the simulator was asked for every series once; how many it was asked for."""
    deadline = time.monotonic() + timeout_s
    while True:
        asked = {
            tuple(entry.params.get(k, "") for k in ("productType", "metric", "cname", "uids"))
            for entry in sim.requests()
        }
        if len(asked) >= series or time.monotonic() > deadline:
            return len(asked)
        time.sleep(1)


def pace(state_dir: Path, planned: list[float]) -> tuple[float, float]:
    """From the exporter's own ledger: (how long its first round took, how late it fell at worst).

    The ledger holds the time each request left, whatever the simulator did with it.
    """
    uri = f"file:{state_dir / DB_NAME}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        sent = [
            at for (at,) in db.execute("SELECT at FROM ledger ORDER BY at LIMIT ?", (len(planned),))
        ]
    late = max(at - sent[0] - due for at, due in zip(sent, planned, strict=False))
    return sent[-1] - sent[0], max(0.0, late)


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
        with Nginx(body, content_type=content_type, headers=extra) as nginx:
            theirs = wrk(nginx.url, duration_s=duration_s, headers=headers)
    return Serving(body_bytes=len(raw), exporter=ours, nginx=theirs)


def run(duration_s: float) -> Report:
    notes: list[str] = []
    demo = demo_seconds()
    with (
        tempfile.TemporaryDirectory(prefix="agora-bench-scale-") as scratch,
        Simulator(
            plan="enterprise", customer_id=CUSTOMER[0], customer_secret=CUSTOMER[1], seed=42
        ) as sim,
    ):
        # The simulator counts a request when it gets to it: a little slack for its own queue.
        sim.set_quota(Budget.REALTIME, per_minute=PER_MINUTE * 11 // 10, per_day=PER_DAY)
        config = issue_config(sim.base_url, Path(scratch) / "state")
        plan = make_plan(load_settings(None, environ={}, overrides=config))
        runs = first_runs(plan.series, plan, now=0.0, is_stale=lambda one: True)
        planned = sorted(runs.values())
        with exporter(config, Path(scratch)) as (url, pid):
            memory = Memory(pid)
            during: list[WrkResult] = []
            scrapers = threading.Thread(
                target=lambda: during.append(
                    wrk(url, duration_s=planned[-1] + 10, headers=PROMETHEUS, pause_ms=PAUSE_MS)
                )
            )
            scrapers.start()
            asked = first_round(sim, len(plan.series), planned[-1] + 120)
            scrapers.join()
            round_s, late = pace(Path(scratch) / "state", planned)
            if asked < len(plan.series):
                notes.append(f"only {asked} of {len(plan.series)} series were polled")
            time.sleep(5)  # the last polls commit
            text = _get(url).text
            exposed = sum(1 for line in text.splitlines() if line.startswith("agora_realtime_"))
            memory.mark()
            paced = wrk(url, duration_s=2 * duration_s, headers=PROMETHEUS, pause_ms=PAUSE_MS)
            plain = serve_side_by_side(url, PLAIN, duration_s)
            prometheus = serve_side_by_side(url, PROMETHEUS, duration_s / 2)
            rss, peak = memory.most, memory.status("VmHWM")
            memory.stop()
        refused = Counter(str(entry.message) for entry in sim.refused())
        notes += [f"refused: {count} x {message}" for message, count in refused.items()]
        return Report(
            cpus=os.cpu_count() or 1,
            series=sum(max(1, len(one.uids)) for one in plan.series),
            requests_per_round=len(plan.series),
            interval_s=plan.budgets[Budget.REALTIME].interval_s,
            demo_s=round(demo, 2),
            round_s=round(round_s, 1),
            round_planned_s=round(planned[-1], 1),
            round_late_max_s=round(late, 2),
            round_refused=sum(refused.values()),
            during_round=during[0],
            paced=paced,
            prometheus=prometheus,
            plain=plain,
            rss_mib=round(rss, 1),
            rss_peak_mib=round(peak, 1),
            samples_exposed=exposed,
            notes=notes,
        )


def _serving_rows(name: str, serving: Serving) -> list[str]:
    """wrk back to back on 8 connections: the exporter, then nginx on the same bytes."""
    ours, theirs = serving.exporter, serving.nginx
    errors = ours.errors + ours.non_2xx
    return [
        f"| {name}: body | {serving.body_bytes / 1e6:.2f} MB |",
        f"| {name}: exporter p50 / p99 / max | {ours.p50_ms:.1f} / {ours.p99_ms:.1f} / "
        f"{ours.max_ms:.0f} ms, {ours.per_second:,.0f} scrapes/s, {errors} errors |",
        f"| {name}: nginx p50 / p99 / max | {theirs.p50_ms:.1f} / {theirs.p99_ms:.1f} / "
        f"{theirs.max_ms:.0f} ms, {theirs.per_second:,.0f} scrapes/s |",
        f"| {name}: exporter / nginx throughput | {serving.nginx_share:.2f} |",
    ]


def verdicts(report: Report) -> list[tuple[str, bool]]:
    during, paced = report.during_round, report.paced
    p99 = TARGETS["p99_ms"]
    return [
        (f"/metrics p99 <= {p99:g} ms with 8 concurrent scrapers", paced.p99_ms <= p99),
        (
            f"throughput >= {TARGETS['nginx_share']:g} x nginx's on the identical bytes",
            report.plain.nginx_share >= TARGETS["nginx_share"],
        ),
        (
            f"RSS <= {TARGETS['rss_mib']:g} MiB with an hour stored",
            report.rss_mib <= TARGETS["rss_mib"],
        ),
        (f"--demo populated within {TARGETS['demo_s']:g} s", report.demo_s <= TARGETS["demo_s"]),
        (
            f"scrapes not starved by the first round's polls (p99 <= {p99:g} ms, no errors)",
            during.errors + during.non_2xx == 0 and during.p99_ms <= p99,
        ),
        (
            "the polls kept their pace under scrapes (<= 5 s late, none refused)",
            report.round_late_max_s <= 5 and report.round_refused == 0 and not report.notes,
        ),
    ]


def _latency(result: WrkResult) -> str:
    errors = result.errors + result.non_2xx
    return (
        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, max {result.max_ms:.0f} ms, "
        f"{result.per_second:,.0f}/s, {errors} errors"
    )


def markdown(report: Report) -> str:
    pace = f"8 scrapers, {1000 // PAUSE_MS} scrapes/s each"
    rows = [
        f"| {report.series:,} series, {report.cpus} CPUs | |",
        "|---|---|",
        f"| `--demo` to a populated /metrics | {report.demo_s:.1f} s |",
        f"| first round: {report.requests_per_round:,} requests, an hour each | "
        f"{report.round_s:.0f} s (planned {report.round_planned_s:.0f} s, at worst "
        f"{report.round_late_max_s:.1f} s late), {report.round_refused} refused |",
        f"| scrapes during the round ({pace}) | {_latency(report.during_round)} |",
        f"| real-time samples exposed | {report.samples_exposed:,} |",
        f"| /metrics with the hour stored ({pace}) | {_latency(report.paced)} |",
        *_serving_rows("plain text", report.plain),
        *_serving_rows("OpenMetrics + gzip", report.prometheus),
        f"| exporter RSS (most sampled, peak) | {report.rss_mib:.0f} MiB, "
        f"{report.rss_peak_mib:.0f} MiB |",
    ]
    checks = [f"{'PASS' if ok else 'FAIL'}  {text}" for text, ok in verdicts(report)]
    return "\n".join([*rows, "", *checks, *report.notes])


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
