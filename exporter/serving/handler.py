"""One connection's requests: read within the head budget, framed strictly, refused tersely.

:class:`RequestHandler` replaces how the stdlib's ``BaseHTTPRequestHandler``
reads a request (:mod:`exporter.serving.http_limits` reads the head within its
budget of bytes and time; the stdlib only parses what was read) and how it
answers an error: the status and its phrase, never the request line or a
header echoed back. The routes are :mod:`exporter.serving.server`'s.
"""

from __future__ import annotations

import contextlib
import io
import logging
import ssl
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from exporter.serving.connections import SERVER_NAME, Server
from exporter.serving.http_limits import (
    HeadRefusedError,
    HttpLimits,
    discard_body,
    framing_problem,
    handshake,
    read_head,
    wait_first_byte,
)
from exporter.serving.web.tls import san_values

log = logging.getLogger(__name__)

TEXT = {"Content-Type": "text/plain; charset=utf-8"}
_REFUSAL_WRITE_S = 1.0
"""How long a 408 or 431 may wait to be written before the connection is dropped."""


class RequestHandler(BaseHTTPRequestHandler):
    """Reading requests within the head budget; the stdlib parses what was read."""

    server: Server
    server_version = SERVER_NAME
    protocol_version = "HTTP/1.1"
    timeout = None  # each phase sets its own: the head's deadline, then the idle timeout
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version  # no Python version

    def setup(self) -> None:
        self._deadline = time.monotonic() + self.server.limits.head_timeout_s
        self._first = True
        self._headers: dict[str, str] = {}
        self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
        if isinstance(self.request, ssl.SSLSocket):
            handshake(self.request, deadline=self._deadline)  # a failure ends in handle_error
            allowed = self.server.web.current().allowed_sans
            cert = self.request.getpeercert()
            if allowed is not None and cert and not san_values(cert) & allowed:
                raise ConnectionAbortedError("no allowed SAN in the client certificate")
        super().setup()

    def handle_one_request(self) -> None:
        limits = self.server.limits
        try:
            head = self._next_head(limits)
            if head and self._parse(head):
                self._read_body(limits)
                self.connection.settimeout(limits.idle_timeout_s)
                self._run()
            else:
                self.close_connection = True
        except HeadRefusedError as refused:
            self.close_connection = True
            if refused.status is not None:
                self.request_version = "HTTP/1.1"
                self.connection.settimeout(_REFUSAL_WRITE_S)
                with contextlib.suppress(OSError):
                    self.send_error(refused.status)
        except TimeoutError:  # a response write stalled for the idle timeout
            self.close_connection = True

    def _next_head(self, limits: HttpLimits) -> bytes:
        if self._first:
            self._first = False
        elif wait_first_byte(self.rfile, self.connection, limits.idle_timeout_s):
            self._deadline = time.monotonic() + limits.head_timeout_s
        else:
            return b""  # idle too long, or closed by the client
        return read_head(
            self.rfile, self.connection, deadline=self._deadline, max_bytes=limits.max_head_bytes
        )

    def _parse(self, head: bytes) -> bool:
        """The stdlib's parser on the head read (False: it answered already)."""
        line, _, rest = head.partition(b"\n")
        self.raw_requestline = line + b"\n"
        from_socket, self.rfile = self.rfile, io.BytesIO(rest)
        try:
            parsed = self.parse_request()
        finally:
            self.rfile = from_socket
        if not parsed:
            return False
        problem = framing_problem(self.headers)
        if problem is not None:
            log.debug("request refused", extra={"client": self.client_address[0], "why": problem})
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        return True

    def _read_body(self, limits: HttpLimits) -> None:
        """Drop a request body (nothing reads one); one too big closes the connection."""
        length = int(self.headers.get("Content-Length") or 0)  # digits: framing_problem
        if length > limits.max_body_bytes:
            self.close_connection = True
        elif length > 0:
            discard_body(self.rfile, self.connection, length, deadline=self._deadline)

    def do_GET(self) -> None:
        self.dispatch()

    def do_HEAD(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        """Answer the request parsed; the routes override it."""
        self.send_error(HTTPStatus.NOT_FOUND)

    def _run(self) -> None:
        method = getattr(self, "do_" + str(self.command), None)
        if method is None:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED)
            return
        method()
        self.wfile.flush()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The status and its phrase, and no more: the stdlib's page echoes the request."""
        status = HTTPStatus(code)
        log.debug(
            "request refused",
            extra={"client": self.client_address[0], "status": status.value, "why": message},
        )
        body = f"{status.value} {status.phrase}\n".encode()
        self.request_version = "HTTP/1.1"  # a status line even for a version refused
        self._send(status.value, body, {**TEXT, "Connection": "close"})

    def _send(self, status: int, body: bytes | Sequence[bytes], headers: dict[str, str]) -> None:
        """``body`` may be a list of parts (a cached exposition), sent one after the other."""
        parts = [body] if isinstance(body, bytes) else body
        self.send_response(status)
        for name, value in {**self._headers, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(sum(len(part) for part in parts)))
        self.end_headers()
        if self.command != "HEAD":
            for part in parts:
                self.wfile.write(part)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The request line is a field, so the log formatter escapes its control bytes."""
        status = code.value if isinstance(code, HTTPStatus) else code
        log.debug(
            "http request",
            extra={"client": self.client_address[0], "request": self.requestline, "status": status},
        )

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http server", extra={"client": self.client_address[0], "detail": format % args})
