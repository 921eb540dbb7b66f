"""Throw-away certificates for the TLS tests, made at test time (no key is committed).

``make_pki(directory)`` writes a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate signed by the CA (SAN ``prometheus.test``), and
a client certificate from an unrelated CA, as PEM files. EC P-256 keys: fast
to make, accepted by curl, httpx and Go's crypto/tls (Prometheus).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_SAN = "prometheus.test"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("agora-exporter test CA", ca_key, None, ca=True)
    ca_path, _ = _write(directory, "ca", ca_cert, ca_key)
    issuer = (ca_cert.subject, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server = _issue(
        "localhost", server_key, issuer, sans=server_sans, usage=ExtendedKeyUsageOID.SERVER_AUTH
    )
    server_cert, server_key_path = _write(directory, "server", server, server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(
        "prometheus",
        client_key,
        issuer,
        sans=[x509.DNSName(CLIENT_SAN)],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    client_cert, client_key_path = _write(directory, "client", client, client_key)
    stranger_ca_key = ec.generate_private_key(ec.SECP256R1())
    stranger_ca = _issue("someone else's CA", stranger_ca_key, None, ca=True)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _issue(
        "stranger",
        stranger_key,
        (stranger_ca.subject, stranger_ca_key),
        sans=[x509.DNSName(CLIENT_SAN)],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    stranger_cert, stranger_key_path = _write(directory, "stranger", stranger, stranger_key)
    return Pki(
        ca=ca_path,
        server_cert=server_cert,
        server_key=server_key_path,
        client_cert=client_cert,
        client_key=client_key_path,
        stranger_cert=stranger_cert,
        stranger_key=stranger_key_path,
    )


def bcrypt_hash(password: str, cost: int = 4) -> str:
    """What ``htpasswd -nBC <cost>`` makes (``$2y$``); cost 4 keeps the tests fast."""
    made = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()
    return "$2y$" + made[4:]
