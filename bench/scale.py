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
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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

APPID = "0123456789abcdef0123456789abcdef"
CUSTOMER = ("bench-customer", "bench-Secret-9")
QUALITY = ["joinSuccessRate", "joinSuccessIn5sRate", "audioFreezeRate", "videoFreezeRate"]
QUALITY.append("networkDelay")
PER_MINUTE = 1100  # the first round's 4,010 requests then take the least time (~220 s)
PER_DAY = 1_300_000  # a poll of each series every 300 s
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


def first_round(sim: Simulator, series: int, planned: list[float], timeout_s: float) -> Any:
    """Wait until every series was asked for once; (duration, worst lateness) of that round."""
    deadline = time.monotonic() + timeout_s
    while True:
        asked: dict[tuple[str, ...], float] = {}
        for entry in sim.requests():
            key = tuple(entry.params.get(k, "") for k in ("productType", "metric", "cname", "uids"))
            asked.setdefault(key, entry.at)
        if len(asked) >= series or time.monotonic() > deadline:
            break
        time.sleep(1)
    times = sorted(asked.values())
    late = max(at - times[0] - due for at, due in zip(times, planned, strict=False))
    return times[-1] - times[0], max(0.0, late), len(asked)


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
        sim.set_quota(Budget.REALTIME, per_minute=PER_MINUTE, per_day=PER_DAY)
        config = issue_config(sim.base_url, Path(scratch) / "state")
        plan = make_plan(load_settings(None, environ={}, overrides=config))
        budget = plan.budgets[Budget.REALTIME]
        runs = first_runs(plan.series, plan, now=0.0, is_stale=lambda one: True)
        planned = sorted(runs.values())
        with exporter(config, Path(scratch)) as (url, pid):
            memory = Memory(pid)
            during: list[WrkResult] = []
            scraper = threading.Thread(
                target=lambda: during.append(
                    wrk(url, duration_s=planned[-1] + 10, headers=PROMETHEUS)
                )
            )
            scraper.start()
            round_s, late, asked = first_round(sim, len(plan.series), planned, planned[-1] + 120)
            scraper.join()
            if asked < len(plan.series):
                notes.append(f"only {asked} of {len(plan.series)} series were polled")
            time.sleep(5)  # the last polls commit
            text = _get(url).text
            exposed = sum(1 for line in text.splitlines() if line.startswith("agora_realtime_"))
            memory.mark()
            prometheus = serve_side_by_side(url, PROMETHEUS, duration_s)
            plain = serve_side_by_side(url, PLAIN, duration_s)
            rss, peak = memory.most, memory.status("VmHWM")
            memory.stop()
        return Report(
            cpus=os.cpu_count() or 1,
            series=sum(max(1, len(one.uids)) for one in plan.series),
            requests_per_round=len(plan.series),
            interval_s=budget.interval_s,
            demo_s=round(demo, 2),
            round_s=round(round_s, 1),
            round_planned_s=round(planned[-1], 1),
            round_late_max_s=round(late, 2),
            round_refused=len(sim.refused()),
            during_round=during[0],
            prometheus=prometheus,
            plain=plain,
            rss_mib=round(rss, 1),
            rss_peak_mib=round(peak, 1),
            samples_exposed=exposed,
            notes=notes,
        )


def _serving_rows(name: str, serving: Serving) -> list[str]:
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
    during = report.during_round
    return [
        (
            f"/metrics p99 <= {TARGETS['p99_ms']:g} ms with 8 scrapers (as Prometheus asks)",
            report.prometheus.exporter.p99_ms <= TARGETS["p99_ms"],
        ),
        (
            f"throughput >= {TARGETS['nginx_share']:g} x nginx's on the same bytes (both runs)",
            min(report.prometheus.nginx_share, report.plain.nginx_share) >= TARGETS["nginx_share"],
        ),
        (
            f"RSS <= {TARGETS['rss_mib']:g} MiB with an hour stored",
            report.rss_mib <= TARGETS["rss_mib"],
        ),
        (f"--demo populated within {TARGETS['demo_s']:g} s", report.demo_s <= TARGETS["demo_s"]),
        (
            "the first round's polls kept their pace under scrapes (<= 5 s late, none refused)",
            report.round_late_max_s <= 5 and report.round_refused == 0 and not report.notes,
        ),
        (
            "scrapes were answered during the round (no errors, p99 <= 1 s)",
            during.errors + during.non_2xx == 0 and during.p99_ms <= 1000,
        ),
    ]


def markdown(report: Report) -> str:
    during = report.during_round
    rows = [
        f"| {report.series:,} series, {report.cpus} CPUs | |",
        "|---|---|",
        f"| `--demo` to a populated /metrics | {report.demo_s:.1f} s |",
        f"| first round: {report.requests_per_round:,} requests | {report.round_s:.0f} s "
        f"(planned {report.round_planned_s:.0f} s, at worst {report.round_late_max_s:.1f} s late), "
        f"{report.round_refused} refused |",
        f"| scrapes during the round (8 connections) | p50 {during.p50_ms:.1f} ms, "
        f"p99 {during.p99_ms:.1f} ms, max {during.max_ms:.0f} ms, {during.per_second:,.0f}/s, "
        f"{during.errors + during.non_2xx} errors |",
        f"| real-time samples exposed | {report.samples_exposed:,} |",
        *_serving_rows("OpenMetrics + gzip", report.prometheus),
        *_serving_rows("plain text", report.plain),
        f"| exporter RSS (most sampled, peak) | {report.rss_mib:.0f} MiB, "
        f"{report.rss_peak_mib:.0f} MiB |",
    ]
    checks = [f"{'PASS' if ok else 'FAIL'}  {text}" for text, ok in verdicts(report)]
    return "\n".join([*rows, "", *checks, *report.notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per wrk run")
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
