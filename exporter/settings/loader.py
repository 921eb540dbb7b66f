"""load_settings: hand the sources their inputs, validate once, raise one ConfigError."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from exporter.settings.base import ConfigError
from exporter.settings.context import LOAD, OVERRIDE, _Load
from exporter.settings.errors import _describe, _redact
from exporter.settings.models import Settings

# ---------------------------------------------------------------------------
# Entry point


def load_settings(
    config_file: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the configuration (precedence in the package docstring).

    ``environ`` defaults to ``os.environ``; ``overrides`` (a nested mapping)
    beats everything. Raises :class:`ConfigError`.
    """
    load = _Load(
        config_file=None if config_file is None else Path(config_file),
        environ=os.environ if environ is None else environ,
    )
    from_cli: dict[str, Any] = copy.deepcopy(dict(overrides or {}))
    load.keep_secrets(from_cli)
    load.add_leaves(from_cli, "command-line override", OVERRIDE)
    source = None if config_file is None else str(config_file)
    token = LOAD.set(load)
    try:
        settings = Settings(**from_cli)
    except ValidationError as error:
        problems = [_describe(item, load.origins) for item in error.errors()]
        raise ConfigError([_redact(p, load.secrets) for p in problems], source=source) from None
    except SettingsError as error:  # the library's own, e.g. a source that cannot be read
        raise ConfigError(_redact(str(error), load.secrets), source=source) from None
    finally:
        LOAD.reset(token)
    settings._ignored_environment = tuple(sorted(load.ignored))
    return settings
