"""The scale benchmark's report: its figures, the issue's targets, and a Markdown table."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.loadgen import WrkResult

TARGETS = {"p99_ms": 50.0, "nginx_share": 0.25, "rss_mib": 150e6 / 2**20, "demo_s": 10.0}
"""The issue's targets; its 150 MB of memory are 143 MiB."""
STARVED_MS = 250.0  # scrapes during the round: the polls' parsing and storing share the CPU
PAUSE_MS = 250  # a paced scraper: 4 scrapes a second each, 32 in all


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
    round_busiest_minute: int
    per_minute: int
    during_round: WrkResult
    paced: WrkResult
    prometheus: Serving
    plain: Serving
    rss_mib: float
    rss_one_format_mib: float
    rss_peak_mib: float
    samples_exposed: int
    notes: list[str] = field(default_factory=list)


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
    back_to_back = report.prometheus.exporter
    return [
        (f"/metrics p99 <= {p99:g} ms, 8 paced scrapers", paced.p99_ms <= p99),
        (
            f"/metrics p99 <= {p99:g} ms, 8 scrapers back to back as Prometheus asks",
            back_to_back.p99_ms <= p99 and back_to_back.errors + back_to_back.non_2xx == 0,
        ),
        (
            f"throughput >= {TARGETS['nginx_share']:g} x nginx's on the identical bytes",
            report.plain.nginx_share >= TARGETS["nginx_share"],
        ),
        (
            f"RSS <= 150 MB ({TARGETS['rss_mib']:.0f} MiB) with an hour stored",
            report.rss_mib <= TARGETS["rss_mib"],
        ),
        (f"--demo populated within {TARGETS['demo_s']:g} s", report.demo_s <= TARGETS["demo_s"]),
        (
            f"scrapes not starved by the first round's polls (p99 <= {STARVED_MS:g} ms, no errors)",
            during.errors + during.non_2xx == 0 and during.p99_ms <= STARVED_MS,
        ),
        (
            "the polls kept their pace under scrapes (<= 5 s late, none refused)",
            report.round_late_max_s <= 5 and report.round_refused == 0 and not report.notes,
        ),
        (
            f"never over the quota (at most {report.per_minute:,} requests in any minute)",
            report.round_busiest_minute <= report.per_minute,
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
        f"{report.round_s:.0f} s (the quota allows {report.round_planned_s:.0f} s; at worst "
        f"{report.round_late_max_s:.1f} s behind), {report.round_refused} refused, "
        f"at most {report.round_busiest_minute:,} in a minute (quota {report.per_minute:,}) |",
        f"| scrapes during the round ({pace}) | {_latency(report.during_round)} |",
        f"| real-time samples exposed | {report.samples_exposed:,} |",
        f"| /metrics with the hour stored ({pace}) | {_latency(report.paced)} |",
        *_serving_rows("plain text", report.plain),
        *_serving_rows("OpenMetrics + gzip", report.prometheus),
        f"| exporter RSS, most sampled: OpenMetrics scraped / both formats | "
        f"{report.rss_one_format_mib:.0f} MiB / {report.rss_mib:.0f} MiB "
        f"(kernel's peak {report.rss_peak_mib:.0f} MiB) |",
    ]
    checks = [f"{'PASS' if ok else 'FAIL'}  {text}" for text, ok in verdicts(report)]
    return "\n".join([*rows, "", *checks, *report.notes])
