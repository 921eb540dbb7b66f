"""The callback listener: ``POST /agora/alerts/<token>``, on its own address.

Agora's Alert Notification allows no authentication, so the token in the path
(compared in constant time) is the protection; an optional allow-list of
source addresses, a body limit and a rate limit come on top, and TLS from a
web config file (:mod:`exporter.serving.web.config`, the /metrics format).
Checks, in order, each with its status and ``reason`` label:

source not allowed 403 ``source`` · another path 404 ``not_found`` · wrong
token 403 ``token`` · not POST 405 ``method`` · over the rate limit 429
``rate_limited`` · no Content-Length 411 ``length_required`` · body over
``MAX_BODY`` 413 ``too_large`` · not JSON 400 ``invalid_json`` · not an alert
422 ``not_an_alert`` · the queue cannot store it 503 ``unavailable`` (Agora
resends). A stored or resent alert gets 200. No request path is logged: it
holds the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter.console.payload import ConsoleAlert, PayloadError, parse_alert
from exporter.console.queue import QueueError
from exporter.console.stats import ConsoleStats
from exporter.serving.web.auth import RateLimiter
from exporter.serving.web.config import WebConfigWatcher
from exporter.serving.web.listener import Listener
from exporter.serving.web.sockets import bind_without_lookup, wrap_accepted

log = logging.getLogger(__name__)

PATH_PREFIX = "/agora/alerts/"
MAX_BODY = 16 * 1024
"""Agora's callbacks are a few hundred bytes."""
IO_TIMEOUT_S = 10.0
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ListenerRules:
    """What the listener checks, swapped whole on reload."""

    token: bytes
    networks: tuple[Network, ...]
    limiter: RateLimiter
    accept: Callable[[ConsoleAlert], bool]
    """Store one alert; True when new, False for a resend; raises QueueError."""

    def token_matches(self, given: bytes) -> bool:
        """In constant time, whatever the length given (both sides hashed first)."""
        digest = hashlib.sha256(given).digest()
        return bool(self.token) and hmac.compare_digest(digest, hashlib.sha256(self.token).digest())

    def allows(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


class RefusedError(Exception):
    """A request answered with a 4xx or 503."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "agora-exporter"
    protocol_version = "HTTP/1.1"
    timeout = IO_TIMEOUT_S

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(IO_TIMEOUT_S)
            self.request.do_handshake()  # a failure ends here, logged at debug
        super().setup()

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        rules = self.server.rules()
        try:
            alert = self._alert(rules)
            new = rules.accept(alert)
        except RefusedError as refusal:
            self._refuse(refusal)
            return
        except QueueError as error:
            log.error("storing a console alert failed", extra={"error": str(error)})
            self._refuse(RefusedError(503, "unavailable", "the alert could not be stored; resend"))
            return
        except OSError:
            raise  # the client left: nobody to answer
        except Exception:  # a bug must cost one answer, never the listener
            log.exception("handling a console alert callback failed")
            self._refuse(RefusedError(503, "unavailable", "the alert could not be stored; resend"))
            return
        if new:
            self.server.stats.accepted(alert.kind)
        else:
            self.server.stats.duplicate()
        body = json.dumps({"status": "accepted" if new else "duplicate"}).encode()
        self._send(200, body, {"Content-Type": "application/json"})

    def _alert(self, rules: ListenerRules) -> ConsoleAlert:
        if not rules.allows(self.client_address[0]):
            raise RefusedError(403, "source", "this address may not post alerts")
        path = self.path.split("?", 1)[0]
        if not path.startswith(PATH_PREFIX):
            raise RefusedError(404, "not_found", "not found; Agora posts to /agora/alerts/<token>")
        if not rules.token_matches(path[len(PATH_PREFIX) :].encode()):
            raise RefusedError(403, "token", "wrong token in the path")
        if self.command != "POST":
            raise RefusedError(405, "method", "only POST")
        if not (self.server.web.current().rate_limiter or rules.limiter).allow():
            raise RefusedError(429, "rate_limited", "too many requests")
        try:
            return parse_alert(self._body())
        except PayloadError as error:
            status = 400 if error.reason == "invalid_json" else 422
            raise RefusedError(status, error.reason, str(error)) from None

    def _body(self) -> bytes:
        length = (self.headers.get("Content-Length") or "").strip()
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            raise RefusedError(411, "length_required", "send the body with a Content-Length")
        if int(length) > MAX_BODY:
            raise RefusedError(413, "too_large", f"the body is over {MAX_BODY} bytes")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise ConnectionAbortedError("the client sent less than its Content-Length")
        return body

    def _refuse(self, refusal: RefusedError) -> None:
        self.server.stats.rejected(refusal.reason)
        log.debug(
            "console alert callback refused",
            extra={"reason": refusal.reason, "status": refusal.status, "client": self._client()},
        )
        self.close_connection = True  # the body may be unread
        headers = {**_TEXT, "Connection": "close"}
        if refusal.status == 405:
            headers["Allow"] = "POST"
        self._send(refusal.status, f"{refusal}\n".encode(), headers)

    def _client(self) -> str:
        return str(self.client_address[0])

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**self.server.web.current().headers, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Without the request line: its path holds the token."""
        log.debug("console alert request", extra={"client": self._client(), "status": code})

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("console alert listener", extra={"client": self._client()})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        web: WebConfigWatcher,
        rules: Callable[[], ListenerRules],
        stats: ConsoleStats,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.web, self.rules, self.stats = web, rules, stats
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        bind_without_lookup(self)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        return wrap_accepted(sock, self.web), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("a console alert connection failed", exc_info=True)


class CallbackListener(Listener):
    """The listener in a daemon thread; bound when built, so a busy port fails early."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        web: WebConfigWatcher,
        rules: Callable[[], ListenerRules],
        stats: ConsoleStats,
    ) -> None:
        self._server = _Server((host, port), web, rules, stats)
        super().__init__(self._server, web, "console-alerts-listener")

    def set_web(self, web: WebConfigWatcher) -> None:
        """Another web config, from the next connection on."""
        self.web = self._server.web = web
