"""Config files for the command line tests, and running ``python -m exporter`` for real."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.configs import small_config

EXPORTER = [sys.executable, "-m", "exporter"]


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def config_file(tmp_path: Path, **changes: Any) -> Path:
    """The small reference config (no API is called), with top-level keys changed."""
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    config.update(changes)
    return write_yaml(tmp_path / "agora.yml", config)


def child_env(*, unbuffered: bool) -> dict[str, str]:
    """This environment, with Python's stdout buffered or not and the repo importable."""
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env
