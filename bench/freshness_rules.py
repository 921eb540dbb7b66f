"""When the shipped alerts fire on what was served: ``promtool test rules`` on the real file.

The series one run served become a unit test's ``input_series`` (one sample
per scrape, every 15 s, ``stale`` where a series left the exposition, as
Prometheus marks it), under ``job="agora-exporter"`` and an ``instance`` as
Prometheus would label them, and the rule file is evaluated every 15 s
(``deploy/prometheus/prometheus.yml``). One ``alert_rule_test`` per alert
and evaluation expects nothing; promtool prints every one that fails with the
alerts it got, which are the firing ones. Time 0 of the test is the run's start.

promtool evaluates the rules at the very instants of the scrapes (``offset_s``
0). A Prometheus runs its rule evaluations at an offset of their own from the scrapes; with
``offset_s`` each scrape's sample lands that many seconds after an evaluation
(the input on a 1 s grid), so the rule sees it only at the next one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from bench.freshness_run import SCRAPE_EVERY_S, Served
from bench.freshness_truth import Rule

JOB = "agora-exporter"
INSTANCE = "agora-exporter:10042"
_FAILED = re.compile(r"^\s*alertname: (\w+), time: (\S+?),\s*$")
_GOT_PRODUCT = re.compile(r'Labels:\{[^}]*product_type="([^"]*)"')
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}

Firing = dict[tuple[str, str], list[float]]
"""Per alert and product type, the seconds from the start at which it was firing."""


def _series(labels: dict[str, str], family: str) -> str:
    every = {"job": JOB, "instance": INSTANCE, **labels}
    return family + "{" + ",".join(f'{name}="{value}"' for name, value in every.items()) + "}"


def _values(samples: dict[int, float], scrapes: int, offset_s: int) -> str:
    """One token a scrape; with an offset, on a 1 s grid (``_xN``: N seconds without one)."""
    gap = f" _x{int(SCRAPE_EVERY_S) - 1}" if offset_s else ""
    tokens, present = [f"_x{offset_s}"] if offset_s else [], False
    for number in range(scrapes + 1):
        value = samples.get(number)
        if value is not None:
            tokens.append(repr(value) + gap)
        else:
            tokens.append(("stale" if present else "_") + gap)
        present = value is not None
    return " ".join(tokens)


def unit_test(
    served: Served, rules: list[Rule], rule_file: Path, offset_s: int = 0
) -> dict[str, Any]:
    """The promtool unit test file (as data) for one run's series."""
    step = int(SCRAPE_EVERY_S)
    input_series = [
        {
            "series": _series(served.labels[key], key[0]),
            "values": _values(samples, served.scrapes, offset_s),
        }
        for key, samples in sorted(served.values.items())
    ]
    checks = [
        {"eval_time": f"{number * step}s", "alertname": rule.alert, "exp_alerts": []}
        for number in range(1, served.scrapes + 1)
        for rule in rules
    ]
    return {
        "rule_files": [str(rule_file)],
        "evaluation_interval": f"{step}s",
        "tests": [
            {
                "interval": "1s" if offset_s else f"{step}s",
                "input_series": input_series,
                "alert_rule_test": checks,
            }
        ],
    }


def seconds(duration: str) -> float:
    """A Prometheus duration as promtool prints it (``1d2h3m15s``, ``0s``)."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(number) * _UNIT_S[unit] for number, unit in parts)


def parse_failures(output: str) -> Firing:
    """The firing alerts from promtool's failure report."""
    firing: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    current: tuple[str, float] | None = None
    for line in output.splitlines():
        failed = _FAILED.match(line)
        if failed is not None:
            current = (failed[1], seconds(failed[2]))
            continue
        got = _GOT_PRODUCT.search(line)
        if got is not None and current is not None:
            firing[(current[0], got[1])].append(current[1])
    return {key: sorted(set(times)) for key, times in firing.items()}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise SystemExit("promtool is missing: make system-deps (Debian's prometheus package)")
    return found


def firing(served: Served, rules: list[Rule], rule_file: Path, offset_s: int = 0) -> Firing:
    """When each alert fired, per product type, on the series ``served``; the rules
    evaluated ``offset_s`` after each scrape, at the next evaluation."""
    with tempfile.TemporaryDirectory(prefix="agora-bench-freshness-rules-") as scratch:
        test = Path(scratch) / "freshness_test.yml"
        document = unit_test(served, rules, rule_file, offset_s)
        test.write_text(yaml.safe_dump(document, width=1 << 30))
        done = subprocess.run(
            [promtool(), "test", "rules", str(test)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    output = done.stdout + done.stderr
    found = parse_failures(output)
    if done.returncode not in (0, 1) or (done.returncode == 1 and not found):
        raise SystemExit(f"promtool test rules failed ({done.returncode}):\n{output[-2000:]}")
    return found
