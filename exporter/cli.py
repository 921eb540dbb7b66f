"""Command line: argv -> settings -> app.

``agora-exporter [serve] [--config.file=PATH] [--web.listen-address=:10042]
[--log.level=info] [--log.format=logfmt|json] [--demo]`` and the subcommands
``plan``, ``check-config``, ``backfill`` and ``simulate``.
Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from exporter import __version__
from exporter.logs import LEVELS, setup_logging

log = logging.getLogger("exporter")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
SUBCOMMANDS = ("serve", "plan", "check-config", "backfill", "simulate")


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
    if args.command == "backfill":
        print("agora-exporter backfill is not built yet (see the issue tracker).", file=sys.stderr)
        return EXIT_FAILURE
    from exporter.commands import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
