"""The customer ID and secret, from a config file, the environment or a secrets
directory, never show: not in a log line (debug level, both formats), a
metric, the status page, an error message (even when the API echoes them),
`plan` or `check-config` output, a reload error, nor the state database."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter.simulator import Fault, Simulator
from exporter.store import DB_NAME
from tests.configs import small_config
from tests.daemon_helpers import free_port, wait_until

CUSTOMER_ID = "cid-7Hq2Vx9LmR"
SECRET = "sEcReT-91f3e7a2-Wombat"
TOKEN = base64.b64encode(f"{CUSTOMER_ID}:{SECRET}".encode()).decode()
NEEDLES = (CUSTOMER_ID, SECRET, TOKEN)


def _found_in(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


@contextmanager
def daemon(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


def _place_credentials(source: str, config: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """Put the credentials where ``source`` says; returns the environment to run with."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AGORA_")}
    agora = config["agora"]
    if source == "file":
        agora.update(customer_id=CUSTOMER_ID, customer_secret=SECRET)
    elif source == "environment":
        del agora["customer_id"], agora["customer_secret"]
        env["AGORA_EXPORTER_AGORA__CUSTOMER_ID"] = CUSTOMER_ID
        env["AGORA_EXPORTER_AGORA__CUSTOMER_SECRET"] = SECRET
    else:
        del agora["customer_id"], agora["customer_secret"]
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "customer_id").write_text(CUSTOMER_ID + "\n")
        (secrets / "customer_secret").write_text(SECRET + "\n")
        config["secrets_dir"] = str(secrets)
    return env


def _cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("source", "log_format"),
    [
        pytest.param("file", "logfmt", id="credentials in the config file logged as logfmt"),
        pytest.param("environment", "json", id="credentials in the environment logged as JSON"),
        pytest.param("secrets_dir", "logfmt", id="credentials in a secrets directory"),
    ],
)
def test_a_full_cycle_never_shows_the_customer_id_or_secret_anywhere(
    tmp_path: Path, source: str, log_format: str
) -> None:
    with Simulator(plan="enterprise", customer_id=CUSTOMER_ID, customer_secret=SECRET) as sim:
        # The API echoing the credentials back must not carry them into our errors.
        # An undocumented code is logged once with the API's text: redacted too.
        sim.faults.inject(
            Fault.BODY_CODE, code=777, message=f"no such customer {CUSTOMER_ID}:{SECRET}"
        )
        sim.faults.inject(Fault.HTML_500)
        config = small_config(sim.base_url, tmp_path / "state")
        env = _place_credentials(source, config, tmp_path)
        path = tmp_path / "agora.yml"
        path.write_text(yaml.safe_dump(config))
        port, log = free_port(), tmp_path / "exporter.log"
        seen: list[str] = []
        args = [
            f"--config.file={path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ]
        with daemon([*args, "--log.level=debug", f"--log.format={log_format}"], env, log) as run:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: _all_fetched(base), timeout_s=60, what="every series fetched")
            assert sim.faults.pending() == 0, "the faults were served"
            for page in ("/metrics", "/", "/-/ready", "/-/healthy"):
                seen.append(httpx.get(base + page, timeout=10).text)
            broken = yaml.safe_load(path.read_text())
            broken["agora"]["plan"] = "gold"
            path.write_text(yaml.safe_dump(broken))
            reload = httpx.post(base + "/-/reload", timeout=10)
            assert reload.status_code == 500
            seen.append(reload.text)
            run.terminate()
            assert run.wait(timeout=30) == 0
        path.write_text(yaml.safe_dump(config))
        seen.append(_cli(["plan", f"--config.file={path}"], env))
        seen.append(_cli(["check-config", f"--config.file={path}"], env))
        seen.append(_cli(["check-config", f"--config.file={path}", "--log.level=debug"], env))
        path.write_text(yaml.safe_dump(broken))
        seen.append(_cli(["check-config", f"--config.file={path}"], env))
    seen.append(log.read_text())
    assert "agora_realtime_users" in seen[0]
    assert "[redacted]" in seen[-1], "the echoed error is logged, redacted"
    assert "agora.plan" in seen[-2]
    everything = "\n".join(seen)
    assert _found_in(everything) == []
    database = (tmp_path / "state" / DB_NAME).read_bytes()
    wal = tmp_path / "state" / f"{DB_NAME}-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert [n for n in NEEDLES if n.encode() in stored] == []


def _all_fetched(base: str) -> bool:
    try:
        text = httpx.get(base + "/metrics", timeout=5).text
    except httpx.TransportError:
        return False
    lines = text.splitlines()
    shown = [line for line in lines if line.startswith("agora_realtime_newest_window")]
    planned = [line for line in lines if line.startswith("agora_realtime_poll_interval_seconds")]
    return len(shown) == len(planned) > 0  # one of each per request shape
