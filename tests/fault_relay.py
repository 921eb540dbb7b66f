"""A relay in front of the simulator for the faults it cannot inject by itself.

The relay forwards each request to the simulator and passes its genuine answer
back, optionally rewritten (``rewrite``: a function of the JSON body, e.g.
negative or huge values, an empty ``data``), optionally trickled out one byte
at a time (``trickle_s``), and it can stop listening (``refuse()``) so that
connections are refused, then listen again on the same port (``accept()``).
Ground truth stays the simulator's.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


class _Relayed(ThreadingHTTPServer):
    daemon_threads = True
    relay: FaultRelay


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Relayed

    def do_GET(self) -> None:
        relay = self.server.relay
        status, content_type, body = relay.forward(self.path, self.headers.get("Authorization"))
        rewrite = relay.rewrite
        if rewrite is not None and content_type.startswith("application/json"):
            body = json.dumps(rewrite(json.loads(body))).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")  # no kept connection outlives refuse()
        self.close_connection = True
        self.end_headers()
        try:
            if relay.trickle_s:
                for index in range(len(body)):
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    time.sleep(relay.trickle_s)
            else:
                self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client gave up; that is the point

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FaultRelay:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rewrite: Rewrite | None = None
        self.trickle_s = 0.0
        self._server: _Relayed | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.accept()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(self, path: str, authorization: str | None) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=10)
        try:
            headers = {"Authorization": authorization} if authorization else {}
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            return answer.status, answer.getheader("Content-Type") or "", body
        finally:
            connection.close()

    def accept(self) -> None:
        """Listen (again, on the same port once it had one)."""
        if self._server is not None:
            return
        server = _Relayed(("127.0.0.1", self.port), _Handler)
        server.relay = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def refuse(self) -> None:
        """Stop listening: the next connections are refused."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(5)
        self._server = self._thread = None

    def refused(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return False
        except ConnectionRefusedError:
            return True

    def close(self) -> None:
        self.refuse()
