"""From an incident's first window to its alert firing, for each incident of a run.

An incident's first window is found among the served samples by its value
followed by the next windows' values (the rates the simulator computed for
them; replay serves each window's value as the API answered it, and rates of
six decimals near a threshold do repeat), without reading any timestamp
family: the first scrape serving it is when the incident reached Prometheus.
Its alert is the first firing of the rule (per product type) from then until
the incident's last window has been served (and one more scrape and
evaluation).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.freshness_rules import Firing
from bench.freshness_run import SCRAPE_EVERY_S, Served
from bench.freshness_truth import Bad
from bench.soak import START
from exporter.timing.windows import WINDOW_S

SEARCH_S = 2 * 3600  # replay serves a window at most this long after it (the horizon is 1 h)
FOLLOWING = 3  # the first window's value and the next two distinct ones, in order
NEVER_SERVED = "never served"
NOT_FIRED = "served, but did not fire"
CUT_OFF = "cut off by the run's end"


@dataclass(frozen=True)
class Delay:
    bad: Bad
    served_s: float | None
    """From the first window to the first scrape serving it (None: never)."""
    fired_s: float | None
    """From the first window to the alert firing (None: it did not fire)."""
    why_not: str = ""
    """Why it did not fire, when it did not."""


def _distinct(values: list[float], count: int) -> list[float]:
    """The first ``count`` values of ``values`` with repeats in a row dropped."""
    found: list[float] = []
    for value in values:
        if not found or value != found[-1]:
            found.append(value)
        if len(found) == count:
            break
    return found


def _first_served(bad: Bad, samples: dict[int, float], first: int) -> int | None:
    """The first scrape serving the incident's first window (then the next ones)."""
    low = max(0, int((first - START) // SCRAPE_EVERY_S))
    high = int((first + SEARCH_S - START) // SCRAPE_EVERY_S)
    numbers = [number for number in range(low, high + 1) if number in samples]
    expected = _distinct(list(bad.rates), FOLLOWING)
    for index, number in enumerate(numbers):
        if samples[number] != bad.rates[0]:
            continue
        following = [samples[one] for one in numbers[index : index + 4 * FOLLOWING]]
        if _distinct(following, len(expected)) == expected:
            return number
    return None


def delay(bad: Bad, served: Served, fired: list[float], end: float, expected_s: int) -> Delay:
    """The delays of one incident on one alert and product type; ``end`` is the run's end
    and ``expected_s`` the plan's latency (to tell an incident cut off by the end)."""
    if bad.first is None:
        return Delay(bad, None, None, "never beyond the threshold")
    first = bad.first
    samples = served.values.get((bad.rule.family, bad.product_type), {})
    number = _first_served(bad, samples, first)
    cut_off = first + expected_s + 2 * SCRAPE_EVERY_S > end
    if number is None:
        return Delay(bad, None, None, CUT_OFF if cut_off else NEVER_SERVED)
    served_at = number * SCRAPE_EVERY_S  # from the start
    until = served_at + (bad.incident.end - first) + 2 * SCRAPE_EVERY_S
    fire = next((at for at in fired if served_at <= at <= until), None)
    if fire is not None:
        return Delay(bad, START + served_at - first, START + fire - first)
    if bad.longest_s <= bad.rule.for_s:
        minutes, seconds = divmod(int(bad.longest_s), 60)
        why = f"beyond the threshold only {minutes}:{seconds:02d} (for: {bad.rule.for_s // 60}m)"
    else:
        why = CUT_OFF if cut_off else NOT_FIRED
    return Delay(bad, START + served_at - first, None, why)


def unexplained(fired: list[float], delays: list[Delay]) -> list[float]:
    """Starts of firing stretches (seconds from the start) that no incident of ``delays``
    (one alert on one product type) explains."""
    explained = [
        d.bad.first + d.fired_s - START
        for d in delays
        if d.fired_s is not None and d.bad.first is not None
    ]
    stretches: list[list[float]] = []
    for at in fired:
        if stretches and at - stretches[-1][1] <= SCRAPE_EVERY_S:
            stretches[-1][1] = at
        else:
            stretches.append([at, at])
    return [low for low, high in stretches if not any(low <= x <= high for x in explained)]


@dataclass(frozen=True)
class Summary:
    """One alert on one product type over one run (or part of it)."""

    alert: str
    product_type: str
    incidents: int
    fired: list[float]
    """Their delays to firing, seconds."""
    served: list[float]
    """Their delays to the first bad window served, seconds."""
    beyond_s: list[int]
    """How long each incident beyond the threshold kept the rate there (its longest stretch)."""
    from_start: list[float]
    """The delays to firing counted from the incident's start floored to 20 s instead."""
    not_fired: dict[str, int]
    """Why the others did not fire: how many each."""
    missed: int
    """Incidents long enough to fire that did not (and were not cut off by the end)."""

    @property
    def figures(self) -> tuple[float, float, float] | None:
        if not self.fired:
            return None
        return min(self.fired), statistics.median(self.fired), max(self.fired)


def summary(alert: str, product_type: str, delays: list[Delay]) -> Summary:
    """The incidents ``delays`` holds (one alert on one product type), summed up."""
    reasons: dict[str, int] = {}
    for one in delays:
        if one.fired_s is None:
            reasons[one.why_not] = reasons.get(one.why_not, 0) + 1
    return Summary(
        alert=alert,
        product_type=product_type,
        incidents=len(delays),
        fired=[d.fired_s for d in delays if d.fired_s is not None],
        served=[d.served_s for d in delays if d.served_s is not None and d.fired_s is not None],
        beyond_s=sorted(d.bad.longest_s for d in delays if d.bad.first is not None),
        from_start=[
            d.fired_s + d.bad.first - math.floor(d.bad.incident.start / WINDOW_S) * WINDOW_S
            for d in delays
            if d.fired_s is not None and d.bad.first is not None
        ],
        not_fired=reasons,
        missed=reasons.get(NEVER_SERVED, 0) + reasons.get(NOT_FIRED, 0),
    )


def all_delays(
    bads: list[Bad], served: Served, firing: Firing, end: float, expected: dict[str, int]
) -> list[Delay]:
    return [
        delay(
            bad,
            served,
            firing.get((bad.rule.alert, bad.product_type), []),
            end,
            expected[bad.rule.alert],
        )
        for bad in bads
    ]
