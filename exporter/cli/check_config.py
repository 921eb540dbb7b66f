"""``agora-exporter check-config``: what serve checks before it starts, and nothing started.

The web config and the listen address go through serve's own
:func:`~exporter.cli.serve.startup_checks`, so check-config refuses exactly
what serve refuses, with the same message (printed by ``main``, exit code 2).
"""

from __future__ import annotations

import argparse
import sys

from exporter.cli.serve import startup_checks
from exporter.scheduling.planner import make_plan
from exporter.settings import load_settings

EXIT_OK, EXIT_CONFIG = 0, 2


def run(args: argparse.Namespace) -> int:
    checked = startup_checks(args.web_config_file, args.listen_address)
    settings = load_settings(args.config_file)
    plan = make_plan(settings)
    if not plan.feasible:
        print(
            "agora-exporter: configuration is valid but cannot be polled without gaps:\n"
            + "\n".join(plan.problems),
            file=sys.stderr,
        )
        return EXIT_CONFIG
    source = args.config_file or "environment"
    print(f"configuration OK ({source}): {len(plan.series)} series, plan {plan.tier}")
    web_line = checked.describe_web()
    if web_line is not None:
        print(web_line)
    return EXIT_OK
