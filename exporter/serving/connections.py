"""The listening socket and its connections: TLS wrapping and the cap on open connections.

Each accepted connection gets a thread of its own (so a slow client never
blocks the others) while fewer than ``HttpLimits.max_connections`` are open.
Beyond that the accepting thread itself answers 503 and closes the connection:
no thread is started, so an open-connection flood costs neither threads nor
memory. A TLS connection beyond the cap is closed without an answer (a 503
would need a handshake, which is what the cap holds back).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from exporter.serving.http_limits import HttpLimits, busy_response
from exporter.serving.web.config import WebConfigWatcher
from exporter.serving.web.sockets import bind_without_lookup, wrap_accepted

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 1024
SERVER_NAME = "agora-exporter"
"""The ``Server`` header: the program only, no versions."""
BUSY_LOG_EVERY_S = 60.0


class Server(ThreadingHTTPServer):
    """Wraps each accepted connection in TLS when the web config asks for it."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[socketserver.BaseRequestHandler],
        web: WebConfigWatcher,
        limits: HttpLimits,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.web = web
        self.limits = limits
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._handling = 0
        self._busy_logged_at = -BUSY_LOG_EVERY_S
        self._busy_since_log = 0
        self._busy_bytes = busy_response(SERVER_NAME)
        super().__init__(address, handler)

    @property
    def handling(self) -> int:
        """Connections with a thread of their own now."""
        with self._open_lock:
            return self._handling

    def server_bind(self) -> None:
        bind_without_lookup(self)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock = wrap_accepted(sock, self.web)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            admitted = self._handling < self.limits.max_connections
            if admitted:
                self._handling += 1
        if not admitted:
            self._refuse_busy(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: its slot is free again
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._open_lock:
            self._handling -= 1

    def _refuse_busy(self, request: socket.socket) -> None:
        """Answer 503 from the accepting thread without waiting, then close."""
        if not isinstance(request, ssl.SSLSocket):
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(self._busy_bytes)  # fits the socket's send buffer
                request.recv(64 * 1024)  # what the client sent already: closing with
                # unread bytes would reset the connection before it reads the 503
        self.shutdown_request(request)
        self._busy_since_log += 1
        now = time.monotonic()
        if now - self._busy_logged_at >= BUSY_LOG_EVERY_S:
            log.warning(
                "too many open connections; refusing new ones with 503",
                extra={
                    "max_connections": self.limits.max_connections,
                    "refused": self._busy_since_log,
                },
            )
            self._busy_logged_at, self._busy_since_log = now, 0

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed handshakes and vanished clients are routine: debug, not a traceback."""
        log.debug(
            "a connection failed",
            extra={"client": client_address[0] if client_address else None},
            exc_info=True,
        )

    def close_connections(self) -> None:
        """Wake every handler blocked on an idle keep-alive connection."""
        with self._open_lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):  # already closed by its handler
                sock.shutdown(socket.SHUT_RDWR)
