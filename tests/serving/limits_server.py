"""A MetricsServer in a process of its own, so a test can read its memory and threads.

    python -m tests.serving.limits_server [--head-timeout S] [--max-connections N]

Listens on a free loopback port, prints it on one line, and serves until its
stdin closes. Its /metrics is a fixed 1 KiB body.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporter.serving.http_limits import HttpLimits
from exporter.serving.server import MetricsServer, Routes
from exporter.serving.tuning import tune_for_serving


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--head-timeout", type=float, default=HttpLimits().head_timeout_s)
    parser.add_argument("--max-connections", type=int, default=HttpLimits().max_connections)
    args = parser.parse_args()
    body = b"limits_server_up 1\n" * 52
    routes = Routes(
        metrics=lambda accept, encoding: (body, {"Content-Type": "text/plain"}),
        status_page=lambda: "<p>status</p>",
        is_ready=lambda: True,
    )
    limits = HttpLimits(head_timeout_s=args.head_timeout, max_connections=args.max_connections)
    tune_for_serving()  # as the exporter runs
    server = MetricsServer(routes, host="127.0.0.1", port=0, limits=limits)
    server.start()
    print(server.port, flush=True)
    sys.stdin.read()
    server.stop()


def status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` (peak resident, KiB) and ``Threads`` of a process, from /proc."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            found[key] = int(value.split()[0])
    return found


if __name__ == "__main__":
    main()
