"""HTTP endpoints: /metrics, / (status page), /status.json, /-/healthy, /-/ready, POST /-/reload.

A scrape never calls Agora: /metrics is the exposition cache's bytes, rendered
from in-memory snapshots only. The server is stdlib ``ThreadingHTTPServer``
with a thread per connection, up to a cap (:mod:`exporter.serving.connections`),
so concurrent scrapers never queue behind each other. Each request head is
read within a budget of bytes and time before anything else runs
(:mod:`exporter.serving.handler`, :mod:`exporter.serving.http_limits`). The
web config (``--web.config.file``, see :mod:`exporter.serving.web.config`)
adds TLS, client certificates, basic auth, response headers and a rate limit
to every path but the ``auth_excluded_paths``; it is looked up per connection
and per request, so a changed file applies to the next scrape. The TLS
handshake runs in the connection's own thread, so a slow or silent client
never blocks the others.

Error answers name the status only: nothing of the request is echoed back.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exporter.serving.connections import Server
from exporter.serving.handler import TEXT as _TEXT
from exporter.serving.handler import RequestHandler
from exporter.serving.http_limits import HttpLimits, without_paths
from exporter.serving.web.auth import Verdict
from exporter.serving.web.config import WebConfig, WebConfigWatcher
from exporter.serving.web.listener import Listener

log = logging.getLogger(__name__)

Payload = tuple[bytes | Sequence[bytes], dict[str, str]]
"""A /metrics answer: the body (or its parts, sent one after the other) and its headers."""


@dataclass(frozen=True)
class Routes:
    """What the server serves, injected by the composition root.

    ``metrics`` answers /metrics from the Accept and Accept-Encoding headers
    (the exposition cache: :class:`exporter.serving.exposition.Exposition`).
    ``reload`` re-reads the configuration and raises (with a message for the
    caller) when the new one is rejected; None (``--web.enable-lifecycle``
    off) makes ``/-/reload`` a 404.
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


class _Handler(RequestHandler):
    """The routes, behind the web config's checks."""

    routes: Routes

    def dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
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

    def _refusal(self, config: WebConfig, path: str) -> tuple[int, bytes, dict[str, str]] | None:
        if path in config.excluded_paths:
            return None
        if config.rate_limiter is not None and not config.rate_limiter.allow():
            return 429, b"Too Many Requests\n", _TEXT
        if config.client_cert_required and not self._peer_cert():
            return 403, b"Forbidden: a client certificate is required.\n", _TEXT
        if config.auth is None:
            return None
        verdict = config.auth.verdict(self.headers.get("Authorization"), self.client_address[0])
        if verdict is Verdict.THROTTLED:
            text = b"Too Many Requests: too many failed logins.\n"
            return 429, text, {**_TEXT, "Retry-After": "1"}
        if verdict is Verdict.DENIED:
            log.debug("basic auth failed", extra={"path": path, "client": self.client_address[0]})
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
            accept = self.headers.get("Accept", "")
            self._send(200, *self.routes.metrics(accept, self.headers.get("Accept-Encoding", "")))
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
                reason = without_paths(str(error))  # the log names the files, not the answer
                self._send(500, f"failed to reload config: {reason}\n".encode(), _TEXT)
                return
            self._send(200, b"Reloaded.\n", _TEXT)


class MetricsServer(Listener):
    """A threaded HTTP(S) server in a daemon thread."""

    def __init__(
        self,
        routes: Routes,
        *,
        host: str = "0.0.0.0",
        port: int = 10042,
        web: WebConfigWatcher | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        handler = type("Handler", (_Handler,), {"routes": routes})
        web = web or WebConfigWatcher(None)
        self._server = Server((host, port), handler, web, limits or HttpLimits())
        super().__init__(self._server, web, "metrics-server")

    @property
    def connections(self) -> int:
        """Connections with a thread of their own now (at most ``max_connections``)."""
        return self._server.handling

    def _closing(self) -> None:
        self._server.close_connections()
