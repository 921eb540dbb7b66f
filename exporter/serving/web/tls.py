"""``tls_server_config`` of the web config: the server's ``ssl.SSLContext``.

Names follow the exporter-toolkit (Go's crypto/tls): client auth types, TLS
versions and cipher suite names are translated to what Python's ``ssl`` (and
OpenSSL) call them. Python cannot request a client certificate without
verifying it, so ``RequestClientCert`` and ``RequireAnyClientCert`` are
refused; ``curve_preferences`` is checked and otherwise left to OpenSSL.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

WHERE = "tls_server_config"

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's cipher suite names -> OpenSSL's; TLS 1.3 suites are not configurable (None).
_CIPHERS: dict[str, str | None] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
_CURVES = ("CurveP256", "CurveP384", "CurveP521", "X25519")


class WebConfigError(Exception):
    """The web config cannot be used; the message names the file and the key."""


def fail(path: Path, where: str, problem: str) -> WebConfigError:
    prefix = f"web config {path}: " + (f"{where}: " if where else "")
    return WebConfigError(prefix + problem)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(Strict):
    cert: str | None = None
    key: SecretStr | None = None
    client_ca: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    client_allowed_sans: list[str] | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: list[str] = Field(default_factory=list)
    prefer_server_cipher_suites: bool = True
    curve_preferences: list[str] = Field(default_factory=list)


def _file(base: Path, name: str | None) -> Path | None:
    if not name:
        return None
    found = Path(name).expanduser()
    return found if found.is_absolute() else base / found


@dataclass(frozen=True)
class TLSParts:
    """What the server needs from ``tls_server_config``."""

    context: ssl.SSLContext | None = None
    cert_required: bool = False
    allowed_sans: frozenset[str] | None = None
    files: tuple[Path, ...] = ()


def tls_parts(path: Path, tls: TLSServerConfig, has_exclusions: bool) -> TLSParts:
    """Check ``tls_server_config`` and build the server's context; raises WebConfigError."""
    base = path.parent
    cert_file, key_file = _file(base, tls.cert_file), _file(base, tls.key_file)
    ca_file = _file(base, tls.client_ca_file)
    if cert_file is None and not tls.cert:
        raise fail(path, WHERE, "missing one of cert or cert_file")
    if key_file is None and tls.key is None:
        raise fail(path, WHERE, "missing one of key or key_file")
    has_ca = ca_file is not None or bool(tls.client_ca)
    mode = _client_auth(path, tls, has_ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _versions(path, context, tls)
    _ciphers(path, context, tls)
    _load_pair(path, context, tls, cert_file, key_file)
    # With excluded paths, the handshake lets a client without a certificate in
    # and each request outside the exclusions is checked instead.
    relaxed = mode == ssl.CERT_REQUIRED and has_exclusions
    context.verify_mode = ssl.CERT_OPTIONAL if relaxed else mode
    if has_ca:
        try:
            context.load_verify_locations(
                cafile=None if ca_file is None else str(ca_file), cadata=tls.client_ca
            )
        except (OSError, ssl.SSLError, ValueError) as error:
            raise fail(path, f"{WHERE}.client_ca_file", f"cannot load the CA ({error})") from None
    files = tuple(one for one in (cert_file, key_file, ca_file) if one is not None)
    sans = None if tls.client_allowed_sans is None else frozenset(tls.client_allowed_sans)
    return TLSParts(context, relaxed, sans, files)


def _client_auth(path: Path, tls: TLSServerConfig, has_ca: bool) -> ssl.VerifyMode:
    mode = _CLIENT_AUTH.get(tls.client_auth_type)
    if mode is None:
        raise fail(
            path,
            f"{WHERE}.client_auth_type",
            f"{tls.client_auth_type!r} is not supported; use RequireAndVerifyClientCert "
            "(mTLS), VerifyClientCertIfGiven or NoClientCert",
        )
    if has_ca and mode == ssl.CERT_NONE:
        raise fail(path, WHERE, "client CA's have been configured without a client_auth_type")
    if mode != ssl.CERT_NONE and not has_ca:
        raise fail(path, f"{WHERE}.client_ca_file", f"{tls.client_auth_type} needs a client CA")
    if tls.client_allowed_sans is not None and mode != ssl.CERT_REQUIRED:
        raise fail(
            path,
            f"{WHERE}.client_allowed_sans",
            "needs client_auth_type RequireAndVerifyClientCert",
        )
    return mode


def _versions(path: Path, context: ssl.SSLContext, tls: TLSServerConfig) -> None:
    for key, value, attribute in (
        ("min_version", tls.min_version, "minimum_version"),
        ("max_version", tls.max_version, "maximum_version"),
    ):
        if value not in _TLS_VERSIONS:
            raise fail(path, f"{WHERE}.{key}", f"must be one of {', '.join(_TLS_VERSIONS)}")
        setattr(context, attribute, _TLS_VERSIONS[value])
    for curve in tls.curve_preferences:
        if curve not in _CURVES:
            raise fail(path, f"{WHERE}.curve_preferences", f"unknown curve {curve!r}")


def _ciphers(path: Path, context: ssl.SSLContext, tls: TLSServerConfig) -> None:
    where = f"{WHERE}.cipher_suites"
    names = []
    for suite in tls.cipher_suites:
        if suite not in _CIPHERS:
            raise fail(path, where, f"unknown cipher {suite!r}")
        openssl_name = _CIPHERS[suite]
        if openssl_name is not None:
            names.append(openssl_name)
    if names:
        try:
            context.set_ciphers(":".join(names))
        except ssl.SSLError:
            raise fail(path, where, "OpenSSL accepts none of these ciphers") from None
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE


def _load_pair(
    path: Path,
    context: ssl.SSLContext,
    tls: TLSServerConfig,
    cert_file: Path | None,
    key_file: Path | None,
) -> None:
    where = WHERE
    for key, one in (("cert_file", cert_file), ("key_file", key_file)):
        if one is not None and not one.is_file():
            raise fail(path, f"{where}.{key}", f"{one} does not exist or is not a file")
    with tempfile.TemporaryDirectory(prefix="agora-tls-") as scratch:
        # load_cert_chain reads files only: inline PEM goes through a private temp file.
        if cert_file is None:
            cert_file = Path(scratch) / "cert.pem"
            cert_file.write_text(tls.cert or "")
        if key_file is None:
            key_file = Path(scratch) / "key.pem"
            key_file.touch(mode=0o600)
            key_file.write_text(tls.key.get_secret_value() if tls.key else "")
        try:
            context.load_cert_chain(str(cert_file), str(key_file))
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "reason", None) or error.__class__.__name__
            raise fail(
                path,
                where,
                f"cannot load the certificate and key ({reason}); check that cert_file and "
                "key_file are PEM files and belong together",
            ) from None


def _normal_san(kind: str, value: str) -> str:
    if kind == "IP Address":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value
    return value


def san_values(cert: dict[str, Any] | None) -> set[str]:
    """Every Subject Alternative Name of a peer certificate (DNS, IP, e-mail, URI)."""
    found = set()
    for kind, value in (cert or {}).get("subjectAltName", ()):
        found.add(_normal_san(kind, value))
    return found
