"""Protecting /metrics: TLS, client certificates and basic auth with real clients
(httpx, curl, Debian's Prometheus), certificates made at test time."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from exporter.app import build_app
from exporter.serving.http_limits import HttpLimits
from exporter.serving.server import MetricsServer, Routes
from exporter.serving.web.config import WebConfigWatcher
from tests.configs import settings_from, small_config
from tests.daemon_helpers import free_port, live_simulator, wait_until
from tests.tls_certs import CLIENT_SAN, Pki, bcrypt_hash, make_pki

USER = "prometheus"
PASSWORD = "Scrape-5e2b91"
HASH = bcrypt_hash(PASSWORD)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("tls_test_up", "Always 1.", registry=registry).set(1)
    return registry


@contextmanager
def serving(
    web_file: Path, host: str = "127.0.0.1", limits: HttpLimits | None = None
) -> Iterator[MetricsServer]:
    """A MetricsServer that looks at the web config on every connection and request."""
    registry = _registry()
    routes = Routes(
        metrics=lambda accept, _: (generate_latest(registry), {"Content-Type": "text/plain"}),
        status_page=lambda: "<p>status</p>",
        is_ready=lambda: True,
    )
    watcher = WebConfigWatcher(web_file, check_every_s=0)
    server = MetricsServer(routes, host=host, port=0, web=watcher, limits=limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _web(path: Path, pki: Pki, **extra: Any) -> Path:
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    tls.update(extra.pop("tls", {}))
    path.write_text(yaml.safe_dump({"tls_server_config": tls, **extra}))
    return path


def _mtls(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {
        "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": str(pki.ca),
        **extra,
    }


def client(pki: Pki, *, cert: tuple[Path, Path] | None = None, **options: Any) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return httpx.Client(verify=context, timeout=10, **options)


def url(server: MetricsServer, path: str = "/metrics") -> str:
    return f"https://127.0.0.1:{server.port}{path}"


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        pytest.param((USER, PASSWORD), 200, id="the right password is served"),
        pytest.param((USER, "Scrape-5e2b92"), 401, id="a wrong password is refused"),
        pytest.param(("admin", PASSWORD), 401, id="an unknown user is refused"),
        pytest.param(None, 401, id="no credentials are refused"),
    ],
)
def test_metrics_over_tls_need_the_right_basic_auth_password(
    tmp_path: Path, pki: Pki, auth: tuple[str, str] | None, status: int
) -> None:
    web = _web(tmp_path / "web.yml", pki, basic_auth_users={USER: HASH})
    with serving(web) as server, client(pki, auth=auth) as http:
        answer = http.get(url(server))
    assert answer.status_code == status
    if status == 200:
        assert "tls_test_up 1.0" in answer.text
    else:
        assert answer.headers["WWW-Authenticate"] == "Basic"
        assert "tls_test_up" not in answer.text


def test_every_path_follows_the_same_auth_except_the_probe_the_user_excluded(
    tmp_path: Path, pki: Pki
) -> None:
    web = _web(
        tmp_path / "web.yml",
        pki,
        basic_auth_users={USER: HASH},
        auth_excluded_paths=["/-/healthy"],
        http_server_config={"headers": {"X-Frame-Options": "deny"}},
    )
    with serving(web) as server, client(pki) as http:
        refused = {path: http.get(url(server, path)).status_code for path in ("/", "/-/ready")}
        reload = http.post(url(server, "/-/reload")).status_code
        healthy = http.get(url(server, "/-/healthy"))
    assert refused == {"/": 401, "/-/ready": 401}
    assert reload == 401
    assert healthy.status_code == 200
    assert healthy.headers["X-Frame-Options"] == "deny"


@pytest.mark.parametrize(
    ("which", "served"),
    [
        pytest.param("client", True, id="a certificate from the client CA is served"),
        pytest.param(None, False, id="a client without a certificate cannot connect"),
        pytest.param("stranger", False, id="a certificate from another CA cannot connect"),
    ],
)
def test_mtls_serves_only_clients_with_a_certificate_from_the_client_ca(
    tmp_path: Path, pki: Pki, which: str | None, served: bool
) -> None:
    certs = {
        "client": (pki.client_cert, pki.client_key),
        "stranger": (pki.stranger_cert, pki.stranger_key),
    }
    web = _web(tmp_path / "web.yml", pki, tls=_mtls(pki))
    with serving(web) as server, client(pki, cert=certs.get(which or "")) as http:
        if served:
            assert http.get(url(server)).status_code == 200
        else:
            with pytest.raises(httpx.TransportError):
                http.get(url(server))
            # The server shrugs a failed handshake off and keeps serving.
            with client(pki, cert=certs["client"]) as good:
                assert good.get(url(server)).status_code == 200


def test_an_excluded_probe_answers_without_a_client_certificate_and_nothing_else_does(
    tmp_path: Path, pki: Pki
) -> None:
    web = _web(tmp_path / "web.yml", pki, tls=_mtls(pki), auth_excluded_paths=["/-/healthy"])
    with serving(web) as server, client(pki) as http:
        assert http.get(url(server, "/-/healthy")).status_code == 200
        assert http.get(url(server)).status_code == 403
        with client(pki, cert=(pki.client_cert, pki.client_key)) as with_cert:
            assert with_cert.get(url(server)).status_code == 200


@pytest.mark.parametrize(
    ("allowed", "served"),
    [
        pytest.param([CLIENT_SAN], True, id="a certificate with an allowed SAN is served"),
        pytest.param(["other.test"], False, id="a certificate without an allowed SAN is dropped"),
    ],
)
def test_client_allowed_sans_restrict_which_certificates_get_in(
    tmp_path: Path, pki: Pki, allowed: list[str], served: bool
) -> None:
    web = _web(tmp_path / "web.yml", pki, tls=_mtls(pki, client_allowed_sans=allowed))
    with serving(web) as server, client(pki, cert=(pki.client_cert, pki.client_key)) as http:
        if served:
            assert http.get(url(server)).status_code == 200
        else:
            with pytest.raises(httpx.TransportError):
                http.get(url(server))


def _curl(*args: str) -> tuple[int, str]:
    found = shutil.which("curl")
    if found is None:
        pytest.fail("curl is missing: install Debian's curl package (.ci/run does)")
    done = subprocess.run(
        [found, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return done.returncode, done.stdout.strip()


def test_curl_scrapes_through_mtls_and_basic_auth_and_is_refused_without_either(
    tmp_path: Path, pki: Pki
) -> None:
    web = _web(tmp_path / "web.yml", pki, tls=_mtls(pki), basic_auth_users={USER: HASH})
    cert = ["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    with serving(web) as server:
        target = url(server)
        right = _curl("--cacert", str(pki.ca), *cert, "-u", f"{USER}:{PASSWORD}", target)
        wrong = _curl("--cacert", str(pki.ca), *cert, "-u", f"{USER}:wrong", target)
        no_cert = _curl("--cacert", str(pki.ca), "-u", f"{USER}:{PASSWORD}", target)
        untrusted = _curl(*cert, "-u", f"{USER}:{PASSWORD}", target)
    assert right == (0, "200")
    assert wrong == (0, "401")
    assert no_cert[0] != 0, "the handshake fails without a client certificate"
    assert untrusted[0] != 0, "curl refuses a server certificate it cannot verify"


def test_a_rotated_password_and_certificate_apply_to_the_next_connection(
    tmp_path: Path, pki: Pki
) -> None:
    directory = tmp_path / "live"
    directory.mkdir()
    for source in (pki.server_cert, pki.server_key):
        shutil.copy(source, directory / source.name)
    web = tmp_path / "web.yml"

    def write(hashed: str) -> None:
        tls = {"cert_file": "live/server.crt", "key_file": "live/server.key"}
        web.write_text(
            yaml.safe_dump({"tls_server_config": tls, "basic_auth_users": {USER: hashed}})
        )

    write(HASH)
    renewed = make_pki(tmp_path / "renewed")
    with serving(web) as server:
        with client(pki, auth=(USER, PASSWORD)) as http:
            assert http.get(url(server)).status_code == 200
        write(bcrypt_hash("Rotated-1"))
        for source in (renewed.server_cert, renewed.server_key):
            shutil.copy(source, directory / source.name)
        with client(renewed, auth=(USER, "Rotated-1")) as http:
            assert http.get(url(server)).status_code == 200
        with client(renewed, auth=(USER, PASSWORD)) as http:
            assert http.get(url(server)).status_code == 401
        with client(pki, auth=(USER, "Rotated-1")) as http, pytest.raises(httpx.ConnectError):
            http.get(url(server))


def _first_answer(sock: socket.socket) -> bytes:
    try:
        return sock.recv(4096)
    except ConnectionResetError:
        return b""


@pytest.mark.parametrize(
    ("handshake", "answer"),
    [
        pytest.param(False, b"", id="no handshake: closed by the head deadline"),
        pytest.param(True, b"HTTP/1.1 408 ", id="a handshake and no request: 408 by the deadline"),
    ],
)
def test_a_silent_tls_client_is_closed_by_the_head_deadline(
    tmp_path: Path, pki: Pki, handshake: bool, answer: bytes
) -> None:
    web = _web(tmp_path / "web.yml", pki)
    with (
        serving(web, limits=HttpLimits(head_timeout_s=0.5)) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
    ):
        if not handshake:
            got = _first_answer(raw)  # a timeout after 10 s fails the test
        else:
            context = ssl.create_default_context(cafile=str(pki.ca))
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                got = _first_answer(tls)
    assert got[: len(answer)] == answer


def test_beyond_the_connection_cap_a_tls_client_is_closed_and_the_others_served(
    tmp_path: Path, pki: Pki
) -> None:
    web = _web(tmp_path / "web.yml", pki)
    with (
        serving(web, limits=HttpLimits(max_connections=1, head_timeout_s=30)) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as holder,
    ):
        holder.sendall(b"\x16")  # the start of a handshake holds the one thread
        wait_until(lambda: server.connections == 1, timeout_s=10, what="the holder's thread")
        with client(pki) as http, pytest.raises(httpx.ConnectError):
            http.get(url(server))
        holder.close()
        wait_until(lambda: server.connections == 0, timeout_s=10, what="the holder to go")
        with client(pki) as http:
            assert http.get(url(server)).status_code == 200


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_listen_address_is_served(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("")
    with serving(tmp_path / "web.yml", host="::1") as server:
        answer = httpx.get(f"http://[::1]:{server.port}/-/healthy", timeout=10)
    assert answer.status_code == 200


# --- Debian's Prometheus scraping the real exporter ---------------------------------


def _prometheus_config(path: Path, pki: Pki, target: str) -> None:
    tls = {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }

    def job(name: str, password: str) -> dict[str, Any]:
        return {
            "job_name": name,
            "scheme": "https",
            "tls_config": tls,
            "basic_auth": {"username": USER, "password": password},
            "static_configs": [{"targets": [target]}],
        }

    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [job("agora", PASSWORD), job("wrong-password", "nope")],
    }
    path.write_text(yaml.safe_dump(config))


def _query(api: httpx.Client, expr: str) -> dict[str, float]:
    try:
        answer = api.get("/api/v1/query", params={"query": expr}).json()
    except (httpx.TransportError, ValueError):  # not up yet, or not ready: no JSON
        return {}
    return {
        row["metric"].get("job", ""): float(row["value"][1])
        for row in answer.get("data", {}).get("result", [])
    }


@pytest.mark.prometheus
def test_prometheus_scrapes_the_exporter_through_mtls_and_basic_auth(
    tmp_path: Path, pki: Pki
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: install Debian's prometheus package (.ci/run does)")
    web = _web(tmp_path / "web.yml", pki, tls=_mtls(pki), basic_auth_users={USER: HASH})
    with live_simulator() as sim:
        settings = settings_from(small_config(sim.base_url, tmp_path / "state"))
        app = build_app(settings, host="127.0.0.1", port=0, web=WebConfigWatcher(web))
        app.start()
        port = free_port()
        _prometheus_config(tmp_path / "prometheus.yml", pki, f"127.0.0.1:{app.port}")
        with (
            (tmp_path / "prometheus.log").open("w") as log,
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            ) as prometheus,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api,
        ):
            try:
                wait_until(
                    lambda: _scraped(api),
                    timeout_s=60,
                    what="Prometheus to scrape the exporter (and be refused with a wrong password)",
                )
            finally:
                prometheus.terminate()
                prometheus.wait(timeout=30)
                app.stop()


def _scraped(api: httpx.Client) -> bool:
    """The right password gets the exporter's metrics in, the wrong one nothing."""
    if _query(api, "up") != {"agora": 1.0, "wrong-password": 0.0}:
        return False
    return _query(api, "agora_exporter_build_info") == {"agora": 1.0}
