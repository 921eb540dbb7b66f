"""The pydantic-settings sources: what the exporter adds to the library's, and keeps from before."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from exporter.agora.limits import Budget
from exporter.settings import ConfigError, Settings, load_settings

CUSTOMER_ID = "cid-3e4f5a6b7c8d"
CUSTOMER_SECRET = "sec-1a2b3c4d5e6f"
APPID = "0123456789abcdef0123456789abcdef"
CONFIG: dict[str, Any] = {
    "agora": {"customer_id": CUSTOMER_ID, "customer_secret": CUSTOMER_SECRET, "plan": "premium"},
    "apps": [{"appid": APPID, "realtime": {"channels": [{"cname": "lobby", "uids": [1]}]}}],
}


def _load(
    tmp_path: Path,
    config: str | dict[str, Any] = CONFIG,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return load_settings(path, environ=environ or {}, overrides=overrides)


def _error(tmp_path: Path, config: str | dict[str, Any], environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, config, environ)
    return str(caught.value)


def test_settings_are_pydantic_settings_with_the_documented_names() -> None:
    assert issubclass(Settings, BaseSettings)
    assert Settings.model_config.get("env_prefix") == "AGORA_EXPORTER_"
    assert Settings.model_config.get("env_nested_delimiter") == "__"


def test_settings_built_directly_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.upper().startswith("AGORA_EXPORTER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AGORA_EXPORTER_AGORA__CUSTOMER_ID", CUSTOMER_ID)
    monkeypatch.setenv("AGORA_EXPORTER_AGORA__CUSTOMER_SECRET", CUSTOMER_SECRET)
    monkeypatch.setenv("AGORA_EXPORTER_AGORA__PLAN", "enterprise")
    monkeypatch.setenv("AGORA_EXPORTER_APPS__0__APPID", APPID)
    settings = Settings()
    assert [app.appid for app in settings.apps] == [APPID]


def test_top_level_keys_are_matched_as_written(tmp_path: Path) -> None:
    config = {"Agora": CONFIG["agora"], "apps": CONFIG["apps"]}
    assert "Agora: unknown key" in _error(tmp_path, config, {})
    assert "Did you mean agora?" in _error(tmp_path, config, {})


# ---------------------------------------------------------------------------
# Environment


def test_a_mapping_in_yaml_flow_style_from_the_environment(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        environ={
            # The library reads the shorter name first, whatever the order here.
            "AGORA_EXPORTER_AGORA__QUOTA__REALTIME__PER_DAY": "7",
            "AGORA_EXPORTER_AGORA__QUOTA": "{realtime: {per_minute: 3}}",
        },
    )
    quota = settings.agora.quota[Budget.REALTIME]
    assert (quota.per_minute, quota.per_day) == (3, 7)


def test_values_of_text_keys_are_text_even_in_brackets(tmp_path: Path) -> None:
    secret = "{not: yaml"
    settings = _load(
        tmp_path,
        environ={
            "AGORA_EXPORTER_AGORA__CUSTOMER_SECRET": secret,
            "AGORA_EXPORTER_APPS__0__REALTIME__CHANNELS__0__CNAME": "[lobby]",
        },
    )
    assert settings.agora.customer_secret.get_secret_value() == secret
    assert settings.apps[0].realtime.channels[0].cname == "[lobby]"


def test_an_indexed_item_of_a_nested_list_merges_into_the_file(tmp_path: Path) -> None:
    settings = _load(
        tmp_path, environ={"AGORA_EXPORTER_APPS__0__REALTIME__CHANNELS__0__UIDS__1": "9"}
    )
    [channel] = settings.apps[0].realtime.channels
    assert (channel.cname, channel.uids) == ("lobby", [1, 9])


def test_a_gap_in_a_nested_list_names_the_variable(tmp_path: Path) -> None:
    name = "AGORA_EXPORTER_APPS__0__REALTIME__CHANNELS__2__CNAME"
    message = _error(tmp_path, CONFIG, {name: "hall"})
    assert message.startswith(f"environment variable {name}: list index 2 is past the end")
    assert "(1 items so far)" in message


def test_a_list_given_whole_and_by_index_is_refused(tmp_path: Path) -> None:
    whole, item = "AGORA_EXPORTER_APPS", "AGORA_EXPORTER_APPS__0__PRODUCT_TYPES"
    message = _error(tmp_path, CONFIG, {whole: f"[{{appid: {APPID}}}]", item: "Native"})
    assert message == (
        f"environment variables {whole} and {item} both set apps: "
        f"give the whole list in {whole} or its items by index, not both"
    )


# ---------------------------------------------------------------------------
# Secrets directory


def _without_credentials(**extra: Any) -> dict[str, Any]:
    return {"agora": {"plan": "premium"}, "apps": CONFIG["apps"], **extra}


def test_a_kubernetes_secret_volume_is_read(tmp_path: Path) -> None:
    # Kubernetes mounts each key as a link into ..data, itself a link to a dated directory.
    volume = tmp_path / "secrets"
    dated = volume / "..2024_05_01_12_00_00.000000001"
    dated.mkdir(parents=True)
    (dated / "customer_id").write_text(CUSTOMER_ID + "\n")
    (dated / "customer_secret").write_text(CUSTOMER_SECRET + "\n")
    (volume / "..data").symlink_to(dated.name)
    for name in ("customer_id", "customer_secret"):
        (volume / name).symlink_to(f"..data/{name}")
    settings = _load(tmp_path, _without_credentials(secrets_dir=str(volume)))
    assert settings.agora.customer_id.get_secret_value() == CUSTOMER_ID
    assert settings.agora.customer_secret.get_secret_value() == CUSTOMER_SECRET


def test_the_secrets_directory_can_come_from_the_overrides(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "agora__customer_id").write_text(CUSTOMER_ID)
    (directory / "customer_secret").write_text(CUSTOMER_SECRET)
    settings = _load(tmp_path, _without_credentials(), overrides={"secrets_dir": directory})
    assert settings.agora.customer_id.get_secret_value() == CUSTOMER_ID
    assert settings.secrets_dir == directory


def test_other_files_in_the_secrets_directory_are_not_read(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "customer_id").write_text(CUSTOMER_ID)
    (directory / "customer_secret").write_text(CUSTOMER_SECRET)
    (directory / "tls.key").write_bytes(b"\xff\xfe not text")
    (directory / "state_dir").write_text("/elsewhere")
    settings = _load(tmp_path, _without_credentials(secrets_dir=str(directory)))
    assert settings.state_dir == Path("state")


def test_a_missing_secret_file_names_the_file_to_write(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "customer_id").write_text(CUSTOMER_ID)
    message = _error(tmp_path, _without_credentials(secrets_dir=str(directory)), {})
    assert "agora.customer_secret: missing" in message
    assert "the file customer_secret in the secrets directory" in message
    assert CUSTOMER_ID not in message
