"""Load benchmark: many concurrent scrapers on /metrics while polls run (`make bench-load`).

Runs the real exporter as a process against the embedded simulator (in this
process, so every poll it receives is logged), with the demo's 58 series
polled every 40 s, then lets ``--scrapers`` threads scrape /metrics back to
back (keep-alive, no pause) for ``--duration`` seconds. It reports failed
scrapes, scrape latency, the exporter's CPU and memory, and how far each poll
strayed from its planned interval. Exits 1 if a scrape failed, a poll was
refused or a poll came more than ``--late`` seconds off schedule.

    python -m bench.load [--scrapers 200] [--duration 60] [--tls] [--json out.json]

``--tls`` serves through TLS with basic auth (a web config made on the fly),
so every scrape pays for the handshake's keep-alive share and the auth check.
A benchmark, not a test: it measures; the test suite never times anything.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import math
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.agora.limits import Budget, Endpoint
from exporter.cli.demo import DEMO_CUSTOMER_ID, DEMO_CUSTOMER_SECRET, demo_overrides
from exporter.scheduling.planner import make_plan
from exporter.settings import load_settings
from exporter.simulator import Simulator

INTERVAL_S = 40  # a whole number of 20 s windows, as the planner rounds
HEADROOM = 0.1
USER, PASSWORD = "prometheus", "bench-Password-1"


@dataclass
class Scrapes:
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies_s: list[float] = field(default_factory=list)
    bytes: int = 0


@dataclass
class Report:
    scrapers: int
    duration_s: float
    tls: bool
    series: int
    interval_s: int
    scrapes_ok: int
    scrapes_failed: int
    scrape_errors: dict[str, int]
    scrapes_per_s: float
    latency_ms: dict[str, float]
    body_kib: float
    polls: int
    polls_refused: int
    poll_offset_s: dict[str, float]
    exporter_cpu_s: float
    exporter_cpu_share: float
    exporter_rss_mib: float
    cpus: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(base_url: str, state: Path) -> tuple[dict[str, Any], int, int]:
    """The demo's config with a quota that polls each series every INTERVAL_S."""
    config = demo_overrides(base_url, state)
    series = len(make_plan(load_settings(None, environ={}, overrides=config)).series)
    per_day = math.floor(series * 86400 / ((1 - HEADROOM) * INTERVAL_S))
    per_minute = math.ceil(series * 60 / INTERVAL_S) * 2
    config["agora"]["quota"] = {"realtime": {"per_minute": per_minute, "per_day": per_day}}
    config["agora"]["headroom"] = HEADROOM
    plan = make_plan(load_settings(None, environ={}, overrides=config))
    return config, series, plan.budgets[Budget.REALTIME].interval_s


def _web_config(directory: Path) -> tuple[Path, ssl.SSLContext]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.tls_certs import bcrypt_hash, make_pki

    pki = make_pki(directory / "pki")
    web = {
        "tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)},
        "basic_auth_users": {USER: bcrypt_hash(PASSWORD, cost=10)},
    }
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(web))
    return path, ssl.create_default_context(cafile=str(pki.ca))


def _cpu_and_rss(pid: int) -> tuple[float, float]:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return cpu, rss_kib / 1024


def _ready(port: int, context: ssl.SSLContext | None, auth: dict[str, str]) -> bool:
    try:
        body = _get(_connect(port, context), "/metrics", auth)
    except OSError:
        return False
    return body.count(b"agora_realtime_newest_window_timestamp_seconds{") > 0


