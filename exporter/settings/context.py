"""What one load_settings call hands its sources, and what they note for its error messages."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from exporter.settings.base import SECRET_KEYS

Path_ = tuple[str | int, ...]

# Precedence of each origin, to name the one whose value won.
SECRETS_FILE, CONFIG_FILE, ENVIRONMENT, OVERRIDE = 0, 1, 3, 4


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

    def below(self, loc: Path_, precedence: int) -> str | None:
        """The first origin of that precedence for ``loc`` or a key under it."""
        for path, origin, rank in self._entries:
            if rank == precedence and path[: len(loc)] == loc:
                return origin
        return None


@dataclass
class _Load:
    """The inputs of one load, and what the sources note while reading them."""

    config_file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    origins: _Origins = field(default_factory=_Origins)
    secrets: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def keep_secrets(self, tree: Mapping[str, Any]) -> None:
        """Remember the customer ID and secret in ``tree`` so that errors never echo them."""
        agora = tree.get("agora")
        if isinstance(agora, Mapping):
            for key in SECRET_KEYS:
                value = agora.get(key)
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if value is not None:
                    self.secrets.append(str(value))

    def add_leaves(self, tree: Any, origin: str, precedence: int, path: Path_ = ()) -> None:
        """Record ``origin`` for every value in the nested ``tree``."""
        for leaf in _leaf_paths(tree, path):
            self.origins.add(leaf, origin, precedence)


def _leaf_paths(tree: Any, path: Path_) -> Iterable[Path_]:
    if isinstance(tree, Mapping) and tree:
        for key, value in tree.items():
            yield from _leaf_paths(value, (*path, key))
    elif isinstance(tree, list) and tree:
        for index, value in enumerate(tree):
            yield from _leaf_paths(value, (*path, index))
    else:
        yield path


# Set by load_settings for the duration of one Settings(...) construction.
LOAD: ContextVar[_Load | None] = ContextVar("agora_exporter_settings_load", default=None)
