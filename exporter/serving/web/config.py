"""``--web.config.file``: the Prometheus exporter-toolkit web configuration.

The same YAML every Prometheus exporter reads (TLS, client certificates, basic
auth with bcrypt hashes, response headers, a rate limit), plus the toolkit's
newer ``auth_excluded_paths`` for probes that cannot authenticate (never the
lifecycle endpoint ``/-/reload``). Parsing is
strict: an unknown key or a bad value is one :class:`WebConfigError` naming
the key. Relative file names are relative to the web config file, as in the
toolkit. :class:`WebConfigWatcher` re-reads the file (and the certificate
files it names) when any of them changes; a broken new version is logged and
the previous one stays in force.

Python's ``ssl`` cannot ask for a client certificate without verifying it, so
``RequestClientCert`` and ``RequireAnyClientCert`` are refused with advice;
``curve_preferences`` and ``http2`` are accepted and have no effect (OpenSSL's
curve order; the server speaks HTTP/1.1).
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError

from exporter.serving.web.auth import BasicAuth, RateLimiter, parse_duration
from exporter.serving.web.tls import (
    Strict,
    TLSParts,
    TLSServerConfig,
    WebConfigError,
    fail,
    tls_parts,
)

__all__ = ["WebConfig", "WebConfigError", "WebConfigWatcher", "load_web_config"]

log = logging.getLogger(__name__)

_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
)
_BCRYPT = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")
LIFECYCLE_PATHS = frozenset({"/-/reload"})
"""Paths that change the exporter: never excluded from the web config's checks."""


class _HTTPServerConfig(Strict):
    http2: bool = True
    headers: dict[str, str] = Field(default_factory=dict)


class _RateLimit(Strict):
    interval: str = "0"
    burst: int = Field(0, ge=0)


