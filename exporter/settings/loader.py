"""load_settings: merge the sources, validate once, raise one ConfigError."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    SecretStr,
    ValidationError,
)

from exporter.settings.base import SECRET_KEYS, ConfigError
from exporter.settings.errors import _describe, _redact
from exporter.settings.models import Settings
from exporter.settings.sources import (
    Path_,
    _merge,
    _Origins,
    _read_env,
    _read_secrets,
    _read_yaml,
    _secrets_dir,
)

# ---------------------------------------------------------------------------
# Entry point


def load_settings(
    config_file: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the configuration (precedence in the module docstring).

    ``environ`` defaults to ``os.environ``; ``overrides`` (a nested mapping)
    beats everything. Raises :class:`ConfigError`.
    """
    if environ is None:
        environ = os.environ
    origins = _Origins()
    secrets: list[str] = []
    source = None if config_file is None else str(config_file)
    from_file = {} if config_file is None else _read_yaml(Path(config_file), origins)
    _collect_secrets(from_file, secrets)
    from_env, ignored = _read_env(environ, origins, secrets)
    _collect_secrets(from_env, secrets)
    from_cli: dict[str, Any] = copy.deepcopy(dict(overrides or {}))
    _collect_secrets(from_cli, secrets)
    for path in _leaf_paths(from_cli):
        origins.add(path, "command-line override", 4)
    secrets_dir = _secrets_dir(from_cli, from_env, from_file)
    merged: Any = {}
    if secrets_dir is not None:
        merged = _read_secrets(secrets_dir, origins, secrets)
    for layer in (from_file, from_env, from_cli):
        merged = _merge(merged, layer)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        problems = [_describe(item, origins) for item in error.errors()]
        raise ConfigError([_redact(p, secrets) for p in problems], source=source) from None
    settings._ignored_environment = tuple(ignored)
    return settings


def _collect_secrets(tree: Mapping[str, Any], secrets: list[str]) -> None:
    agora = tree.get("agora")
    if isinstance(agora, Mapping):
        for key in SECRET_KEYS:
            value = agora.get(key)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                secrets.append(str(value))


def _leaf_paths(tree: Any, path: Path_ = ()) -> Iterable[Path_]:
    if isinstance(tree, Mapping) and tree:
        for key, value in tree.items():
            yield from _leaf_paths(value, (*path, key))
    elif isinstance(tree, list) and tree:
        for index, value in enumerate(tree):
            yield from _leaf_paths(value, (*path, index))
    else:
        yield path
