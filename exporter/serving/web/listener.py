"""What every listener of the exporter shares: a bound server served from a daemon thread.

The /metrics server (:class:`exporter.serving.server.MetricsServer`) and the
Console alert receiver (:class:`exporter.console.receiver.CallbackListener`)
each build their server (bound at once, so a busy port fails the start) and
hand it here; where it listens, its scheme, starting and stopping are done once.
"""

from __future__ import annotations

import socketserver
import threading

from exporter.serving.web.config import WebConfigWatcher


class Listener:
    """``httpd`` served from a daemon thread named ``name``, its TLS from ``web``."""

    def __init__(self, httpd: socketserver.BaseServer, web: WebConfigWatcher, name: str) -> None:
        self.web = web
        self._httpd = httpd
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])  # type: ignore[index]

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])  # type: ignore[index]

    @property
    def scheme(self) -> str:
        return "https" if self.web.current().tls else "http"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=self._name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the socket and what :meth:`_closing` closes, then wait
        (5 s at most) for the serving thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        self._closing()
        if thread is not None:
            thread.join(timeout=5)

    def _closing(self) -> None:
        """What a listener closes besides its socket (open connections, say)."""
