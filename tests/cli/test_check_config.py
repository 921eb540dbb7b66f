"""check-config refuses what serve refuses, with serve's message; the web config included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.cli.main import main
from tests.cli.helpers import config_file, write_yaml
from tests.tls_certs import Pki, bcrypt_hash, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls(pki: Pki, **changes: Any) -> dict[str, Any]:
    return {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key), **changes}


BROKEN: list[Any] = [
    pytest.param(
        lambda pki, tmp: {"basic_auth_users": {"alice": "plain-text-password"}},
        "basic_auth_users.alice: is not a bcrypt hash",
        id="a password that is not a bcrypt hash",
    ),
    pytest.param(
        lambda pki, tmp: {"tls_server_config": _tls(pki, cert_file=str(tmp / "gone.crt"))},
        "tls_server_config.cert_file: ",
        id="a missing certificate file",
    ),
    pytest.param(
        lambda pki, tmp: {
            "tls_server_config": _tls(
                pki, client_auth_type="RequestClientCert", client_ca_file=str(pki.ca)
            )
        },
        "'RequestClientCert' is not supported",
        id="client_auth_type RequestClientCert",
    ),
    pytest.param(
        lambda pki, tmp: {"tls_server_config": _tls(pki), "basic_auth_user": {}},
        "basic_auth_user: is not a web config key",
        id="an unknown key",
    ),
]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("web", "says"), BROKEN)
def test_a_web_config_serve_refuses_fails_check_config_with_serves_message(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str], web: Any, says: str
) -> None:
    config = config_file(tmp_path)
    web_file = write_yaml(tmp_path / "web.yml", web(pki, tmp_path))
    flags = [f"--config.file={config}", f"--web.config.file={web_file}"]
    code, out, err = _run(capsys, "check-config", *flags)
    assert code == 2
    assert "configuration OK" not in out
    assert f"web config {web_file}: " in err
    assert says in err
    serve_code, _, serve_err = _run(capsys, *flags)  # refused before anything starts
    assert serve_code == 2
    assert err == serve_err
    assert "plain-text-password" not in err


def test_a_missing_web_config_file_fails_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "web.yml"
    code, _, err = _run(
        capsys,
        "check-config",
        f"--config.file={config_file(tmp_path)}",
        f"--web.config.file={missing}",
    )
    assert code == 2
    assert f"web config {missing}: cannot read the file" in err


def test_a_good_web_config_passes_and_is_described(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    web = {"tls_server_config": _tls(pki), "basic_auth_users": {"alice": bcrypt_hash("pw")}}
    web_file = write_yaml(tmp_path / "web.yml", web)
    code, out, err = _run(
        capsys,
        "check-config",
        f"--config.file={config_file(tmp_path)}",
        f"--web.config.file={web_file}",
    )
    assert code == 0, err
    assert "configuration OK" in out
    assert f"web config {web_file}: TLS, basic auth (1 users)" in out


def test_a_bad_listen_address_fails_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    code, _, err = _run(capsys, "check-config", f"--config.file={config}", "--web.listen-address=x")
    assert code == 2
    assert "--web.listen-address='x' is not HOST:PORT" in err


def test_check_config_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "check-config", f"--config.file={config_file(tmp_path)}")
    assert code == 0, err
    assert not (tmp_path / "state").exists()
