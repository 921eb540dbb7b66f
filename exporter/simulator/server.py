"""HTTP plumbing: a threading HTTP/1.1 server that turns requests into ``Answer`` calls.

Keep-alive is supported (the exporter's httpx client keeps connections open).
So that ``stop()`` is clean even then, the server tracks its connections and
worker threads: stopping shuts every open connection down, which wakes the
workers blocked reading the next request, and joins them. Nothing is left
for the garbage collector to close, so tests run with ``-W error`` see no
``ResourceWarning``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exporter.simulator.answers import Answer

logger = logging.getLogger(__name__)

Responder = Callable[[str, dict[str, str], str | None], Answer]
"""``(path, query parameters, Authorization header) -> Answer``."""

IDLE_TIMEOUT_S = 30.0
Request = socket.socket | tuple[bytes, socket.socket]


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that can close every connection it opened."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], responder: Responder) -> None:
        super().__init__(address, _Handler)
        self.responder = responder
        self._lock = threading.Lock()
        self._open: set[Request] = set()
        self._aborted: set[Request] = set()
        self._workers: list[threading.Thread] = []

    def process_request(self, request: Request, client_address: Any) -> None:
        """Serve a connection in its own (tracked) thread."""
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="agora-simulator-connection",
            daemon=True,
        )
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
            self._open.add(request)
        worker.start()

    def shutdown_request(self, request: Request) -> None:
        """Close a finished connection: gracefully, or with a reset if it was aborted."""
        with self._lock:
            self._open.discard(request)
            aborted = request in self._aborted
            self._aborted.discard(request)
        if aborted:
            # No shutdown() first: closing with SO_LINGER 0 sends RST instead of FIN.
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def abort_on_close(self, request: Request) -> None:
        """Reset this connection instead of closing it gracefully."""
        with self._lock:
            self._aborted.add(request)

    def handle_error(self, request: Request, client_address: Any) -> None:
        """Log instead of printing a traceback (clients vanish mid-answer on purpose)."""
        logger.debug(
            "error serving a connection",
            extra={"client": client_address[0] if client_address else None},
            exc_info=True,
        )

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down and wait for its worker to end."""
        with self._lock:
            still_open = list(self._open)
            workers = list(self._workers)
        for request in still_open:
            if isinstance(request, socket.socket):
                with contextlib.suppress(OSError):  # already closed by its worker
                    request.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agora-simulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, SimulatorHTTPServer)
        split = urlsplit(self.path)
        params: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            params.setdefault(name, value)  # the first of repeated parameters wins
        answer = server.responder(split.path, params, self.headers.get("Authorization"))
        try:
            self._send(server, answer)
        except OSError:
            self.close_connection = True  # the client left; nothing to tell it

    def _send(self, server: SimulatorHTTPServer, answer: Answer) -> None:
        if answer.abort == "drop":
            self.close_connection = True
            return
        payload = answer.payload()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if answer.abort == "reset":
            self.wfile.write(payload[: len(payload) // 2])
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            server.abort_on_close(self.connection)
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(
            "http request", extra={"client": self.address_string(), "detail": format % args}
        )
