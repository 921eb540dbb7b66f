"""The web config file: strict parsing with messages naming the key, bcrypt basic
auth, the rate limit, and re-reading the file when it changes."""

from __future__ import annotations

import base64
import logging
import ssl
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.cli.main import main
from exporter.serving.web.auth import BasicAuth, RateLimiter, parse_duration
from exporter.serving.web.config import WebConfigError, WebConfigWatcher, load_web_config
from tests.configs import small_config
from tests.fakes import FakeClock
from tests.tls_certs import Pki, bcrypt_hash, make_pki

PASSWORD = "Sesame-4c1e"
HASH = bcrypt_hash(PASSWORD)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _write(path: Path, config: Any) -> Path:
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _tls(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key), **extra}


def test_an_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    config = load_web_config(_write(tmp_path / "web.yml", ""))
    assert not config.tls
    assert config.auth is None
    assert config.describe() == "plain HTTP"


def test_a_full_config_gives_tls_with_client_certificates_and_basic_auth(
    tmp_path: Path, pki: Pki
) -> None:
    web = {
        "tls_server_config": _tls(
            pki,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(pki.ca),
            min_version="TLS13",
            cipher_suites=["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
            curve_preferences=["X25519"],
        ),
        "http_server_config": {"http2": False, "headers": {"X-Frame-Options": "deny"}},
        "basic_auth_users": {"prometheus": HASH},
        "rate_limit": {"interval": "100ms", "burst": 5},
    }
    config = load_web_config(_write(tmp_path / "web.yml", web))
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.auth is not None
    assert config.auth.check(_basic("prometheus", PASSWORD))
    assert config.headers == {"X-Frame-Options": "deny"}
    assert config.rate_limiter is not None
    assert config.describe() == "TLS, client certificates, basic auth (1 users)"


def test_relative_file_names_are_relative_to_the_web_config_file(tmp_path: Path, pki: Pki) -> None:
    directory = pki.server_cert.parent
    web = {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"}}
    config = load_web_config(_write(directory / "web.yml", web))
    assert config.tls
    assert pki.server_cert in config.watched


def test_excluding_a_probe_from_mtls_checks_the_certificate_per_request(
    tmp_path: Path, pki: Pki
) -> None:
    tls = _tls(pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(pki.ca))
    web = {"tls_server_config": tls, "auth_excluded_paths": ["/-/healthy"]}
    config = load_web_config(_write(tmp_path / "web.yml", web))
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == ssl.CERT_OPTIONAL
    assert config.client_cert_required
    assert config.excluded_paths == {"/-/healthy"}


BAD: list[Any] = [
    pytest.param({"tls_config": {}}, "tls_config", "not a web config key", id="an unknown key"),
    pytest.param(
        {"tls_server_config": {"cert_file": "x.crt"}},
        "tls_server_config",
        "missing one of key or key_file",
        id="a certificate without its key",
    ),
    pytest.param(
        {"tls_server_config": {"cert_file": "missing.crt", "key_file": "missing.key"}},
        "tls_server_config.cert_file",
        "does not exist",
        id="a certificate file that does not exist",
    ),
    pytest.param(
        {"tls_server_config": "SERVER"},
        "tls_server_config",
        "",
        id="a section that is not a mapping",
    ),
    pytest.param(
        {"basic_auth_users": {"alice": "plain-text-password"}},
        "basic_auth_users.alice",
        "htpasswd -nBC 10",
        id="a password that is not a bcrypt hash",
    ),
    pytest.param(
        {"http_server_config": {"headers": {"X-Powered-By": "me"}}},
        "http_server_config.headers.X-Powered-By",
        "not a supported header",
        id="an unsupported response header",
    ),
    pytest.param(
        {"auth_excluded_paths": ["-/healthy"]},
        "auth_excluded_paths",
        "must start with /",
        id="an excluded path without a leading slash",
    ),
    pytest.param(
        {"rate_limit": {"interval": "soon", "burst": 3}},
        "rate_limit.interval",
        "not a duration",
        id="a rate limit interval that is not a duration",
    ),
    pytest.param(["a", "list"], "", "must be a YAML mapping", id="a YAML list"),
    pytest.param("key: [unclosed", "", "not valid YAML", id="broken YAML"),
]


@pytest.mark.parametrize(("web", "key", "says"), BAD)
def test_a_bad_web_config_is_one_error_naming_the_file_and_the_key(
    tmp_path: Path, web: Any, key: str, says: str
) -> None:
    path = _write(tmp_path / "web.yml", web)
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    message = str(caught.value)
    assert message.startswith(f"web config {path}: {key}")
    assert says in message
    assert "plain-text-password" not in message


TLS_BAD: list[Any] = [
    pytest.param(
        {"client_auth_type": "RequireAnyClientCert", "client_ca_file": "CA"},
        "client_auth_type",
        "use RequireAndVerifyClientCert",
        id="a client auth type Python cannot enforce",
    ),
    pytest.param(
        {"client_ca_file": "CA"},
        "tls_server_config",
        "without a client_auth_type",
        id="a client CA without a client auth type",
    ),
    pytest.param(
        {"client_auth_type": "RequireAndVerifyClientCert"},
        "client_ca_file",
        "needs a client CA",
        id="client certificates without a CA to check them",
    ),
    pytest.param(
        {"client_allowed_sans": ["x"]},
        "client_allowed_sans",
        "RequireAndVerifyClientCert",
        id="allowed SANs without required client certificates",
    ),
    pytest.param({"min_version": "SSL3"}, "min_version", "TLS12", id="an unknown TLS version"),
    pytest.param(
        {"cipher_suites": ["TLS_RSA_WITH_RC4_128_SHA"]},
        "cipher_suites",
        "unknown cipher",
        id="a cipher suite Go does not offer",
    ),
    pytest.param(
        {"curve_preferences": ["P-256"]}, "curve_preferences", "unknown curve", id="a bad curve"
    ),
    pytest.param(
        {"key_file": "STRANGER_KEY"},
        "tls_server_config",
        "belong together",
        id="a key that does not match the certificate",
    ),
]


@pytest.mark.parametrize(("extra", "key", "says"), TLS_BAD)
def test_a_bad_tls_server_config_names_the_key_and_the_fix(
    tmp_path: Path, pki: Pki, extra: dict[str, Any], key: str, says: str
) -> None:
    files = {"CA": str(pki.ca), "STRANGER_KEY": str(pki.stranger_key)}
    resolved = {
        name: files.get(value, value) if isinstance(value, str) else value
        for name, value in extra.items()
    }
    path = _write(tmp_path / "web.yml", {"tls_server_config": {**_tls(pki), **resolved}})
    with pytest.raises(WebConfigError, match=key) as caught:
        load_web_config(path)
    assert says in str(caught.value)


def test_the_exporter_refuses_to_start_with_a_missing_web_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path / "agora.yml", small_config("http://127.0.0.1:9", tmp_path / "s"))
    missing = tmp_path / "nope.yml"
    code = main([f"--config.file={config}", f"--web.config.file={missing}"])
    assert code == 2
    assert f"web config {missing}: cannot read the file" in capsys.readouterr().err
    assert not (tmp_path / "s").exists(), "nothing starts before the web config is checked"


@pytest.fixture
def checkpw_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Counts bcrypt checks (each costs ~70 ms at cost 10)."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


def test_a_scraper_repeating_its_credentials_costs_one_bcrypt_check(
    checkpw_calls: list[bytes],
) -> None:
    auth = BasicAuth({"prometheus": HASH.encode()})
    for _ in range(5):
        assert auth.check(_basic("prometheus", PASSWORD))
        assert not auth.check(_basic("prometheus", "guess"))
    assert len(checkpw_calls) == 2


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="no header"),
        pytest.param("Bearer abc", id="another scheme"),
        pytest.param("Basic !!not-base64!!", id="broken base64"),
        pytest.param("Basic " + base64.b64encode(b"no-colon").decode(), id="no colon"),
        pytest.param(_basic("prometheus", "x" * 100), id="a password beyond bcrypt's 72 bytes"),
        pytest.param(_basic("mallory", PASSWORD), id="an unknown user with a known password"),
    ],
)
def test_anything_but_a_matching_user_and_password_is_refused(header: str | None) -> None:
    assert not BasicAuth({"prometheus": HASH.encode()}).check(header)


