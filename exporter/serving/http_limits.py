"""The request-head budget: what a client may cost the server before anything else runs.

Every connection gets one deadline for its TLS handshake and its first request
head (``head_timeout_s`` from the accept), and each later request on a
keep-alive connection the same time from its first byte. The whole head, the
request line and every header line, may hold ``max_head_bytes``. The deadline
is for the whole head, not per read: each read waits only for what is left of
it, so a client dripping a byte at a time is closed on time. Headers are read
here, before the web config's TLS client checks, basic auth and rate limit, so
these bounds hold for every client, authenticated or not.

Request framing is strict (RFC 9112, section 6): a ``Transfer-Encoding`` (the
server reads no chunked body) or a ``Content-Length`` that is given twice or is
not a number is a 400 and the connection closes, so no body can be read as the
next request.
"""

from __future__ import annotations

import io
import re
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

KIB = 1024


@dataclass(frozen=True)
class HttpLimits:
    """The server's bounds on clients; the defaults are the production values."""

    max_head_bytes: int = 32 * KIB
    """The request line and all header lines together; beyond: 431, connection closed."""
    head_timeout_s: float = 10.0
    """TLS handshake and first head from the accept; a later head from its first byte."""
    idle_timeout_s: float = 30.0
    """A keep-alive connection silent this long, or a response write stalled this long."""
    max_connections: int = 256
    """Open connections (one thread each); beyond: a 503 and the connection is closed."""
    max_body_bytes: int = 64 * KIB
    """A request body (nothing reads one) is discarded up to this size, within the deadline."""


class HeadRefusedError(Exception):
    """The head broke a limit; ``status`` is the answer (None: close without one)."""

    status: int | None = None


class HeadTooLargeError(HeadRefusedError):
    status = 431


class HeadTimeoutError(HeadRefusedError):
    status = 408


class ClientGoneError(HeadRefusedError):
    """The client closed the connection in the middle of a head."""


Clock = Callable[[], float]

_ENDS = (b"\n\r\n", b"\n\n")


def _head_end(tail: bytes, chunk: bytes) -> int:
    """Where the blank line ending the head ends in ``chunk``; -1 if not in it.

    ``tail`` is the end of what was read before (or ``b"\\n"`` at the start, so a
    head that opens with a blank line ends there, as the stdlib parser expects).
    """
    window = tail + chunk
    found = [window.find(end) + len(end) for end in _ENDS if end in window]
    return min(found) - len(tail) if found else -1


def _wait_for(sock: socket.socket, deadline: float, clock: Clock) -> None:
    remaining = deadline - clock()
    if remaining <= 0:
        raise HeadTimeoutError
    sock.settimeout(remaining)


def read_head(
    rfile: io.BufferedIOBase,
    sock: socket.socket,
    *,
    deadline: float,
    max_bytes: int,
    clock: Clock = time.monotonic,
) -> bytes:
    """The request line and headers up to and with the blank line; ``b""``: closed first.

    Each read is one ``peek`` (at most one read from the socket) waiting only
    for what is left until ``deadline``; the bytes after the head stay in
    ``rfile`` for the body or the next request. Raises :class:`HeadRefusedError`.
    """
    assert isinstance(rfile, io.BufferedReader)
    head = bytearray()
    try:
        while True:
            _wait_for(sock, deadline, clock)
            chunk = rfile.peek(1)
            if not chunk:
                if head:
                    raise ClientGoneError
                return b""
            end = _head_end(bytes(head[-2:]) if head else b"\n", chunk)
            take = len(chunk) if end < 0 else end
            if len(head) + take > max_bytes:
                raise HeadTooLargeError
            head += rfile.read(take)
            if end >= 0:
                return bytes(head)
    except TimeoutError:
        raise HeadTimeoutError from None


def wait_first_byte(rfile: io.BufferedIOBase, sock: socket.socket, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for a keep-alive connection's next request; False: closed."""
    assert isinstance(rfile, io.BufferedReader)
    sock.settimeout(timeout_s)
    try:
        return bool(rfile.peek(1))
    except TimeoutError:
        return False


def discard_body(
    rfile: io.BufferedIOBase,
    sock: socket.socket,
    length: int,
    *,
    deadline: float,
    clock: Clock = time.monotonic,
) -> None:
    """Read and drop ``length`` bytes of body, within the request's deadline."""
    try:
        while length > 0:
            _wait_for(sock, deadline, clock)
            got = rfile.read1(min(length, 64 * KIB))
            if not got:
                raise ClientGoneError
            length -= len(got)
    except TimeoutError:
        raise HeadTimeoutError from None


def handshake(sock: ssl.SSLSocket, *, deadline: float, clock: Clock = time.monotonic) -> None:
    """The TLS handshake within ``deadline`` as a whole (not per read)."""
    sock.setblocking(False)
    try:
        while True:
            try:
                sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                wanted = select.POLLIN
            except ssl.SSLWantWriteError:
                wanted = select.POLLOUT
            remaining = deadline - clock()
            waiting = select.poll()  # not select(): descriptors beyond 1024 are common here
            waiting.register(sock, wanted)
            if remaining <= 0 or not waiting.poll(remaining * 1000):
                raise HeadTimeoutError
    finally:
        sock.setblocking(True)


def framing_problem(headers: Message) -> str | None:
    """Why the request's framing is refused (400), or None when it is sound."""
    if headers.get_all("Transfer-Encoding"):
        return "Transfer-Encoding is not accepted"
    lengths = headers.get_all("Content-Length") or []
    if len(lengths) > 1:
        return "Content-Length is given more than once"
    if lengths and not lengths[0].strip().isdigit():
        return "Content-Length is not a number"
    return None


def busy_response(server: str) -> bytes:
    """What a connection beyond ``max_connections`` gets before it is closed."""
    body = b"Too many open connections; try again shortly.\n"
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Server: {server}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


_ABSOLUTE = re.compile(r"(?<![\w:/.~-])(?:~|\.{1,2})?/(?!-/)[^\s'\"(),;:]*[^\s'\"(),;:.]")
_RELATIVE_FILE = re.compile(r"(?<![\w:/.~-])[\w.-]+(?:/[\w.+-]+)+\.[A-Za-z]{1,5}\b")


def without_paths(text: str) -> str:
    """``text`` with file names that have a directory replaced by ``[path]``.

    For answers to clients (a failed ``/-/reload``); the log keeps the names.
    URLs stay (``https://host/x`` is not a path), and so do words like
    ``true/false``.
    """
    return _RELATIVE_FILE.sub("[path]", _ABSOLUTE.sub("[path]", text))