def _connect(port: int, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if context is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> bytes:
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise OSError(f"HTTP {answer.status}")
    return body


def _scraper(
    port: int,
    context: ssl.SSLContext | None,
    auth: dict[str, str],
    until: float,
    out: Scrapes,
    lock: threading.Lock,
) -> None:
    conn = _connect(port, context)
    mine = Scrapes()
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            body = _get(conn, "/metrics", auth)
            if b"agora_exporter_build_info" not in body:
                raise OSError("incomplete exposition")
            mine.ok += 1
            mine.bytes += len(body)
            mine.latencies_s.append(time.monotonic() - started)
        except (OSError, http.client.HTTPException) as error:
            mine.failed += 1
            mine.errors[type(error).__name__ + ": " + str(error)[:60]] += 1
            conn.close()
            conn = _connect(port, context)
    conn.close()
    with lock:
        out.ok += mine.ok
        out.failed += mine.failed
        out.bytes += mine.bytes
        out.latencies_s += mine.latencies_s
        for key, count in mine.errors.items():
            out.errors[key] += count


def _poll_offsets(sim: Simulator, since: float, interval: int) -> tuple[int, list[float]]:
    """Per real-time series, how far each gap between two polls strays from the planned interval.

    The demo's insight and Call Inspector requests keep their own schedules: left out.
    """
    times: dict[tuple[str, ...], list[float]] = defaultdict(list)
    polls = 0
    realtime = {endpoint.value for endpoint in Endpoint if endpoint.budget is Budget.REALTIME}
    for entry in sim.requests():
        if entry.path not in realtime:
            continue
        key = tuple(
            entry.params.get(name, "") for name in ("appid", "productType", "metric", "cname")
        )
        times[(entry.path, *key, entry.params.get("uids", ""))].append(entry.at)
        polls += entry.at >= since
    offsets = []
    for stamps in times.values():
        stamps.sort()
        for earlier, later in itertools.pairwise(stamps):
            if later >= since:
                offsets.append(later - earlier - interval)
    return polls, offsets


def _percentiles(values: list[float], scale: float) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = {"p50": 0.50, "p90": 0.90, "p99": 0.99}
    found = {
        name: ordered[min(len(ordered) - 1, int(q * len(ordered)))] for name, q in pick.items()
    }
    found["max"] = ordered[-1]
    found["mean"] = statistics.fmean(ordered)
    return {name: round(value * scale, 2) for name, value in found.items()}


def run(scrapers: int, duration_s: float, tls: bool) -> Report:
    with (
        tempfile.TemporaryDirectory(prefix="agora-bench-") as scratch,
        Simulator(
            plan="enterprise",
            customer_id=DEMO_CUSTOMER_ID,
            customer_secret=DEMO_CUSTOMER_SECRET,
            seed=42,
        ) as sim,
    ):
        directory = Path(scratch)
        config, series, interval = _config(sim.base_url, directory / "state")
        quota = config["agora"]["quota"]["realtime"]
        sim.set_quota(Budget.REALTIME, per_minute=quota["per_minute"], per_day=quota["per_day"])
        config_file = directory / "agora.yml"
        config_file.write_text(yaml.safe_dump(config))
        port = _free_port()
        args = [sys.executable, "-m", "exporter", f"--config.file={config_file}"]
        args.append(f"--web.listen-address=127.0.0.1:{port}")
        context, auth = None, {}
        if tls:
            web, context = _web_config(directory)
            args.append(f"--web.config.file={web}")
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            auth = {"Authorization": f"Basic {token}"}
        with (directory / "exporter.log").open("w") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while not _ready(port, context, auth):
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit("the exporter did not become ready; see its log")
                    time.sleep(0.2)
                time.sleep(2)  # let the start-up catch-up finish
                plan = (series, interval)
                return _measure(process, sim, port, context, auth, scrapers, duration_s, plan)
            finally:
                process.terminate()
                process.wait(timeout=30)


def _measure(
    process: subprocess.Popen[bytes],
    sim: Simulator,
    port: int,
    context: ssl.SSLContext | None,
    auth: dict[str, str],
    scrapers: int,
    duration_s: float,
    plan: tuple[int, int],
) -> Report:
    series, interval = plan
    out, lock = Scrapes(), threading.Lock()
    cpu_before, _ = _cpu_and_rss(process.pid)
    sim_since = sim.clock()
    started = time.monotonic()
    until = started + duration_s
    threads = [
        threading.Thread(target=_scraper, args=(port, context, auth, until, out, lock))
        for _ in range(scrapers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu_after, rss = _cpu_and_rss(process.pid)
    polls, offsets = _poll_offsets(sim, sim_since, interval)
    return Report(
        scrapers=scrapers,
        duration_s=round(elapsed, 1),
        tls=context is not None,
        series=series,
        interval_s=interval,
        scrapes_ok=out.ok,
        scrapes_failed=out.failed,
        scrape_errors=dict(out.errors),
        scrapes_per_s=round(out.ok / elapsed, 1),
        latency_ms=_percentiles(out.latencies_s, 1000),
        body_kib=round(out.bytes / max(1, out.ok) / 1024, 1),
        polls=polls,
        polls_refused=len(sim.refused()),
        poll_offset_s=_percentiles([abs(o) for o in offsets], 1) | {"gaps": float(len(offsets))},
        exporter_cpu_s=round(cpu_after - cpu_before, 1),
        exporter_cpu_share=round((cpu_after - cpu_before) / elapsed, 2),
        exporter_rss_mib=round(rss, 1),
        cpus=os.cpu_count() or 1,
    )


def _markdown(report: Report) -> str:
    lat = report.latency_ms
    off = report.poll_offset_s
    mode = "TLS + basic auth" if report.tls else "plain HTTP"
    return "\n".join(
        [
            f"| {report.scrapers} scrapers, {report.duration_s:g} s, {mode} | |",
            "|---|---|",
            f"| scrapes | {report.scrapes_ok} ok, {report.scrapes_failed} failed "
            f"({report.scrapes_per_s:g}/s, {report.body_kib:g} KiB each) |",
            f"| scrape latency | p50 {lat.get('p50')} ms, p90 {lat.get('p90')} ms, "
            f"p99 {lat.get('p99')} ms, max {lat.get('max')} ms |",
            f"| polls | {report.polls} to {report.series} series every {report.interval_s} s, "
            f"{report.polls_refused} refused |",
            f"| poll offset from plan | median {off.get('p50')} s, max {off.get('max')} s "
            f"over {int(off.get('gaps', 0))} intervals |",
            f"| exporter | {report.exporter_cpu_share:g} CPU cores, "
            f"{report.exporter_rss_mib:g} MiB RSS ({report.cpus} CPUs in the machine) |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--tls", action="store_true", help="TLS and basic auth")
    parser.add_argument("--late", type=float, default=5.0, help="tolerated poll offset (s)")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    report = run(args.scrapers, args.duration, args.tls)
    print(_markdown(report))
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    late = report.poll_offset_s.get("max", 0.0) > args.late
    failed = report.scrapes_failed > 0 or report.polls_refused > 0 or late
    if report.scrape_errors:
        print("errors:", json.dumps(report.scrape_errors), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
