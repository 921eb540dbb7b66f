"""The freshness benchmark's report: one table per run, then a PASS or FAIL per target."""

from __future__ import annotations

import os

from bench.freshness_delays import Summary
from bench.freshness_measure import LATE_S, Measured, minutes, planned_for, verdicts
from bench.soak import START


def _row(measured: Measured, index: int, one: Summary) -> str:
    result = measured.result
    phase = measured.phases[index]
    planned = planned_for(result, phase)[one.alert]
    plan = f"{minutes(planned.latency_s)} ({planned.interval_s} s, lag {planned.lag_s} s)"
    low, middle, high = one.figures or (None, None, None)
    late = measured.late[index].figures
    served = minutes(sorted(one.served)[len(one.served) // 2]) if one.served else "-"
    why = "; ".join(f"{count} {text}" for text, count in sorted(one.not_fired.items())) or "-"
    cells = [
        one.alert + (f" ({phase})" if phase else ""),
        one.product_type,
        str(one.incidents),
        f"{minutes(one.beyond_s[0])} to {minutes(one.beyond_s[-1])}" if one.beyond_s else "-",
        str(len(one.fired)),
        served,
        f"{minutes(low)} / {minutes(middle)} / {minutes(high)}",
        minutes(late[2] if late else None),
        minutes(max(one.from_start, default=None)),
        plan,
        why,
    ]
    return f"| {' | '.join(cells)} |"


def _requests(measured: Measured) -> str:
    result = measured.result
    others = [f"{budget} {count:,}" for budget, count in result.requests.items() if count]
    limit = (1 - result.headroom) * result.per_day
    configured, alone = result.requests_planned
    planned = f"{configured:,.1f} a day" + (f", {alone:,.1f} once paused" if alone else "")
    return (
        f"- real-time requests in the last 24 h (the exporter's ledger): {result.last_day:,}, "
        f"{result.last_day / result.per_day:.1%} of the daily {result.per_day:,} (within the "
        f"headroom: <= {limit:,.0f}; the plan: {planned})\n"
        f"- requests in the whole run (the simulator's count): {', '.join(others)}; the "
        f"real-time ones hold the start's catch-up, one more poll of each of the "
        f"{result.series} series"
    )


def markdown_run(measured: Measured) -> list[str]:
    result = measured.result
    header = [
        "alert",
        "product type",
        "incidents",
        "beyond the threshold",
        "fired",
        "first window to served (median)",
        "to firing: min / median / max",
        f"max, evaluated {LATE_S} s later",
        "max, from the start floored",
        "plan (interval, lag)",
        "not fired",
    ]
    lines = [f"#### {result.scenario.name}", "", f"| {' | '.join(header)} |"]
    lines.append("|" + "---|" * len(header))
    lines += [_row(measured, index, one) for index, one in enumerate(measured.summaries)]
    lines += ["", _requests(measured)]
    lines.append(
        f"- windows missed: {result.missed}; refused: {len(result.refused)}; "
        f"real-time polls: {result.polls:,}; {result.seconds:.0f} s of wall time"
    )
    if measured.earlier:
        lines.append(
            f"- {measured.earlier} incidents began in the hour before the start (served from "
            "the start's catch-up): not counted, but their alerts are not counted as unexplained"
        )
    if measured.paused_at is not None:
        lines.append(f"- WebRTC paused {(measured.paused_at - START) / 60:.1f} min into the run")
    for where, starts in measured.unexplained.items():
        if starts:
            at = ", ".join(f"{s / 3600:.2f} h" for s in starts[:6])
            lines.append(f"- {where} fired {len(starts)} times outside any incident (at {at})")
    lines += [f"- refused: {text}" for text in result.refused[:5]]
    return [*lines, ""]


def markdown(runs: list[Measured], seconds: float) -> str:
    lines = []
    for measured in runs:
        lines += markdown_run(measured)
    lines += [f"{'PASS' if ok else 'FAIL'}  {text}" for text, ok in verdicts(runs)]
    lines += ["", f"{len(runs)} runs in {seconds:.0f} s of wall time on {os.cpu_count()} CPUs"]
    return "\n".join(lines)
