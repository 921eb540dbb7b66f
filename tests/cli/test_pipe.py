"""A reader that leaves early (``agora-exporter plan | head -1``) ends the command quietly.

Real pipes and a real ``python -m exporter``: the error only shows in a
process whose stdout is a pipe, at a write or at the flush on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import EXPORTER, child_env, config_file
from tests.configs import small_config

PLAN_HEADER = "agora-exporter poll plan"


def _into_a_closed_pipe(argv: list[str], *, unbuffered: bool) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose read end is closed before the command writes a byte."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*EXPORTER, *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(unbuffered=unbuffered),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_plan_into_a_closed_pipe_says_nothing_and_exits_1(tmp_path: Path, unbuffered: bool) -> None:
    done = _into_a_closed_pipe(
        ["plan", f"--config.file={config_file(tmp_path)}"], unbuffered=unbuffered
    )
    assert done.stderr == ""
    assert done.returncode == 1


def test_help_into_a_closed_pipe_says_nothing(tmp_path: Path) -> None:
    done = _into_a_closed_pipe(["--help"], unbuffered=False)
    assert done.stderr == ""
    assert done.returncode == 1


@pytest.mark.skipif(shutil.which("head") is None, reason="needs head")
def test_plan_piped_into_head_prints_one_line_and_no_error(tmp_path: Path) -> None:
    # Half a megabyte of plan: far more than the pipe holds, so the exporter is
    # still writing when head exits, every time.
    channels = [{"cname": f"room-{n}", "uids": [1, 2]} for n in range(2000)]
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    config["apps"][0]["realtime"]["channels"] = channels
    path = config_file(tmp_path, apps=config["apps"])
    with (tmp_path / "stderr").open("w") as stderr:
        exporter = subprocess.Popen(
            [*EXPORTER, "plan", f"--config.file={path}"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=child_env(unbuffered=False),
        )
        assert exporter.stdout is not None
        head = subprocess.Popen(["head", "-1"], stdin=exporter.stdout, stdout=subprocess.PIPE)
        exporter.stdout.close()  # head holds the only read end now
        first, _ = head.communicate(timeout=60)
        code = exporter.wait(timeout=60)
    assert first.decode() == PLAN_HEADER + "\n"
    assert (tmp_path / "stderr").read_text() == ""
    assert code == 1