def test_an_unknown_user_costs_a_bcrypt_check_like_a_known_one(
    checkpw_calls: list[bytes],
) -> None:
    BasicAuth({"prometheus": HASH.encode()}).check(_basic("mallory", "guess"))
    assert len(checkpw_calls) == 1, "the same work, so timing does not tell users apart"


def test_the_rate_limit_allows_a_burst_then_one_request_per_interval() -> None:
    clock = FakeClock(0)
    limiter = RateLimiter(interval_s=1.0, burst=3, monotonic=clock)
    assert [limiter.allow() for _ in range(4)] == [True, True, True, False]
    clock.advance(1.0)
    assert [limiter.allow() for _ in range(2)] == [True, False]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("1s", 1.0), ("250ms", 0.25), ("1m30s", 90.0), ("2h", 7200.0)],
)
def test_go_durations_are_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_a_changed_web_config_applies_and_a_broken_one_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "web.yml", {"basic_auth_users": {"prometheus": HASH}})
    clock = FakeClock(0)
    watcher = WebConfigWatcher(path, check_every_s=1.0, monotonic=clock)
    new_password = "Rotated-77"
    _write(path, {"basic_auth_users": {"prometheus": bcrypt_hash(new_password)}})
    first = watcher.current().auth
    assert first is not None
    assert first.check(_basic("prometheus", PASSWORD)), "the change is not looked at yet"
    clock.advance(1.0)
    rotated = watcher.current().auth
    assert rotated is not None
    assert rotated.check(_basic("prometheus", new_password))
    assert not rotated.check(_basic("prometheus", PASSWORD))
    caplog.set_level(logging.ERROR)
    _write(path, "basic_auth_users: [broken")
    for _ in range(3):
        clock.advance(1.0)
        assert watcher.current().auth is rotated
    broken = [r for r in caplog.records if "keeping the previous web config" in r.getMessage()]
    assert len(broken) == 1, "one line per broken version, not one per request"
    assert not watcher.reload()
