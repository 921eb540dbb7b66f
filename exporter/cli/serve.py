"""``agora-exporter [serve]``: the exporter itself, against the Agora API or, with ``--demo``,
against the embedded simulator.

:func:`startup_checks` is everything serve refuses to start on before it
starts anything; ``check-config`` runs the same function.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.app import build_app
from exporter.cli.demo import start_demo
from exporter.serving.server import parse_listen_address
from exporter.serving.web.config import WebConfigWatcher
from exporter.settings import Settings, load_settings

log = logging.getLogger("exporter")

EXIT_OK = 0


@dataclass(frozen=True)
class StartupChecks:
    """What :func:`startup_checks` found: the web config in force and where to listen."""

    web: WebConfigWatcher
    host: str
    port: int

    def describe_web(self) -> str | None:
        """``web config PATH: TLS, basic auth (1 users)``; None without a web config file."""
        if self.web.path is None:
            return None
        return f"web config {self.web.path}: {self.web.current().describe()}"


def startup_checks(web_config_file: Path | None, listen_address: str) -> StartupChecks:
    """Load the web config and parse the listen address, as serve does before it starts.

    Raises :class:`~exporter.serving.web.config.WebConfigError` or ``ValueError``.
    """
    web = WebConfigWatcher(web_config_file)
    host, port = parse_listen_address(listen_address)
    return StartupChecks(web=web, host=host, port=port)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; the caller maps the exceptions to exit codes."""
    checked = startup_checks(args.web_config_file, args.listen_address)  # before anything starts
    web_line = checked.describe_web()
    if web_line is not None:
        log.info("%s", web_line)
    with ExitStack() as stack:
        overrides: dict[str, Any] | None = None
        if args.demo:
            overrides = start_demo(stack)
            log.info("demo mode: simulated Agora API at %s", overrides["agora"]["base_url"])

        def load() -> Settings:
            return load_settings(args.config_file, overrides=overrides)

        app = build_app(
            load(),
            host=checked.host,
            port=checked.port,
            web=checked.web,
            reload_settings=load,
        )
        app.run_until_signal()
    return EXIT_OK
