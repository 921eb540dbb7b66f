"""Command line: argv -> a subcommand -> an exit code.

``agora-exporter [serve] [--config.file=PATH] [--web.listen-address=:10042]
[--web.config.file=PATH] [--log.level=info] [--log.format=logfmt|json]
[--demo]`` and the subcommands ``plan``, ``check-config``, ``backfill``,
``calls`` and ``simulate`` (flags and help in :mod:`exporter.cli.flags`).
Each subcommand lives in its own module, imported when it runs, so that
``--help`` stays quick. Exit codes: 0 success, 1 runtime failure, 2 bad
configuration or usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from exporter.cli.flags import SIMULATE, CommandLineError, parse
from exporter.cli.logs import setup_logging

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def _serve(args: argparse.Namespace) -> int:
    from exporter.cli.serve import run

    return run(args)


def _plan(args: argparse.Namespace) -> int:
    from exporter.cli.plan import run

    return run(args)


def _check_config(args: argparse.Namespace) -> int:
    from exporter.cli.check_config import run

    return run(args)


def _backfill(args: argparse.Namespace) -> int:
    from exporter.cli.backfill import run_backfill
    from exporter.cli.backfill_args import BackfillRequest
    from exporter.settings import load_settings

    request = BackfillRequest(out=args.out, since=args.since, until=args.until, fetch=args.fetch)
    return run_backfill(load_settings(args.config_file), request)


def _calls(args: argparse.Namespace) -> int:
    from exporter.cli.calls import run_calls
    from exporter.settings import load_settings

    return run_calls(load_settings(args.config_file), cname=args.cname)


HANDLERS: dict[str, Handler] = {
    "serve": _serve,
    "plan": _plan,
    "check-config": _check_config,
    "backfill": _backfill,
    "calls": _calls,
}


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"agora-exporter: {message}", file=sys.stderr)
    return code


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one subcommand; turns every expected failure into a message and exit code."""
    from exporter.app import InfeasiblePlanError
    from exporter.serving.web.config import WebConfigError
    from exporter.settings import ConfigError
    from exporter.store import StateDirError

    try:
        return handler(args)
    except ConfigError as error:
        return _fail(f"invalid configuration:\n{error}")
    except InfeasiblePlanError as error:
        return _fail(f"refusing to start, the config cannot be polled without gaps:\n{error}")
    except (StateDirError, WebConfigError, ValueError) as error:
        return _fail(str(error))
    except BrokenPipeError:
        raise  # stdout's reader left: main() exits quietly
    except OSError as error:
        return _fail(f"cannot start: {error}", EXIT_FAILURE)


def _dispatch(argv: Sequence[str] | None) -> int:
    try:
        args, rest = parse(argv)
    except CommandLineError as error:
        return _fail(str(error))
    if args.command == SIMULATE:
        from exporter.simulator.cli import main as simulate

        return simulate(rest)
    setup_logging(args.log_level, args.log_format)
    return _run(HANDLERS[args.command], args)


def _exit_code(argv: Sequence[str] | None) -> int:
    try:
        return _dispatch(argv)
    except SystemExit as done:  # argparse's --help, --version and usage errors
        if done.code is None or isinstance(done.code, int):
            return done.code or EXIT_OK
        print(done.code, file=sys.stderr)  # what sys.exit(message) would print
        return EXIT_FAILURE


def _stdout_to_devnull() -> None:
    """What Python's docs advise on SIGPIPE: stdout to devnull, so that the flush at
    exit writes nowhere instead of failing a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass  # stdout is no file (replaced in a test): nothing is flushed to a pipe at exit
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 after ``--help``)."""
    try:
        code = _exit_code(argv)
        sys.stdout.flush()
    except BrokenPipeError:  # plan | head -1: the reader has what it wanted
        _stdout_to_devnull()
        return EXIT_FAILURE
    return code


if __name__ == "__main__":
    sys.exit(main())
