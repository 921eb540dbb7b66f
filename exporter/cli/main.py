"""Command line: argv -> settings -> app.

``agora-exporter [serve] [--config.file=PATH] [--web.listen-address=:10042]
[--log.level=info] [--log.format=logfmt|json] [--demo]`` and the subcommands
``plan``, ``check-config``, ``backfill``, ``simulate`` and ``calls``.
Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from exporter import __version__
from exporter.cli.logs import LEVELS, setup_logging

log = logging.getLogger("exporter")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
SUBCOMMANDS = ("serve", "plan", "check-config", "backfill", "simulate", "calls")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agora-exporter",
        description="Prometheus exporter for the Agora Analytics REST API.",
    )
    parser.add_argument("command", nargs="?", default="serve", choices=SUBCOMMANDS)
    parser.add_argument("--config.file", dest="config_file", type=Path, default=None)
    parser.add_argument("--web.listen-address", dest="listen_address", default=":10042")
    parser.add_argument("--web.config.file", dest="web_config_file", type=Path, default=None)
    parser.add_argument("--log.level", dest="log_level", choices=LEVELS, default="info")
    parser.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"))
    parser.add_argument("--demo", action="store_true", help="run against the embedded simulator")
    backfill = parser.add_argument_group("backfill")
    backfill.add_argument("--out", help="OpenMetrics file to write (- for stdout)")
    backfill.add_argument("--since", help="oldest window: 6h (ago), RFC 3339 or Unix seconds")
    backfill.add_argument("--until", help="end of the export (excluded), in the same forms")
    backfill.add_argument("--fetch", action="store_true", help="also fetch the daily history")
    calls = parser.add_argument_group("calls")
    calls.add_argument("--cname", help="show only the calls of this channel")
    parser.add_argument("--version", action="version", version=f"agora-exporter {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, rest = _parser().parse_known_args(argv)
    if args.command == "simulate":
        from exporter.simulator.cli import main as simulate

        return simulate(rest)
    if rest:
        print(f"agora-exporter: unknown arguments: {' '.join(rest)}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(args.log_level, args.log_format or "logfmt")
    if args.command != "backfill" and (args.out or args.since or args.until or args.fetch):
        print("agora-exporter: --out, --since, --until, --fetch go with backfill", file=sys.stderr)
        return EXIT_CONFIG
    if args.command != "calls" and args.cname is not None:
        print("agora-exporter: --cname goes with calls", file=sys.stderr)
        return EXIT_CONFIG
    from exporter.cli.commands import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