class _WebConfigFile(Strict):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: _HTTPServerConfig = Field(default_factory=_HTTPServerConfig)
    basic_auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit: _RateLimit | None = None
    auth_excluded_paths: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class WebConfig:
    """What the server enforces; ``WebConfig()`` is plain HTTP without auth."""

    ssl_context: ssl.SSLContext | None = None
    client_cert_required: bool = False
    """Checked per request: TLS asks for the certificate but lets excluded paths through."""
    allowed_sans: frozenset[str] | None = None
    auth: BasicAuth | None = None
    excluded_paths: frozenset[str] = frozenset()
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limiter: RateLimiter | None = None
    watched: tuple[Path, ...] = ()

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    def describe(self) -> str:
        parts = ["TLS" if self.tls else "plain HTTP"]
        mode = None if self.ssl_context is None else self.ssl_context.verify_mode
        if mode == ssl.CERT_REQUIRED or self.client_cert_required:
            parts.append("client certificates")
        elif mode == ssl.CERT_OPTIONAL:
            parts.append("client certificates if given")
        if self.auth is not None:
            parts.append(f"basic auth ({len(self.auth)} users)")
        if self.excluded_paths:
            parts.append("no auth on " + ", ".join(sorted(self.excluded_paths)))
        return ", ".join(parts)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as error:
        raise fail(path, "", f"cannot read the file ({error.strerror or error})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise fail(path, "", f"is not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise fail(path, "", "must be a YAML mapping (tls_server_config, basic_auth_users, ...)")
    return data


def _parse(path: Path, data: dict[str, Any]) -> _WebConfigFile:
    try:
        return _WebConfigFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            problem = "is not a web config key (see the exporter-toolkit web configuration)"
        else:
            problem = first["msg"]
        raise fail(path, where, problem) from None


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; raises :class:`WebConfigError`."""
    path = Path(path)
    parsed = _parse(path, _read(path))
    for name, value in parsed.http_server_config.headers.items():
        if name not in _HEADERS:
            raise fail(path, f"http_server_config.headers.{name}", "is not a supported header")
        if not value.strip():
            raise fail(path, f"http_server_config.headers.{name}", "is empty; remove it")
    for excluded in parsed.auth_excluded_paths:
        if not excluded.startswith("/"):
            raise fail(path, "auth_excluded_paths", f"{excluded!r} must start with /")
        if excluded in LIFECYCLE_PATHS:
            raise fail(
                path,
                "auth_excluded_paths",
                f"{excluded} changes the exporter and always needs the web config's auth; "
                "remove it from the list",
            )
    hashes = _hashes(path, parsed)
    tls = parsed.tls_server_config
    found = tls_parts(path, tls, bool(parsed.auth_excluded_paths)) if tls else TLSParts()
    if hashes and found.context is None:
        log.warning(
            "web config has basic auth without TLS: passwords travel in clear text",
            extra={"path": str(path)},
        )
    return WebConfig(
        ssl_context=found.context,
        client_cert_required=found.cert_required,
        allowed_sans=found.allowed_sans,
        auth=BasicAuth(hashes) if hashes else None,
        excluded_paths=frozenset(parsed.auth_excluded_paths),
        headers=dict(parsed.http_server_config.headers),
        rate_limiter=_limiter(path, parsed.rate_limit),
        watched=(path, *found.files),
    )


def _hashes(path: Path, parsed: _WebConfigFile) -> dict[str, bytes]:
    hashes: dict[str, bytes] = {}
    for user, hashed in parsed.basic_auth_users.items():
        text = hashed.get_secret_value().strip()
        if not _BCRYPT.fullmatch(text):
            raise fail(
                path,
                f"basic_auth_users.{user}",
                "is not a bcrypt hash; make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'",
            )
        hashes[user] = text.encode()
    return hashes


def _limiter(path: Path, rate_limit: _RateLimit | None) -> RateLimiter | None:
    if rate_limit is None:
        return None
    try:
        interval = parse_duration(rate_limit.interval)
    except ValueError as error:
        raise fail(path, "rate_limit.interval", str(error)) from None
    if interval <= 0:
        return None
    return RateLimiter(interval_s=interval, burst=max(1, rate_limit.burst))


Signature = tuple[tuple[str, bytes], ...]


def _signature(paths: tuple[Path, ...]) -> Signature:
    """A digest of each file's bytes: modification times are too coarse to see two
    quick edits, and the files are small."""
    found = []
    for one in paths:
        try:
            digest = hashlib.sha256(one.read_bytes()).digest()
        except OSError:
            digest = b""
        found.append((str(one), digest))
    return tuple(found)


class WebConfigWatcher:
    """The web config in force, re-read when the file or a certificate changes.

    ``current()`` looks at the files at most every ``check_every_s`` seconds;
    ``reload()`` reads them now (SIGHUP). Thread-safe.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        check_every_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = None if path is None else Path(path)
        self._check_every_s = check_every_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._config = WebConfig() if self._path is None else load_web_config(self._path)
        self._signature = _signature(self._config.watched)
        self._checked_at = monotonic()
        self._failed: Signature | None = None

    @property
    def path(self) -> Path | None:
        return self._path

    def current(self) -> WebConfig:
        if self._path is None:
            return self._config
        now = self._monotonic()
        if now - self._checked_at < self._check_every_s:
            return self._config
        with self._lock:
            if now - self._checked_at >= self._check_every_s:
                self._checked_at = now
                if _signature(self._config.watched) != self._signature:
                    self._reload_locked()
            return self._config

    def reload(self) -> bool:
        """Re-read the file now; False (old config kept) when the new one is broken."""
        if self._path is None:
            return True
        with self._lock:
            self._failed = None
            return self._reload_locked()

    def _reload_locked(self) -> bool:
        assert self._path is not None
        signature = _signature(self._config.watched)
        try:
            config = load_web_config(self._path)
        except WebConfigError as error:
            if signature != self._failed:  # one line per broken version, not per request
                log.error(
                    "web config is broken; keeping the previous web config",
                    extra={"path": str(self._path), "error": str(error)},
                )
                self._failed = signature
            return False
        self._config = config
        self._signature = _signature(config.watched)
        self._failed = None
        log.info("web config loaded", extra={"path": str(self._path), "mode": config.describe()})
        return True
