"""Pydantic's validation errors turned into one readable line per problem, secrets hidden."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from exporter.settings.base import (
    ENV_DELIMITER,
    ENV_PREFIX,
    HIDDEN,
    SECRET_KEYS,
    _dotted,
    _kind,
    _unwrap,
)
from exporter.settings.context import Path_, _Origins
from exporter.settings.fields import _CUSTOM_KINDS
from exporter.settings.models import Settings

# ---------------------------------------------------------------------------
# Errors


def _env_name(loc: Iterable[str | int]) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(str(segment).upper() for segment in loc)


def _shown(value: object) -> str:
    if value == []:
        return "an empty list"
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a {_kind(value)}"


def _model_at(loc: Path_) -> tuple[type[BaseModel] | None, Any]:
    """The model owning the last key of ``loc``, and that field (None if unknown)."""
    current: Any = Settings
    owner: type[BaseModel] | None = None
    field: Any = None
    for segment in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            owner, field = current, current.model_fields.get(str(segment))
            if field is None:
                return owner, None
            current = field.annotation
        elif get_origin(current) is list and isinstance(segment, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return owner, field
    return owner, field


_FRIENDLIER = {
    "model_type": "must be a mapping (key: value lines indented below it)",
    "model_attributes_type": "must be a mapping (key: value lines indented below it)",
    "dict_type": "must be a mapping (key: value lines indented below it)",
    "list_type": "must be a list ([a, b] or one '- item' line each)",
}


def _describe(error: Mapping[str, Any], origins: _Origins) -> str:
    """One line for one pydantic error: path, problem, what was given, where, the fix."""
    loc: Path_ = tuple(part for part in error["loc"] if part != "[key]")
    ctx = error.get("ctx") or {}
    path = _dotted(loc) + str(ctx.get("at", ""))
    origin = origins.find(loc)
    where = f" ({origin})" if origin else ""
    kind = str(error["type"])
    secret = any(segment in SECRET_KEYS for segment in loc)
    owner, field = _model_at(loc)
    description = getattr(field, "description", None)
    if kind == "missing":
        return _missing(loc, field)
    if kind == "extra_forbidden":
        valid = sorted(owner.model_fields) if owner is not None else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        guess = f" Did you mean {close[0]}?" if close else ""
        return (
            f"{path}: unknown key{where}.{guess} Valid keys here: {', '.join(valid)}; "
            "remove or rename it."
        )
    given = HIDDEN if secret else _shown(error.get("input"))
    message = _FRIENDLIER.get(kind, str(error["msg"]))
    expected = "" if kind in _CUSTOM_KINDS or not description else f" Expected: {description}."
    return f"{path}: {message}; given {given}{where}.{expected}"


def _missing(loc: Path_, field: Any) -> str:
    path = _dotted(loc)
    section = _unwrap(getattr(field, "annotation", None))
    if isinstance(section, type) and issubclass(section, BaseModel):
        return _missing_section(loc, section)
    fix = f"set it in the config file or as {_env_name(loc)}"
    if loc[-1] in SECRET_KEYS:
        fix += f", or write it to the file {loc[-1]} in the secrets directory"
    description = getattr(field, "description", None)
    expected = f" Expected: {description}." if description else ""
    return f"{path}: missing; {fix}.{expected}"


def _missing_section(loc: Path_, section: type[BaseModel]) -> str:
    """A whole section is missing: name its keys and their variables, not the section's."""
    path = _dotted(loc)
    required = [name for name, field in section.model_fields.items() if field.is_required()]
    optional = [name for name in section.model_fields if name not in required]
    variables = [_env_name((*loc, name)) for name in required]
    text = (
        f"{path}: the {path} section is required; write {path}: in the config file with "
        f"{_listed(required)} (optional: {', '.join(optional)}), or set {_listed(variables)}"
    )
    secrets = [name for name in required if name in SECRET_KEYS]
    if secrets:
        text += f"; {_listed(secrets)} may also be files in the secrets directory"
    return text + "."


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if len(s.strip()) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
        if secret.strip() != secret:
            text = text.replace(secret.strip(), "***")
    return text
