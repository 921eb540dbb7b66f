"""The command line: plan, check-config, exit codes, no secret in any output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.cli.main import main
from tests.configs import small_config
from tests.daemon_helpers import SECRET


def _config_file(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "agora.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_plan_prints_the_worked_example_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGORA_EXPORTER_AGORA__CUSTOMER_SECRET", raising=False)
    path = _config_file(tmp_path, small_config("http://127.0.0.1:9", tmp_path / "state"))
    assert main(["plan", f"--config.file={path}"]) == 0
    out, err = capsys.readouterr()
    assert "every 80 s, replay lag 140 s: 1 series" in out  # the default weights
    assert "AgoraAudioFreezeRateHigh:        7 min 20 s" in out
    assert SECRET not in out + err


def test_plan_exits_non_zero_and_says_what_to_drop_when_infeasible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    config["apps"][0]["realtime"]["channels"] = [
        {"cname": f"room-{n}", "uids": [1, 2]} for n in range(20)
    ]
    assert main(["plan", f"--config.file={_config_file(tmp_path, config)}"]) != 0
    out, _ = capsys.readouterr()
    assert "drop" in out.lower()


def test_check_config_accepts_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config_file(tmp_path, small_config("http://127.0.0.1:9", tmp_path / "state"))
    assert main(["check-config", f"--config.file={path}"]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "key"),
    [
        pytest.param(lambda c: c["agora"].update(plan="gold"), "agora.plan", id="unknown plan"),
        pytest.param(
            lambda c: c["apps"][0].update(appid="nope"), "apps[0].appid", id="malformed appid"
        ),
        pytest.param(
            lambda c: c["agora"].update(headroom=1.5), "agora.headroom", id="headroom above one"
        ),
    ],
)
def test_check_config_names_the_bad_key_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: object, key: str
) -> None:
    config = small_config("http://127.0.0.1:9", tmp_path / "state")
    change(config)  # type: ignore[operator]
    assert main(["check-config", f"--config.file={_config_file(tmp_path, config)}"]) == 2
    _, err = capsys.readouterr()
    assert key in err
    assert SECRET not in err


def test_a_missing_config_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", f"--config.file={tmp_path / 'absent.yml'}"]) == 2
    assert "absent.yml" in capsys.readouterr().err


def test_a_bad_listen_address_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config_file(tmp_path, small_config("http://127.0.0.1:9", tmp_path / "state"))
    assert main([f"--config.file={path}", "--web.listen-address=nowhere"]) == 2
    assert "listen-address" in capsys.readouterr().err
