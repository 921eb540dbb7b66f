"""HTTP endpoints: /metrics, / (status page), /-/healthy and /-/ready.

A scrape never calls Agora: /metrics renders the registry, whose collector
reads in-memory snapshots only. The server is stdlib ``ThreadingHTTPServer`` so
concurrent scrapers never queue behind each other.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routes:
    """What the server serves, injected by the composition root."""

    registry: CollectorRegistry
    status_page: Callable[[], str]
    is_ready: Callable[[], bool]


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


def metrics_payload(
    registry: CollectorRegistry, accept: str, accept_encoding: str
) -> tuple[bytes, dict[str, str]]:
    """Exposition bytes in the format the scraper asked for, gzipped if accepted."""
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)
    headers = {"Content-Type": content_type}
    if gzip_accepted(accept_encoding):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return body, headers


class _Handler(BaseHTTPRequestHandler):
    routes: Routes
    server_version = "agora-exporter"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                body, headers = metrics_payload(
                    self.routes.registry,
                    self.headers.get("Accept", ""),
                    self.headers.get("Accept-Encoding", ""),
                )
                self._send(200, body, headers)
            elif path == "/":
                page = self.routes.status_page().encode()
                self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
            elif path == "/-/healthy":
                self._send(200, b"Healthy.\n", {"Content-Type": "text/plain"})
            elif path == "/-/ready":
                ready = self.routes.is_ready()
                text = b"Ready.\n" if ready else b"Not ready: no data yet.\n"
                self._send(200 if ready else 503, text, {"Content-Type": "text/plain"})
            else:
                self._send(404, b"Not found.\n", {"Content-Type": "text/plain"})
        except Exception:  # a broken page must not take the server down
            log.exception("serving %s failed", path)
            self._send(500, b"Internal error; see the exporter's log.\n", {})

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class MetricsServer:
    """A threaded HTTP server in a daemon thread."""

    def __init__(self, routes: Routes, *, host: str = "0.0.0.0", port: int = 10042) -> None:
        handler = type("Handler", (_Handler,), {"routes": routes})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
