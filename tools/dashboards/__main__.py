"""``python -m tools.dashboards [--root DIR] [--check] [--job-selector S] [--runbook-url-base U]``.

Writes (or, with ``--check``, compares) the generated files under ``--root``.
The committed files use the defaults; a deployment with another job name or a
published runbook renders its own copies into a directory of its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.dashboards import render_all
from tools.dashboards.config import DEFAULT_JOB_SELECTOR, DEFAULT_RUNBOOK_URL_BASE, Config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.dashboards",
        description="Write, or with --check compare, the generated dashboards, alert rules "
        "and their Kubernetes manifests under --root.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the directory the files are written under (default: the current directory, "
        "the repository root)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    parser.add_argument(
        "--job-selector",
        default=DEFAULT_JOB_SELECTOR,
        help="PromQL label matchers selecting the exporter's targets, without braces "
        f"(default: {DEFAULT_JOB_SELECTOR})",
    )
    parser.add_argument(
        "--runbook-url-base",
        default=DEFAULT_RUNBOOK_URL_BASE,
        help="the address of docs/runbook.md as you publish it; each alert's runbook_url "
        f"is it plus #<alert name in lower case> (default: {DEFAULT_RUNBOOK_URL_BASE})",
    )
    args = parser.parse_args(argv)
    try:
        config = Config(job_selector=args.job_selector, runbook_url_base=args.runbook_url_base)
    except ValueError as error:
        parser.error(str(error))
    stale = []
    for relative, text in render_all(config).items():
        path = args.root / relative
        current = path.read_text("utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(str(relative))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    verb = "out of date" if args.check else "written"
    for name in stale:
        print(f"{name}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
