"""The ``--config.file`` source: one YAML file, each value's line noted for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from exporter.settings.base import ConfigError, _dotted, _kind
from exporter.settings.context import CONFIG_FILE, Path_, _Load

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings


class YamlFileSource(PydanticBaseSettingsSource):
    """The YAML file, keys as written (``Agora:`` is an unknown key, as in every section).

    pydantic-settings' YamlConfigSettingsSource skips a missing file, matches top-level
    keys case-insensitively and keeps no line numbers; this source does none of that.
    """

    def __init__(self, settings_cls: type[BaseSettings], load: _Load) -> None:
        super().__init__(settings_cls)
        self.data: dict[str, Any] = {}
        if load.config_file is not None:
            self.data = _read_yaml(load.config_file, load)
        load.keep_secrets(self.data)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.data


class _Loader(yaml.SafeLoader):
    """SafeLoader; duplicate keys are found on the node tree before construction."""


def _index_node(node: yaml.Node, path: Path_, source: str, load: _Load) -> None:
    if path:
        load.origins.add(path, f"{source} line {node.start_mark.line + 1}", CONFIG_FILE)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                dotted = _dotted((*path, key))
                raise ConfigError(
                    f"{source} line {line}: key {dotted} appears twice "
                    f"(first on line {seen[key]}); keep one"
                )
            seen[key] = line
            _index_node(value_node, (*path, key), source, load)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_node(item, (*path, index), source, load)


def _yaml_problem(error: yaml.YAMLError, where: str) -> str:
    # str(error) quotes the offending line, which may hold a secret: build our own.
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        text = f"{where} is not valid YAML: {error.problem or 'syntax error'}"
        text += f" at line {mark.line + 1}, column {mark.column + 1}"
        if error.context and error.context_mark is not None:
            text += f" ({error.context} started at line {error.context_mark.line + 1})"
        return text
    return f"{where} is not valid YAML"


def _read_text(config_file: Path) -> str:
    source = str(config_file)
    try:
        return config_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {source} not found; check --config.file "
            "(without it, settings come from AGORA_EXPORTER_* variables only)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {source} is a directory, not a YAML file") from None
    except PermissionError:
        raise ConfigError(
            f"config file {source} cannot be read: permission denied; make it readable "
            "by the user running the exporter"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {source} is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"config file {source} cannot be read: {error.strerror}") from None


def _read_yaml(config_file: Path, load: _Load) -> dict[str, Any]:
    source = str(config_file)
    loader = _Loader(_read_text(config_file))
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        _index_node(node, (), source, load)
        data = loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ConfigError(_yaml_problem(error, f"config file {source}")) from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {source}: the top level must be a mapping of sections "
            f"(agora:, state_dir:, exposition:, apps:), not a {_kind(data)}"
        )
    return data
