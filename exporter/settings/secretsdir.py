"""The secrets directory: the files customer_id and customer_secret, as Docker mounts them.

pydantic-settings' own ``secrets_dir`` reads one file per top-level field (a file
``agora_exporter_agora`` holding JSON), and a fixed directory. Here the directory is
itself a setting (``secrets_dir`` from the overrides, the environment or the file), and
the layout is the one documented for users: ``agora__customer_id`` or else
``customer_id``, the same for the secret, a trailing newline stripped.
NestedSecretsSettingsSource, with no prefix and the ``__`` delimiter, nests
``agora__customer_id`` into ``agora.customer_id``; this source hands it those files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import NestedSecretsSettingsSource, PydanticBaseSettingsSource

from exporter.settings.base import ENV_DELIMITER, ENV_PREFIX, SECRET_FILES, ConfigError
from exporter.settings.context import SECRETS_FILE, _Load


class SecretsDirSource(NestedSecretsSettingsSource):
    """The lowest-precedence source; the directory comes from the sources above it."""

    def __init__(self, file_secret_settings: PydanticBaseSettingsSource, load: _Load) -> None:
        self._load = load
        super().__init__(
            file_secret_settings, secrets_prefix="", secrets_nested_delimiter=ENV_DELIMITER
        )

    def __call__(self) -> dict[str, Any]:
        directory = _directory(self.current_state.get("secrets_dir"))
        if directory is None:
            return {}
        self.env_vars = {
            f"agora{ENV_DELIMITER}{key}": self._read(directory / name, key)
            for key, name in _present(directory).items()
        }
        return super().__call__()

    def _read(self, file: Path, key: str) -> str:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ConfigError(f"secrets file {file} cannot be read: {reason}") from None
        value = text.rstrip("\r\n")
        self._load.secrets.append(value)
        self._load.origins.add(("agora", key), f"secrets file {file}", SECRETS_FILE)
        return value


def _directory(value: object) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str | Path) or not str(value):
        raise ConfigError("secrets_dir: must be the path of a directory")
    directory = Path(value)
    if not directory.is_dir():
        raise ConfigError(
            f"secrets_dir: {directory} is not a directory; create it or fix secrets_dir "
            f"(or {ENV_PREFIX}SECRETS_DIR)"
        )
    return directory


def _present(directory: Path) -> dict[str, str]:
    """The file to read for each credential: the section-prefixed name wins."""
    found: dict[str, str] = {}
    for key, names in SECRET_FILES.items():
        for name in names:
            if (directory / name).is_file():
                found[key] = name
                break
    return found
