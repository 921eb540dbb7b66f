"""The ``AGORA_EXPORTER_*`` environment, read by pydantic-settings' EnvSettingsSource.

The library matches the prefix and the names case-insensitively and nests on ``__``
(``AGORA_EXPORTER_AGORA__PLAN`` is ``agora.plan``). Added here, as the exporter always had:

- list items addressed by index (``AGORA_EXPORTER_APPS__0__APPID``) are merged into the
  config file's list, item by item, instead of replacing it;
- a value starting with ``[`` or ``{`` for a list or mapping key is read as YAML (JSON is
  YAML too); any other value stays text, so the list keys also take ``a, b``;
- a name with an empty part is an error, names that are no setting are listed by
  :meth:`Settings.ignored_environment`, and each variable is noted for error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

from exporter.settings.base import (
    ENV_DELIMITER,
    ENV_PREFIX,
    SECRET_KEYS,
    ConfigError,
    _child,
    _dotted,
    _unwrap,
)
from exporter.settings.context import ENVIRONMENT, Path_, _Load
from exporter.settings.yamlfile import YamlFileSource, _yaml_problem

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings


class EnvSource(EnvSettingsSource):
    """The library's environment source over ``load.environ``; ``below`` is the config file."""

    def __init__(
        self, settings_cls: type[BaseSettings], load: _Load, below: YamlFileSource
    ) -> None:
        self._load = load
        self._below = below
        super().__init__(settings_cls)  # prefix, delimiter and case from Settings.model_config

    def _load_env_vars(self) -> Mapping[str, str | None]:
        _note_variables(self._load, self.settings_cls.model_fields)
        # Lower-cased, as the library matches names with case_sensitive=False. Shortest
        # first: AGORA__QUOTA='{...}' is read before AGORA__QUOTA__X__Y, which the library
        # then sets inside it, whatever the order of os.environ.
        ordered = sorted(self._load.environ.items(), key=lambda item: len(item[0]))
        return {name.lower(): value for name, value in ordered}

    def next_field(
        self, field: FieldInfo | Any | None, key: str, case_sensitive: bool | None = None
    ) -> FieldInfo | None:
        """As the library's, and ``APPS__0`` is an item of the list ``apps``."""
        kind = _unwrap(field.annotation if isinstance(field, FieldInfo) else field)
        if key.isdigit() and get_origin(kind) is list:
            item: FieldInfo | None = get_args(kind)[0]
            return item
        return super().next_field(field, key, case_sensitive)

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        """YAML for a value in brackets or braces, the text itself otherwise (never JSON errors)."""
        if not isinstance(value, str) or value.strip()[:1] not in ("[", "{"):
            return value
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as error:
            where = f"environment variable {self._name_of(value, field_name)}"
            raise ConfigError(_yaml_problem(error, where)) from None

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        merged: dict[str, Any] = _lay_lists(
            data, self._below.data, self.settings_cls, (), self._load
        )
        return merged

    def _name_of(self, value: str, field_name: str) -> str:
        names = sorted(
            name
            for name, text in self._load.environ.items()
            if text == value and name.upper().startswith(ENV_PREFIX)
        )
        return names[0] if names else ENV_PREFIX + field_name.upper()


def _env_path(rest: str) -> Path_ | None:
    parts = rest.split(ENV_DELIMITER)
    if any(not part for part in parts):
        return None
    return tuple(int(part) if part.isdigit() else part.lower() for part in parts)


def _note_variables(load: _Load, fields: Mapping[str, FieldInfo]) -> None:
    """Check the names, list the ignored ones, note origins and secrets."""
    paths: dict[Path_, str] = {}
    for name, value in sorted(load.environ.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = _env_path(name[len(ENV_PREFIX) :])
        if path is None:
            raise ConfigError(
                f"environment variable {name}: empty name part; write "
                f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>, e.g. {ENV_PREFIX}AGORA__PLAN"
            )
        if path[0] not in fields:
            load.ignored.append(name)
            continue
        load.origins.add(path, f"environment variable {name}", ENVIRONMENT)
        if path[-1] in SECRET_KEYS:
            load.secrets.append(value)
        paths[path] = name
    _refuse_whole_and_indexed(paths)


def _refuse_whole_and_indexed(paths: Mapping[Path_, str]) -> None:
    """A list given whole (APPS='[...]') and by index (APPS__0__APPID) cannot be merged."""
    for path, name in paths.items():
        for end, segment in enumerate(path):
            whole = paths.get(path[:end])
            if isinstance(segment, int) and whole is not None:
                raise ConfigError(
                    f"environment variables {whole} and {name} both set {_dotted(path[:end])}: "
                    f"give the whole list in {whole} or its items by index, not both"
                )


def _lay_lists(value: Any, base: Any, annotation: Any, path: Path_, load: _Load) -> Any:
    """``value`` with each ``{"0": item}`` under a list key made a list: ``base``'s with
    the indexed items merged over it (``base`` is the same place in the config file)."""
    if not isinstance(value, dict):
        return value
    kind = _unwrap(annotation)
    if get_origin(kind) is list and value and all(str(key).isdigit() for key in value):
        items = list(base) if isinstance(base, list) else []
        for key in sorted(value, key=int):
            index = int(key)
            if index > len(items):
                origin = load.origins.below((*path, index), ENVIRONMENT) or "environment"
                raise ConfigError(
                    f"{origin}: list index {index} is past the end of the list "
                    f"({len(items)} items so far); number list items from 0 without gaps"
                )
            old = items[index] if index < len(items) else None
            new = _lay_lists(value[key], old, get_args(kind)[0], (*path, index), load)
            items[index : index + 1] = [_merged(old, new)]
        return items
    below = base if isinstance(base, dict) else {}
    return {
        key: _lay_lists(item, below.get(key), _child(kind, key), (*path, key), load)
        for key, item in value.items()
    }


def _merged(base: Any, overlay: Any) -> Any:
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = _merged(base.get(key), value)
    return merged
