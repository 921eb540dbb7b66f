"""HTTP endpoints: /metrics, / (status page), /-/healthy, /-/ready and POST /-/reload.

A scrape never calls Agora: /metrics is the exposition cache's bytes, rendered
from in-memory snapshots only. The server is stdlib ``ThreadingHTTPServer`` so
concurrent scrapers never queue behind each other. The web config
(``--web.config.file``, see :mod:`exporter.serving.web.config`) adds TLS, client
certificates, basic auth, response headers and a rate limit to every path but
the ``auth_excluded_paths``; it is looked up per connection and per request,
so a changed file applies to the next scrape. The TLS handshake runs in the
connection's own thread, so a slow or silent client never blocks the others.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter.serving.web.config import WebConfig, WebConfigWatcher
from exporter.serving.web.tls import san_values

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 30.0
"""A connection silent this long (keep-alive, handshake or a slow request) is closed."""
LISTEN_BACKLOG = 1024
MAX_BODY = 64 * 1024
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


Payload = tuple[bytes | Sequence[bytes], dict[str, str]]
"""A /metrics answer: the body (or its parts, sent one after the other) and its headers."""


@dataclass(frozen=True)
class Routes:
    """What the server serves, injected by the composition root.

    ``metrics`` answers /metrics from the Accept and Accept-Encoding headers
    (the exposition cache: :class:`exporter.serving.exposition.Exposition`).
    ``reload`` re-reads the configuration and raises (with a message for the
    caller) when the new one is rejected; None disables ``/-/reload``.
    ``status_json`` answers /status.json from the query string; None: a 404.
    """

    metrics: Callable[[str, str], Payload]
    status_page: Callable[[], str]
    is_ready: Callable[[], bool]
    reload: Callable[[], None] | None = None
    status_json: Callable[[str], tuple[int, bytes, dict[str, str]]] | None = None


def parse_listen_address(address: str) -> tuple[str, int]:
    """``:10042``, ``127.0.0.1:10042`` or ``[::1]:10042`` -> (host, port)."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"--web.listen-address={address!r} is not HOST:PORT; use e.g. ':10042' or "
            "'127.0.0.1:10042'"
        )
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


class _Handler(BaseHTTPRequestHandler):
    routes: Routes
    server: _Server
    server_version = "agora-exporter"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(IDLE_TIMEOUT_S)
            self.request.do_handshake()  # a failure ends here, logged by handle_error
            allowed = self.server.web.current().allowed_sans
            cert = self.request.getpeercert()
            if allowed is not None and cert and not san_values(cert) & allowed:
                raise ConnectionAbortedError("no allowed SAN in the client certificate")
        super().setup()
        self._headers: dict[str, str] = {}

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            self._discard_body()
            config = self.server.web.current()
            self._headers = dict(config.headers)
            refusal = self._refusal(config, path)
            if refusal is not None:
                self._send(*refusal)
            else:
                self._route(path)
        except OSError:
            self.close_connection = True  # the client left; nothing to tell it
        except Exception:  # a broken page must not take the server down
            log.exception("serving a request failed", extra={"path": path})
            self._send(500, b"Internal error; see the exporter's log.\n", _TEXT)

    def _discard_body(self) -> None:
        text = (self.headers.get("Content-Length") or "0").strip()
        length = int(text) if text.isdigit() else MAX_BODY + 1  # garbage: do not reuse
        if length > MAX_BODY:
            self.close_connection = True
        elif length > 0:
            self.rfile.read(length)

    def _refusal(self, config: WebConfig, path: str) -> tuple[int, bytes, dict[str, str]] | None:
        if path in config.excluded_paths:
            return None
        if config.rate_limiter is not None and not config.rate_limiter.allow():
            return 429, b"Too Many Requests\n", _TEXT
        if config.client_cert_required and not self._peer_cert():
            return 403, b"Forbidden: a client certificate is required.\n", _TEXT
        if config.auth is not None and not config.auth.check(self.headers.get("Authorization")):
            log.debug(
                "basic auth failed",
                extra={"path": path, "client": self.address_string()},
            )
            return 401, b"Unauthorized\n", {**_TEXT, "WWW-Authenticate": "Basic"}
        return None

    def _peer_cert(self) -> bool:
        return isinstance(self.request, ssl.SSLSocket) and bool(self.request.getpeercert())

    def _route(self, path: str) -> None:
        if path == "/-/reload":
            self._reload()
        elif self.command not in ("GET", "HEAD"):
            self._send(405, b"Method not allowed.\n", {**_TEXT, "Allow": "GET, HEAD"})
        elif path == "/metrics":
            self._send(200, *self._metrics())
        elif path == "/":
            page = self.routes.status_page().encode()
            self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/status.json" and self.routes.status_json is not None:
            self._send(*self.routes.status_json(self.path.partition("?")[2]))
        elif path == "/-/healthy":
            self._send(200, b"Healthy.\n", _TEXT)
        elif path == "/-/ready":
            ready = self.routes.is_ready()
            text = b"Ready.\n" if ready else b"Not ready: no data yet.\n"
            self._send(200 if ready else 503, text, _TEXT)
        else:
            self._send(404, b"Not found.\n", _TEXT)

    def _metrics(self) -> Payload:
        accept = self.headers.get("Accept", "")
        return self.routes.metrics(accept, self.headers.get("Accept-Encoding", ""))

    def _reload(self) -> None:
        if self.routes.reload is None:
            self._send(404, b"Not found.\n", _TEXT)
        elif self.command not in ("POST", "PUT"):
            self._send(405, b"Only POST or PUT requests allowed.\n", {**_TEXT, "Allow": "POST"})
        else:
            try:
                self.routes.reload()
            except Exception as error:
                log.error(
                    "reload via /-/reload failed; the old configuration stays",
                    extra={"error": str(error)},
                )
                self._send(500, f"failed to reload config: {error}\n".encode(), _TEXT)
                return
            self._send(200, b"Reloaded.\n", _TEXT)

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

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", extra={"client": self.address_string(), "detail": format % args})


class _Server(ThreadingHTTPServer):
    """Wraps each accepted connection in TLS when the web config asks for it."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], web: WebConfigWatcher
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.web = web
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup of the address, which
        can stall a start for seconds where DNS is slow or missing."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        context = self.web.current().ssl_context
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                sock.close()
                raise OSError("TLS setup failed") from None
        with self._open_lock:
            self._open.add(sock)
        return sock, address

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


class MetricsServer:
    """A threaded HTTP(S) server in a daemon thread."""

    def __init__(
        self,
        routes: Routes,
        *,
        host: str = "0.0.0.0",
        port: int = 10042,
        web: WebConfigWatcher | None = None,
    ) -> None:
        handler = type("Handler", (_Handler,), {"routes": routes})
        self.web = web or WebConfigWatcher(None)
        self._httpd = _Server((host, port), handler, self.web)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.web.current().tls else "http"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="metrics-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
