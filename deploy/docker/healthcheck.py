#!/usr/bin/env python3
"""The container image's HEALTHCHECK: GET /-/healthy where the exporter really listens.

The Dockerfile installs this file as ``/usr/local/bin/agora-exporter-healthcheck``.
The address is not hard-coded: the check reads the running exporter's own command
line (``/proc/1/cmdline``, or the first ``agora-exporter`` process in the container
when PID 1 is an init such as tini or a shell) and takes ``--web.listen-address``
and ``--web.config.file`` from it, with the exporter's defaults. So
``docker run IMAGE --web.listen-address=:9000`` is checked on port 9000, and a web
config with ``tls_server_config`` is checked over HTTPS.

Flags given to the check itself win over what it reads (same spelling as the
exporter's): ``agora-exporter-healthcheck --web.listen-address=127.0.0.1:9000``.

Healthy (exit 0) means the exporter's HTTP server answered: ``200`` from
/-/healthy, or ``401``/``403``/``429`` when basic auth, a client certificate or
the rate limit stands in the way (add ``/-/healthy`` to the web config's
``auth_excluded_paths`` to get a plain 200). When the web config demands a client
certificate on every path (``RequireAndVerifyClientCert`` without exclusions),
which the check does not have, a completed TLS handshake is the answer. Anything
else, a refused connection or a timeout, is unhealthy (exit 1, Docker's
convention; 2 is reserved). The check uses only the standard library (and PyYAML,
an exporter dependency, for the web config), ignores HTTP proxy variables, and
writes one line for ``docker inspect``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_LISTEN_ADDRESS = ":10042"  # the exporter's default, exporter/cli
PROGRAM = "agora-exporter"
HEALTHY_STATUSES = {200}
ANSWERED_STATUSES = {401: "basic auth", 403: "client certificate", 429: "rate limit"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--web.listen-address", dest="listen_address", default=None)
    parser.add_argument("--web.config.file", dest="web_config_file", default=None)
    parser.add_argument("--timeout", dest="timeout", type=float, default=None)
    return parser


def exporter_argv(proc: Path = Path("/proc")) -> list[str]:
    """The running exporter's arguments (after the program), or [] if none is found.

    PID 1 first (the image's ENTRYPOINT, possibly behind an init that keeps the
    command in its own argv), then the other processes in PID order.
    """
    pids = sorted(
        (int(p.name) for p in proc.iterdir() if p.name.isdigit()), key=lambda p: (p != 1, p)
    )
    for pid in pids:
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        argv = [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
        for index, part in enumerate(argv):
            if Path(part).name == PROGRAM:
                return argv[index + 1 :]
    return []


def target(listen_address: str) -> tuple[str, int]:
    """Where to connect for ``--web.listen-address`` (a wildcard host means loopback)."""
    host, sep, port_text = listen_address.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"--web.listen-address={listen_address!r} is not HOST:PORT")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port_text)


def web_config(path: str | None) -> tuple[bool, bool]:
    """(TLS, client certificate required on every path) from the web config file."""
    if path is None:
        return False, False
    import yaml  # an exporter dependency, present in the image

    data = yaml.safe_load(Path(path).read_text()) or {}
    tls = data.get("tls_server_config") or {}
    every_path = not data.get("auth_excluded_paths")
    return bool(tls), every_path and tls.get("client_auth_type") == "RequireAndVerifyClientCert"


def check(argv: Sequence[str], found: Sequence[str]) -> tuple[bool, str]:
    """(healthy, one line saying why); ``argv`` are the check's flags, ``found`` the exporter's."""
    parser = _parser()
    own, _ = parser.parse_known_args(list(argv))
    theirs, _ = parser.parse_known_args(list(found))
    listen = own.listen_address or theirs.listen_address or DEFAULT_LISTEN_ADDRESS
    config = own.web_config_file or theirs.web_config_file
    timeout = own.timeout if own.timeout is not None else 4.0
    host, port = target(listen)
    tls, cert_everywhere = web_config(config)
    scheme = "https" if tls else "http"
    url = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}/-/healthy"
    context = None
    if tls:
        # Liveness on the container's own address: the server's certificate is not checked.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if context is not None and cert_everywhere:
        return _handshake(host, port, context, timeout, url)
    connection: http.client.HTTPConnection
    if context is not None:
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(
            "GET", "/-/healthy", headers={"User-Agent": "agora-exporter-healthcheck"}
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return False, f"{url}: {error or type(error).__name__}"
    finally:
        connection.close()
    if status in HEALTHY_STATUSES:
        return True, f"{url}: {status}"
    if status in ANSWERED_STATUSES:
        why = ANSWERED_STATUSES[status]
        return True, f"{url}: {status} ({why}; auth_excluded_paths: [/-/healthy] avoids it)"
    return False, f"{url}: HTTP {status}"


def _handshake(
    host: str, port: int, context: ssl.SSLContext, timeout: float, url: str
) -> tuple[bool, str]:
    """A client certificate is required on every path, /-/healthy too: the TLS handshake.

    With TLS 1.3 the client's side of the handshake completes before the server
    checks the (missing) client certificate; with TLS 1.2 the server refuses it
    with an alert. Either way the exporter's TLS listener answered.
    """
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            version = tls.version()
    except ssl.SSLError as error:
        if "ALERT" in str(error.reason or "").upper():
            return True, f"{url}: TLS alert {error.reason} (client certificate required)"
        return False, f"{url}: TLS error: {error}"
    except OSError as error:
        return False, f"{url}: {error or type(error).__name__}"
    return True, f"{url}: {version} handshake (client certificate required, not sent)"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        found = exporter_argv() if os.path.isdir("/proc") else []
        healthy, line = check(sys.argv[1:] if argv is None else argv, found)
    except (ValueError, OSError, argparse.ArgumentError) as error:
        healthy, line = False, f"cannot check: {error}"
    except (Exception, SystemExit) as error:  # Docker reserves exit status 2 (argparse's)
        healthy, line = False, f"cannot check: {type(error).__name__}: {error}"
    print(("healthy: " if healthy else "unhealthy: ") + line)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
