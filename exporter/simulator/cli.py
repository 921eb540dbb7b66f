"""Run the simulator alone: ``python -m exporter.simulator --port=8080``.

Prints the base URL, then serves until SIGINT or SIGTERM. ``agora-exporter
simulate`` calls :func:`main`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from exporter.agora.limits import Plan
from exporter.simulator.realtime import PRODUCT_TYPES
from exporter.simulator.sim import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agora-exporter simulate",
        description="Serve a fake Agora Analytics REST API with deterministic traffic.",
    )
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--plan", default=Plan.ENTERPRISE.value, choices=[p.value for p in Plan], help="plan"
    )
    parser.add_argument("--customer-id", help="require this customer id (default: any)")
    parser.add_argument("--customer-secret", help="require this customer secret")
    parser.add_argument("--seed", type=int, default=1, help="seed of the traffic model")
    parser.add_argument(
        "--idle-product-type",
        action="append",
        default=[],
        choices=list(PRODUCT_TYPES),
        help="a product type without any user: real-time userCount 0, no quality data (repeatable)",
    )
    parser.add_argument(
        "--console-alerts-url",
        help="post Agora Console alert callbacks during incidents to this URL "
        "(e.g. http://127.0.0.1:10043/agora/alerts/TOKEN)",
    )
    parser.add_argument(
        "--console-alerts-project",
        action="append",
        default=[],
        metavar="APPID=NAME",
        help="an app whose incidents send callbacks, and its project name (repeatable)",
    )
    return parser


def _projects(pairs: list[str]) -> dict[str, str]:
    projects = {}
    for pair in pairs:
        appid, sep, name = pair.partition("=")
        if not sep or not appid.strip() or not name.strip():
            raise ValueError(f"--console-alerts-project {pair!r}: write APPID=NAME")
        projects[appid.strip()] = name.strip()
    return projects


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.customer_secret and not args.customer_id:
        print("--customer-secret needs --customer-id", file=sys.stderr)
        return 2
    try:
        projects = _projects(args.console_alerts_project)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if bool(projects) != bool(args.console_alerts_url):
        print("--console-alerts-url and --console-alerts-project go together", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    simulator = Simulator(
        plan=args.plan,
        customer_id=args.customer_id,
        customer_secret=args.customer_secret,
        seed=args.seed,
        idle_product_types=args.idle_product_type,
    )
    try:
        print(simulator.start(host=args.host, port=args.port), flush=True)
        if projects:
            simulator.send_console_alerts(args.console_alerts_url, projects)
        while not stop.wait(0.5):
            pass  # wake up now and then so signals are handled promptly everywhere
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
