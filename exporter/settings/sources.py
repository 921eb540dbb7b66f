"""Where values come from: the YAML file (with line numbers), the environment, the
secrets directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from exporter.settings.base import (
    ENV_DELIMITER,
    ENV_PREFIX,
    SECRET_FILES,
    SECRET_KEYS,
    ConfigError,
    _dotted,
    _kind,
)
from exporter.settings.models import Settings

# ---------------------------------------------------------------------------
# Sources


Path_ = tuple[str | int, ...]


class _Indexed(dict[int, Any]):
    """List items addressed by index from the environment (``APPS__0__APPID``)."""

    origin = "environment"


class _Origins:
    """Where values came from, to tell the user which file line or variable to fix."""

    def __init__(self) -> None:
        self._entries: list[tuple[Path_, str, int]] = []

    def add(self, path: Path_, origin: str, precedence: int) -> None:
        self._entries.append((path, origin, precedence))

    def find(self, loc: Path_) -> str | None:
        best: tuple[int, int, str] | None = None
        for path, origin, precedence in self._entries:
            if loc[: len(path)] == path:
                rank = (len(path), precedence, origin)
                if best is None or rank[:2] > best[:2]:
                    best = rank
        return None if best is None else best[2]


class _Loader(yaml.SafeLoader):
    """SafeLoader; duplicate keys are found on the node tree before construction."""


def _index_node(node: yaml.Node, path: Path_, source: str, origins: _Origins) -> None:
    if path:
        origins.add(path, f"{source} line {node.start_mark.line + 1}", 1)
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
            _index_node(value_node, (*path, key), source, origins)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_node(item, (*path, index), source, origins)


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


def _read_yaml(config_file: Path, origins: _Origins) -> dict[str, Any]:
    source = str(config_file)
    try:
        text = config_file.read_text(encoding="utf-8")
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
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        _index_node(node, (), source, origins)
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


def _env_path(rest: str) -> Path_ | None:
    parts = rest.split(ENV_DELIMITER)
    if any(not part for part in parts):
        return None
    return tuple(int(part) if part.isdigit() else part.lower() for part in parts)


def _nest(path: Path_, value: Any, origin: str) -> Any:
    for segment in reversed(path):
        if isinstance(segment, int):
            value = _Indexed({segment: value})
            value.origin = origin
        else:
            value = {segment: value}
    return value


def _read_env(
    environ: Mapping[str, str], origins: _Origins, secrets: list[str]
) -> tuple[dict[str, Any], list[str]]:
    tree: dict[str, Any] = {}
    ignored: list[str] = []
    found = []
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = _env_path(name[len(ENV_PREFIX) :])
        if path is None:
            raise ConfigError(
                f"environment variable {name}: empty name part; write "
                f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>, e.g. {ENV_PREFIX}AGORA__PLAN"
            )
        if path[0] not in Settings.model_fields:
            ignored.append(name)
            continue
        found.append((len(path), name, path, value))
    for _, name, path, value in sorted(found, key=lambda item: (item[0], item[1])):
        parsed: Any = value
        if path[-1] in SECRET_KEYS:
            secrets.append(value)
        elif value.strip()[:1] in ("[", "{"):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError as error:
                raise ConfigError(_yaml_problem(error, f"environment variable {name}")) from None
        origins.add(path, f"environment variable {name}", 3)
        tree = _merge(tree, _nest(path, parsed, name), keep_indexed=True)
    return tree, sorted(ignored)


def _merge(base: Any, overlay: Any, *, keep_indexed: bool = False) -> Any:
    """``overlay`` on top of ``base``: mappings merge, indexed items merge, the rest replaces.

    With ``keep_indexed`` (collecting the environment) indexed items stay indexed,
    so that they later merge into the file's list instead of replacing it.
    """
    if isinstance(overlay, _Indexed):
        if keep_indexed and (base is None or isinstance(base, _Indexed)):
            indexed = _Indexed(base or {})
            indexed.origin = overlay.origin
            for index, value in overlay.items():
                indexed[index] = _merge(indexed.get(index), value, keep_indexed=True)
            return indexed
        items = list(base) if isinstance(base, list) else []
        for index in sorted(overlay):
            if index < len(items):
                items[index] = _merge(items[index], overlay[index])
            elif index == len(items):
                items.append(_merge(None, overlay[index]))
            else:
                raise ConfigError(
                    f"{overlay.origin}: list index {index} is past the end of the list "
                    f"({len(items)} items so far); number list items from 0 without gaps"
                )
        return items
    if isinstance(overlay, Mapping):
        merged = dict(base) if isinstance(base, Mapping) else {}
        for key, value in overlay.items():
            merged[key] = _merge(merged.get(key), value, keep_indexed=keep_indexed)
        return merged
    return overlay


def _secrets_dir(*trees: Mapping[str, Any]) -> Path | None:
    for tree in trees:
        value = tree.get("secrets_dir")
        if value is None:
            continue
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError("secrets_dir: must be the path of a directory")
        return Path(value)
    return None


def _read_secrets(directory: Path, origins: _Origins, secrets: list[str]) -> dict[str, Any]:
    if not directory.is_dir():
        raise ConfigError(
            f"secrets_dir: {directory} is not a directory; create it or fix secrets_dir "
            f"(or {ENV_PREFIX}SECRETS_DIR)"
        )
    agora: dict[str, str] = {}
    for key, names in SECRET_FILES.items():
        for name in names:
            file = directory / name
            if not file.is_file():
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
                raise ConfigError(f"secrets file {file} cannot be read: {reason}") from None
            value = text.rstrip("\r\n")
            secrets.append(value)
            agora[key] = value
            origins.add(("agora", key), f"secrets file {file}", 0)
            break
    return {"agora": agora} if agora else {}
