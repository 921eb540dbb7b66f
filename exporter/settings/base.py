"""Constants, the one error type of the configuration, and helpers shared by its modules."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from exporter.agora.limits import Plan

ENV_PREFIX = "AGORA_EXPORTER_"
ENV_DELIMITER = "__"
SECRET_KEYS = ("customer_id", "customer_secret")
SECRET_FILES = {
    "customer_id": ("agora__customer_id", "customer_id"),
    "customer_secret": ("agora__customer_secret", "customer_secret"),
}
REALTIME_PLANS = (Plan.PREMIUM, Plan.ENTERPRISE)
HIDDEN = "(hidden)"


class ConfigError(Exception):
    """The configuration cannot be used; the message is one readable block.

    ``problems`` holds one line per problem, each naming the key.
    """

    def __init__(self, problems: str | Iterable[str], *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        lines = []
        if len(self.problems) > 1:
            where = f" ({source})" if source else ""
            lines.append(f"{len(self.problems)} problems in the configuration{where}:")
            lines += [f"  - {problem}" for problem in self.problems]
        else:
            lines += self.problems
        super().__init__("\n".join(lines))


def _dotted(loc: Iterable[str | int]) -> str:
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += ("." if text else "") + str(segment)
    return text or "(top level)"


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    if value is None:
        return "null"
    return type(value).__name__


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = options[0]
        else:
            return annotation


def _child(annotation: Any, segment: str | int) -> Any:
    """The type of the key or item ``segment`` in an ``annotation`` (None if unknown)."""
    kind = _unwrap(annotation)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        field = kind.model_fields.get(str(segment))
        return None if field is None else field.annotation
    if get_origin(kind) is list:
        return get_args(kind)[0]
    if get_origin(kind) is dict:
        return get_args(kind)[1]
    return None
