"""The command line's subcommands and flags, with their help, and parsing them.

``agora-exporter [COMMAND] [FLAGS]``: without a command it serves, so the top
level takes serve's flags too. Every flag is added with ``default=SUPPRESS``:
a subcommand's defaults would otherwise overwrite a flag given before it
(``agora-exporter --config.file=x plan``). :func:`parse` then checks that each
flag given belongs to the command and fills in the defaults; the help states
each default. ``simulate`` has a parser of its own
(:mod:`exporter.simulator.cli`), which gets the rest of the line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter import __version__
from exporter.cli.logs import LEVELS

PROG = "agora-exporter"
DEFAULT_COMMAND = "serve"
SIMULATE = "simulate"


class CommandLineError(Exception):
    """A flag or argument the command does not take (exit code 2)."""


@dataclass(frozen=True)
class Flag:
    option: str
    dest: str
    help: str
    shown: str
    """The default as the help shows it."""
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    path: bool = False
    switch: bool = False

    def add_to(self, group: argparse._ActionsContainer) -> None:
        text = f"{self.help} (default: {self.shown})".replace("%", "%%")
        if self.switch:
            group.add_argument(
                self.option,
                dest=self.dest,
                action="store_true",
                default=argparse.SUPPRESS,
                help=text,
            )
            return
        group.add_argument(
            self.option,
            dest=self.dest,
            metavar=self.metavar,
            choices=self.choices,
            type=Path if self.path else str,
            default=argparse.SUPPRESS,
            help=text,
        )


CONFIG = Flag(
    "--config.file",
    "config_file",
    "the YAML configuration file",
    "none: AGORA_EXPORTER_* variables, the secrets directory and built-in defaults only",
    metavar="PATH",
    path=True,
)
LOG_LEVEL = Flag(
    "--log.level", "log_level", "least severe level logged", "info", "info", choices=LEVELS
)
LOG_FORMAT = Flag(
    "--log.format",
    "log_format",
    "format of the log lines on stderr",
    "logfmt",
    "logfmt",
    choices=("logfmt", "json"),
)
LISTEN = Flag(
    "--web.listen-address",
    "listen_address",
    "[HOST]:PORT to serve /metrics on; without a host, every interface",
    ":10042",
    ":10042",
    metavar="ADDRESS",
)
WEB_CONFIG = Flag(
    "--web.config.file",
    "web_config_file",
    "the exporter-toolkit web config: TLS, client certificates, basic auth",
    "none: plain HTTP without authentication",
    metavar="PATH",
    path=True,
)
LIFECYCLE = Flag(
    "--web.enable-lifecycle",
    "enable_lifecycle",
    "serve POST /-/reload (re-read the configuration, like SIGHUP; without it a 404); "
    "behind the web config's basic auth when it sets users",
    "off",
    False,
    switch=True,
)
STATE_RESET = Flag(
    "--state.reset",
    "state_reset",
    "start over when the state database is missing, empty or unreadable although one was "
    "created in state_dir (without it: exit code 2); what is left is moved aside and the "
    "new ledger counts the last 24 h of every budget as used, so requests ramp up at the "
    "daily limit spread over a day; a sound database is kept as it is",
    "off",
    False,
    switch=True,
)
DEMO = Flag(
    "--demo",
    "demo",
    "poll an embedded simulated Agora API on a free loopback port with a built-in "
    "config (one app, two channels); needs no credentials",
    "off",
    False,
    switch=True,
)
OUT = Flag(
    "--out", "out", "OpenMetrics file to write; - for stdout", "none, required", None, "PATH"
)
SINCE = Flag(
    "--since",
    "since",
    "export the windows starting at or after TIME: a duration ago (90m, 6h, 2d), "
    "an RFC 3339 time with a zone (2026-01-31T12:00:00Z) or Unix seconds",
    "the oldest stored window",
    metavar="TIME",
)
UNTIL = Flag(
    "--until", "until", "export the windows starting before TIME (same forms)", "now", None, "TIME"
)
FETCH = Flag(
    "--fetch",
    "fetch",
    "first fetch the Data Insights history not stored yet; spends quota, recorded in the "
    "ledger, and is refused while the exporter runs on the same state_dir",
    "off",
    False,
    switch=True,
)
CNAME = Flag(
    "--cname",
    "cname",
    "show only the calls of this channel",
    "the channels apps[].calls.channels lists, or all",
    metavar="NAME",
)


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    """One line in ``agora-exporter --help``."""
    description: str
    flags: tuple[Flag, ...] = ()


COMMON = (CONFIG, LOG_LEVEL, LOG_FORMAT)
COMMANDS = (
    Command(
        "serve",
        "poll the Agora API and serve /metrics (the default command)",
        "Run the exporter: poll the Agora Analytics REST API within the plan's quotas and "
        "serve the results on /metrics. The default command: agora-exporter "
        "--config.file=agora.yml serves. It refuses to start (exit code 2) on an invalid "
        "configuration, a web config it cannot enforce or a plan that cannot poll every "
        "series without gaps.",
        (CONFIG, LISTEN, WEB_CONFIG, LIFECYCLE, STATE_RESET, LOG_LEVEL, LOG_FORMAT, DEMO),
    ),
    Command(
        "plan",
        "print the poll plan; exit code 2 if it is infeasible",
        "Print the poll plan the configuration makes: the series, each quota budget's use "
        "and how often each series is refreshed. Exit code 2 when the series cannot be "
        "polled without gaps, with what to drop.",
        COMMON,
    ),
    Command(
        "check-config",
        "validate the configuration and the web config as serve would; exit code 2 if invalid",
        "Check the configuration, the web config (--web.config.file) and the listen "
        "address as serve does before it starts, and start nothing: exit code 0 and a "
        "summary when serve would start, 2 and serve's own message when it would refuse.",
        (CONFIG, LISTEN, WEB_CONFIG, LOG_LEVEL, LOG_FORMAT),
    ),
    Command(
        "backfill",
        "write the stored history as an OpenMetrics file for promtool",
        "Write the history stored in state_dir as an OpenMetrics file for promtool tsdb "
        "create-blocks-from openmetrics. Without --fetch it reads the store read-only and "
        "runs safely beside the exporter. The file is written under a temporary name and "
        "renamed.",
        (*COMMON, OUT, SINCE, UNTIL, FETCH),
    ),
    Command(
        "calls",
        "show the ongoing calls and their users' quality",
        "Show the ongoing calls and their users' quality (the Call Inspector) in the "
        "terminal. Fetches them now, every request in the store's ledger; while the "
        "exporter runs on the same state_dir, shows what it inspected and spends no quota.",
        (*COMMON, CNAME),
    ),
    Command(
        SIMULATE,
        "serve a fake Agora Analytics REST API (flags: simulate --help)",
        "Serve a fake Agora Analytics REST API with deterministic traffic.",
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    serve = BY_NAME[DEFAULT_COMMAND]
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [-h] [--version] [COMMAND] [FLAGS]",
        description="Prometheus exporter for the Agora Analytics REST API. " + serve.description,
        epilog="Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage. "
        f"{PROG} COMMAND --help describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    group = parser.add_argument_group("serve's flags (no command given)")
    for flag in serve.flags:
        flag.add_to(group)
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", prog=PROG)
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.summary,
            description=command.description,
            add_help=command.name != SIMULATE,  # simulate --help: the simulator's own
        )
        for flag in command.flags:
            flag.add_to(sub)
    return parser


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The command and its flags with defaults filled in, and simulate's arguments.

    Raises :class:`CommandLineError`; argparse's own errors, ``--help`` and
    ``--version`` exit through ``SystemExit``.
    """
    args, rest = build_parser().parse_known_args(argv)
    command = BY_NAME[args.command or DEFAULT_COMMAND]
    args.command = command.name
    given = {dest for dest in vars(args) if dest != "command"}
    taken = {flag.dest: flag for flag in command.flags}
    stray = sorted(given - taken.keys())
    if stray:
        raise CommandLineError(_belongs(_option(stray[0]), command))
    if command.name == SIMULATE:
        return args, rest
    if rest:
        raise CommandLineError(_belongs(rest[0].split("=", 1)[0], command, rest))
    for dest, flag in taken.items():
        if dest not in given:
            setattr(args, dest, flag.default)
    return args, []


def _option(dest: str) -> str:
    return next(f.option for c in COMMANDS for f in c.flags if f.dest == dest)


def _belongs(option: str, command: Command, rest: Sequence[str] = ()) -> str:
    owners = [c.name for c in COMMANDS if any(f.option == option for f in c.flags)]
    if not owners:
        usage = f"{PROG} {command.name} --help"
        return f"unknown arguments for {command.name}: {' '.join(rest)} (see {usage})"
    return f"{option} goes with {', '.join(owners)}, not {command.name}"
