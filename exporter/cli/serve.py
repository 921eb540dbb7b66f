"""``agora-exporter [serve]``: the exporter itself, against the Agora API or, with ``--demo``,
against the embedded simulator.

:func:`startup_checks` is everything serve refuses to start on before it
starts anything; ``check-config`` runs the same function.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from exporter.app import App, ReloadError, build_app
from exporter.cli.demo import Demo, start_demo
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
        log.info(
            "web config loaded",
            extra={"path": str(checked.web.path), "mode": checked.web.current().describe()},
        )
    with ExitStack() as stack:
        overrides: dict[str, Any] | None = None
        demo: Demo | None = None
        if args.demo:
            demo = start_demo(stack)
            overrides = demo.overrides
            log.info(
                "demo mode: a simulated Agora API answers",
                extra={"base_url": overrides["agora"]["base_url"]},
            )

        def load() -> Settings:
            return load_settings(args.config_file, overrides=overrides)

        app = build_app(
            load(),
            host=checked.host,
            port=checked.port,
            web=checked.web,
            reload_settings=load,
            enable_lifecycle=args.enable_lifecycle,
            reset_state=args.state_reset,
        )
        if demo is not None:
            demo.connect(app)  # Console alerts from the simulator, with alerts.enabled
        run_until_signal(app)
    return EXIT_OK


def run_until_signal(app: App) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly; SIGHUP reloads the config.

    Stopping lets the requests in flight finish (each is bounded by
    ``agora.timeout_s``) and starts no new one.
    """
    wake = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        received.append(signum)
        wake.set()

    for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(handled, on_signal)
    app.start()
    while not app.context.stopping.is_set():
        wake.wait(timeout=1.0)
        wake.clear()
        while received:
            signum = received.pop(0)
            if signum != signal.SIGHUP:
                log.info(
                    "received a signal; shutting down",
                    extra={"signal": signal.Signals(signum).name},
                )
                app.context.stopping.set()
            elif not app.context.stopping.is_set():
                log.info("received SIGHUP; reloading the configuration", extra={"signal": "SIGHUP"})
                _reload_logged(app)
    app.stop()


def _reload_logged(app: App) -> None:
    try:
        app.reload_all()
    except ReloadError as error:
        log.error(
            "reload failed; the previous configuration stays in force",
            extra={"error": str(error)},
        )
