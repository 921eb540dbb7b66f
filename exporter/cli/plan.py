"""``agora-exporter plan``: print the poll plan; exit code 2 when it is infeasible."""

from __future__ import annotations

import argparse

from exporter.scheduling.planner import make_plan
from exporter.scheduling.report import render_plan
from exporter.settings import load_settings

EXIT_OK, EXIT_CONFIG = 0, 2


def run(args: argparse.Namespace) -> int:
    plan = make_plan(load_settings(args.config_file))
    print(render_plan(plan))
    return EXIT_OK if plan.feasible else EXIT_CONFIG
