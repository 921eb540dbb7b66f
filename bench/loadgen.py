"""wrk and nginx for the benchmarks: a load generator, and a yardstick to measure against.

Both come from Debian (``apt-get install -y wrk nginx-light``); nothing in the
test suite needs them. :func:`wrk` drives one URL with a fixed number of
keep-alive connections and returns its figures; :class:`Nginx` serves one file
at ``/metrics``, the fastest a server on this machine could answer the same
bytes, or spreads requests over several simulators.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

INSTALL_HINT = "install them with: apt-get install -y wrk nginx-light"

# wrk prints these after its run; the benchmark reads the line starting with WRK-JSON.
_REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors": %d, '
    .. '"non_2xx": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def missing_tools() -> list[str]:
    """The tools of this module that are not installed."""
    return [name for name in ("wrk", "nginx") if _which(name) is None]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes: int
    errors: int
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk(
    url: str,
    *,
    connections: int = 8,
    threads: int = 2,
    duration_s: float = 30.0,
    headers: dict[str, str] | None = None,
    pause_ms: int = 0,
) -> WrkResult:
    """Scrape ``url`` on ``connections`` keep-alive connections, each pausing
    ``pause_ms`` between an answer and its next request (0: back to back)."""
    binary = _which("wrk")
    if binary is None:
        raise SystemExit(f"wrk is missing; {INSTALL_HINT}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_REPORT)
        if pause_ms:
            script.write(f"delay = function() return {int(pause_ms)} end\n")
    args = [binary, f"-c{connections}", f"-t{threads}", f"-d{max(1, round(duration_s))}s"]
    args += ["--timeout", "10s", "-s", script.name]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    try:
        done = subprocess.run([*args, url], capture_output=True, text=True, check=False)
    finally:
        os.unlink(script.name)
    for line in done.stdout.splitlines():
        if line.startswith("WRK-JSON "):
            raw = json.loads(line.removeprefix("WRK-JSON "))
            return WrkResult(
                requests=raw["requests"],
                duration_s=raw["duration_us"] / 1e6,
                bytes=raw["bytes"],
                errors=raw["errors"],
                non_2xx=raw["non_2xx"],
                p50_ms=raw["p50_us"] / 1000,
                p90_ms=raw["p90_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no report:\n{done.stdout}\n{done.stderr}")


_NGINX_CONF = """
worker_processes 2;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  {upstream}
  server {{
    listen 127.0.0.1:{port};
    {location}
  }}
}}
"""


class Nginx:
    """nginx on a free loopback port: :meth:`file` serves one file, :meth:`balancer` proxies."""

    def __init__(self, upstream: str, location: str) -> None:
        self._upstream, self._location = upstream, location
        self._scratch = tempfile.TemporaryDirectory(prefix="agora-bench-nginx-")
        self._process: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    @classmethod
    def file(cls, body: Path, *, content_type: str, headers: dict[str, str] | None = None) -> Nginx:
        """``body`` at ``/metrics`` with ``content_type`` and ``headers``."""
        extra = "".join(f" add_header {k} {v};" for k, v in (headers or {}).items())
        location = f'location = /metrics {{ default_type "{content_type}"; alias {body.resolve()};'
        return cls("", location + extra + " }")

    @classmethod
    def balancer(cls, upstreams: list[str]) -> Nginx:
        """Every request to one of ``upstreams`` (``host:port``) in turn, over keep-alive."""
        servers = "".join(f" server {one};" for one in upstreams)
        location = (
            "location / { proxy_pass http://upstreams; proxy_http_version 1.1;"
            ' proxy_set_header Connection ""; proxy_buffering off; }'
        )
        return cls(f"upstream upstreams {{{servers} keepalive 32; }}", location)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/metrics"

    def __enter__(self) -> Nginx:
        binary = _which("nginx")
        if binary is None:
            raise SystemExit(f"nginx is missing; {INSTALL_HINT}")
        prefix = Path(self._scratch.name)
        prefix.chmod(0o755)  # root's nginx reads as its workers' user
        conf = prefix / "nginx.conf"
        conf.write_text(
            _NGINX_CONF.format(
                user="user root;" if os.geteuid() == 0 else "",
                prefix=prefix,
                port=self.port,
                upstream=self._upstream,
                location=self._location,
            )
        )
        self._process = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off; master_process on;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self._process.poll() is not None:
                    break
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"nginx did not start; see {prefix}/error.log")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        self._scratch.cleanup()
