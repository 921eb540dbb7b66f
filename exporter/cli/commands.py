"""The subcommands behind the CLI: serve (with --demo), plan, check-config, backfill, calls."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from typing import Any

from exporter.app import InfeasiblePlanError, build_app
from exporter.cli.demo import start_demo
from exporter.scheduling.planner import make_plan, render_plan
from exporter.serving.server import parse_listen_address
from exporter.serving.web.config import WebConfigError, WebConfigWatcher
from exporter.settings import ConfigError, Settings, load_settings
from exporter.store import StateDirError

log = logging.getLogger("exporter")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"agora-exporter: {message}", file=sys.stderr)
    return code


def _load(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    return load_settings(args.config_file, overrides=overrides)


def _plan_command(args: argparse.Namespace) -> int:
    settings = _load(args)
    plan = make_plan(settings)
    print(render_plan(plan))
    return EXIT_OK if plan.feasible else EXIT_CONFIG


def _check_config_command(args: argparse.Namespace) -> int:
    settings = _load(args)
    plan = make_plan(settings)
    if not plan.feasible:
        return _fail(
            "configuration is valid but cannot be polled without gaps:\n" + "\n".join(plan.problems)
        )
    for warning in settings.not_built_warnings():
        print(f"warning: {warning}", file=sys.stderr)
    source = args.config_file or "environment"
    print(f"configuration OK ({source}): {len(plan.series)} series, plan {plan.tier}")
    return EXIT_OK


def _serve_command(args: argparse.Namespace) -> int:
    web = WebConfigWatcher(args.web_config_file)  # checked before anything starts
    if args.web_config_file is not None:
        log.info("web config %s: %s", args.web_config_file, web.current().describe())
    host, port = parse_listen_address(args.listen_address)
    with ExitStack() as stack:
        overrides = None
        if args.demo:
            overrides = start_demo(stack)
            log.info("demo mode: simulated Agora API at %s", overrides["agora"]["base_url"])
        settings = _load(args, overrides)
        app = build_app(
            settings,
            host=host,
            port=port,
            web=web,
            reload_settings=lambda: _load(args, overrides),
        )
        app.run_until_signal()
    return EXIT_OK


def _backfill_command(args: argparse.Namespace) -> int:
    from exporter.cli.backfill import run_backfill
    from exporter.cli.backfill_args import BackfillRequest

    request = BackfillRequest(out=args.out, since=args.since, until=args.until, fetch=args.fetch)
    return run_backfill(_load(args), request)


def _calls_command(args: argparse.Namespace) -> int:
    from exporter.cli.calls import run_calls

    return run_calls(_load(args), cname=args.cname)


def run_command(args: argparse.Namespace) -> int:
    """Run one subcommand; turns every expected failure into a message and exit code."""
    commands = {
        "serve": _serve_command,
        "plan": _plan_command,
        "check-config": _check_config_command,
        "backfill": _backfill_command,
        "calls": _calls_command,
    }
    try:
        return commands[args.command](args)
    except ConfigError as error:
        return _fail(f"invalid configuration:\n{error}")
    except InfeasiblePlanError as error:
        return _fail(f"refusing to start, the config cannot be polled without gaps:\n{error}")
    except StateDirError as error:
        return _fail(str(error))
    except WebConfigError as error:
        return _fail(str(error))
    except ValueError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"cannot start: {error}", EXIT_FAILURE)
