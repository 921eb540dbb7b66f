"""What every listener of the exporter does with its socket: bind, and TLS on accept.

Shared by the /metrics server and the Console alert receiver, so both bind the
same way and both take TLS from the same web config.
"""

from __future__ import annotations

import socket
import socketserver

from exporter.serving.web.config import WebConfigWatcher


def bind_without_lookup(server: socketserver.TCPServer) -> None:
    """Bind without ``HTTPServer``'s reverse DNS lookup of the address, which can stall
    a start for seconds where DNS is slow or missing."""
    socketserver.TCPServer.server_bind(server)
    host, port = server.server_address[:2]
    server.server_name, server.server_port = str(host), int(port)  # type: ignore[attr-defined]


def wrap_accepted(sock: socket.socket, web: WebConfigWatcher) -> socket.socket:
    """The accepted socket, wrapped for TLS when the web config in force asks for it.

    The handshake is left to the connection's own thread (``do_handshake_on_connect``
    off), so a slow or silent client never blocks the accepting one.
    """
    context = web.current().ssl_context
    if context is None:
        return sock
    try:
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except (OSError, ValueError):
        sock.close()
        raise OSError("TLS setup failed") from None
