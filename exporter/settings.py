"""Configuration: one YAML file, ``AGORA_EXPORTER_*`` variables and a secrets directory.

:func:`load_settings` is the only code that reads ``os.environ`` or a
configuration file; everything else receives a validated, frozen
:class:`Settings`. The YAML format is the public contract of DESIGN.md.

Where each value comes from, highest precedence first:

1. ``overrides``, a nested mapping passed by the CLI (``--demo`` supplies its
   simulator's URL, credentials, plan and apps this way);
2. environment variables ``AGORA_EXPORTER_<SECTION>__<KEY>``, e.g.
   ``AGORA_EXPORTER_AGORA__CUSTOMER_SECRET``, ``AGORA_EXPORTER_STATE_DIR``,
   ``AGORA_EXPORTER_EXPOSITION__MODE``. Names are case-insensitive; list items
   are addressed by index (``AGORA_EXPORTER_APPS__0__APPID``); a value starting
   with ``[`` or ``{`` is read as YAML/JSON (``AGORA_EXPORTER_APPS='[{...}]'``),
   and the list-valued keys ``product_types``, ``usage``, ``quality`` and
   ``uids`` also take a comma-separated string. Variables whose first part is
   not a top-level key (``AGORA_EXPORTER_SERVICE_HOST`` from a Kubernetes
   service named agora-exporter) are ignored and listed by
   :meth:`Settings.ignored_environment`; a wrong key inside a known section is
   an error;
3. the YAML file given with ``--config.file``;
4. files in the secrets directory (``secrets_dir`` from any of the above):
   ``customer_id`` and ``customer_secret``, or ``agora__customer_id`` and
   ``agora__customer_secret`` (these win when both exist); a trailing newline
   is stripped;
5. the defaults below.

So an environment variable overrides the file, and a secret written into the
YAML file beats the mounted secret file: keep credentials out of the YAML when
a secrets directory is used.

Errors come back as one :class:`ConfigError` listing every problem by its
dotted path (``apps[0].appid``, ``agora.plan``), where the value came from,
what was given and how to fix it. The customer ID and secret are never
echoed: not in errors, ``repr(settings)`` or ``settings.model_dump()``.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from exporter.catalog import PRODUCT_TYPES, QUALITY_METRICS, USAGE_METRICS
from exporter.plans import Budget, Plan

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


# ---------------------------------------------------------------------------
# Field types and validators


_CUSTOM_KINDS: set[str] = set()


def _custom(kind: str, message: str, **context: Any) -> PydanticCustomError:
    """A validation error whose message already says how to fix it."""
    _CUSTOM_KINDS.add(kind)
    # The message is used verbatim: braces in user input must not become templates.
    return PydanticCustomError(kind, message.replace("{", "{{").replace("}", "}}"), context)


def _text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        kind = "true/false" if isinstance(value, bool) else "number"
        raise _custom("quote_it", f"{what} must be text, but YAML read a {kind}: quote it")
    raise _custom("not_text", f"{what} must be text")


def _count(value: object) -> object:
    if isinstance(value, bool):
        raise _custom("not_a_count", "must be a whole number, not true/false")
    return value


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


PositiveCount = Annotated[int, BeforeValidator(_count), Field(gt=0)]
Uid = Annotated[int, BeforeValidator(_count), Field(ge=0)]


def _credential(value: object) -> object:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    text = _text(value, "the credential").strip()
    if not text:
        raise _custom(
            "empty_credential",
            "is empty; copy it from Agora Console > RESTful API (customer ID and secret)",
        )
    return text


Credential = Annotated[SecretStr, BeforeValidator(_credential)]


def _plan(value: object) -> object:
    name = value.strip().lower() if isinstance(value, str) else value
    if name in REALTIME_PLANS:
        return Plan(str(name))
    if name in (Plan.STARTER, Plan.STANDARD):
        raise _custom(
            "plan_without_realtime",
            f"the {name} plan has no access to the real-time and Data Insights APIs this "
            "exporter polls; they need premium or enterprise. Set the plan your Agora "
            "account has (Agora Console > Billing): premium or enterprise",
        )
    raise _custom(
        "unknown_plan",
        "must be premium or enterprise, the Agora pricing plan of the account "
        "(the real-time API needs one of these two)",
    )


def _budget(value: object) -> object:
    valid = ", ".join(budget.value for budget in Budget)
    if isinstance(value, str) and value.strip().lower() in {budget.value for budget in Budget}:
        return Budget(value.strip().lower())
    raise _custom("unknown_budget", f"is not a budget; the budgets are: {valid}")


BudgetKey = Annotated[Budget, BeforeValidator(_budget)]


def _base_url(value: object) -> object:
    text = _text(value, "base_url").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _custom(
            "not_http_url",
            "must be an http:// or https:// URL such as https://api.agora.io "
            "(or https://api.sd-rtn.com, or a simulator's URL)",
        )
    if parts.query or parts.fragment:
        raise _custom("url_extras", "must not have a query string or fragment")
    if parts.username or parts.password:
        raise _custom(
            "url_credentials",
            "must not contain credentials; set agora.customer_id and agora.customer_secret",
        )
    return text.rstrip("/")


def _one_of(value: object, choices: Iterable[str], what: str) -> str:
    options = list(choices)
    text = _text(value, what).strip()
    for option in options:
        if text.lower() == option.lower():
            return option
    close = difflib.get_close_matches(text, options, n=1)
    suggestion = f" (did you mean {close[0]}?)" if close else ""
    raise _custom("not_one_of", f"is not a {what}{suggestion}; choose from: {', '.join(options)}")


def _product_type(value: object) -> object:
    return _one_of(value, PRODUCT_TYPES, "product type")


def _usage_metric(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in {m.lower() for m in QUALITY_METRICS}:
        raise _custom(
            "quality_in_usage", f"{value.strip()} is a quality metric: list it under quality"
        )
    return _one_of(value, USAGE_METRICS, "real-time usage metric")


def _quality_metric(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in {m.lower() for m in USAGE_METRICS}:
        raise _custom("usage_in_quality", f"{value.strip()} is a usage metric: list it under usage")
    return _one_of(value, QUALITY_METRICS, "real-time quality metric")


ProductType = Annotated[str, BeforeValidator(_product_type)]
UsageMetric = Annotated[str, BeforeValidator(_usage_metric)]
QualityMetric = Annotated[str, BeforeValidator(_quality_metric)]


def _no_duplicates(items: list[Any], what: str) -> None:
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        if item in seen:
            raise _custom(
                "duplicate",
                f"{item} is listed twice (items {seen[item]} and {index}); keep one {what}",
                at=f"[{index}]",
            )
        seen[item] = index


_APPID = re.compile(r"[0-9a-fA-F]{32}")


def _appid(value: object) -> object:
    text = _text(value, "the App ID").strip()
    if not _APPID.fullmatch(text):
        raise _custom(
            "bad_appid",
            "must be the App ID of an Agora project: 32 hexadecimal characters, shown in "
            "Agora Console > Projects > (your project) > App ID (not the App Certificate, "
            "the project name or the customer ID)",
        )
    return text.lower()


def _cname(value: object) -> object:
    text = _text(value, "the channel name (cname)")
    if not text:
        raise _custom("empty_cname", "must not be empty: give the channel name (cname)")
    if len(text.encode()) > 64:
        raise _custom("long_cname", "is longer than Agora's 64-byte channel name limit")
    return text


# ---------------------------------------------------------------------------
# Models


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaSettings(_Section):
    """``agora.quota.<budget>``: limits replacing the plan's on one budget."""

    per_second: PositiveCount | None = Field(
        None, description="requests allowed per second, a whole number > 0"
    )
    per_minute: PositiveCount | None = Field(
        None, description="requests allowed per minute, a whole number > 0"
    )
    per_day: PositiveCount | None = Field(
        None, description="requests allowed per day, a whole number > 0"
    )


class AgoraSettings(_Section):
    base_url: Annotated[str, BeforeValidator(_base_url)] = Field(
        "https://api.agora.io", description="the API's URL, default https://api.agora.io"
    )
    customer_id: Credential = Field(
        description="the RESTful API customer ID from Agora Console > RESTful API; "
        "also from the secrets file customer_id or AGORA_EXPORTER_AGORA__CUSTOMER_ID"
    )
    customer_secret: Credential = Field(
        description="the RESTful API customer secret from Agora Console > RESTful API; "
        "also from the secrets file customer_secret or AGORA_EXPORTER_AGORA__CUSTOMER_SECRET"
    )
    plan: Annotated[Plan, BeforeValidator(_plan)] = Field(
        description="the account's pricing plan: premium or enterprise"
    )
    quota: dict[BudgetKey, QuotaSettings] = Field(
        default_factory=dict,
        description="overrides of the plan's limits per budget, e.g. "
        "realtime: {per_minute: 10, per_day: 1440}",
    )
    headroom: float = Field(
        0.1,
        ge=0.0,
        le=0.9,
        description="share of each daily budget kept for retries, from 0 to 0.9 (default 0.1)",
    )
    timeout_s: float = Field(
        10.0, gt=0, description="seconds to wait for one API answer, a number > 0 (default 10)"
    )


class ExpositionSettings(_Section):
    mode: Literal["replay", "latest"] = Field(
        "replay", description="replay (every window, delayed) or latest (newest window)"
    )
    timestamps: bool = Field(False, description="true or false (default false)")


class ChannelSettings(_Section):
    cname: Annotated[str, BeforeValidator(_cname)] = Field(
        description="the channel name, as the app passes it to joinChannel"
    )
    uids: Annotated[list[Uid], BeforeValidator(_split_commas)] = Field(
        default_factory=list,
        description="user IDs (whole numbers >= 0) whose quality is polled per user",
    )


class RealtimeSettings(_Section):
    usage: Annotated[list[UsageMetric], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: list(USAGE_METRICS),
        description="usage metrics, from: " + ", ".join(USAGE_METRICS),
    )
    quality: Annotated[list[QualityMetric], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: list(QUALITY_METRICS),
        description="quality metrics, from: " + ", ".join(QUALITY_METRICS),
    )
    channels: list[ChannelSettings] = Field(
        default_factory=list, description="channels polled per channel (and per user)"
    )

    @field_validator("usage", "quality")
    @classmethod
    def _unique_metrics(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "metric")
        return value

    @field_validator("channels")
    @classmethod
    def _unique_cnames(cls, value: list[ChannelSettings]) -> list[ChannelSettings]:
        seen: dict[str, int] = {}
        for index, channel in enumerate(value):
            if channel.cname in seen:
                raise _custom(
                    "duplicate_cname",
                    f"channel {channel.cname!r} is listed twice (channels[{seen[channel.cname]}] "
                    f"and channels[{index}]); merge their uids into one entry",
                    at=f"[{index}].cname",
                )
            seen[channel.cname] = index
        return value


class InsightSettings(_Section):
    enabled: bool = Field(True, description="true or false (default true)")
    hourly_quality: bool = Field(False, description="true or false (default false)")


class CallsSettings(_Section):
    enabled: bool = Field(False, description="true or false (default false)")
    channels: list[Annotated[str, BeforeValidator(_cname)]] = Field(
        default_factory=list, description="channel names to inspect calls of"
    )
    max_calls: PositiveCount = Field(50, description="a whole number > 0 (default 50)")
    max_sessions_per_call: PositiveCount = Field(20, description="a whole number > 0 (default 20)")


class AppSettings(_Section):
    appid: Annotated[str, BeforeValidator(_appid)] = Field(
        description="the project's 32-character App ID from Agora Console"
    )
    product_types: Annotated[list[ProductType], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: list(PRODUCT_TYPES),
        min_length=1,
        description="product types, from: " + ", ".join(PRODUCT_TYPES),
    )
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    insight: InsightSettings = Field(default_factory=InsightSettings)
    calls: CallsSettings = Field(default_factory=CallsSettings)

    @field_validator("product_types")
    @classmethod
    def _unique_product_types(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "product type")
        return value


class Settings(_Section):
    """The whole configuration, validated once; see DESIGN.md for the format."""

    agora: AgoraSettings
    secrets_dir: Path | None = Field(
        None, description="a directory holding the files customer_id and customer_secret"
    )
    state_dir: Path = Field(
        Path("./state"), description="directory for the SQLite state (default ./state)"
    )
    exposition: ExpositionSettings = Field(default_factory=ExpositionSettings)
    apps: list[AppSettings] = Field(
        min_length=1,
        description="at least one app: apps: [{appid: <32 hex characters>}]",
    )

    _ignored_environment: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("apps")
    @classmethod
    def _unique_appids(cls, value: list[AppSettings]) -> list[AppSettings]:
        seen: dict[str, int] = {}
        for index, app in enumerate(value):
            if app.appid in seen:
                raise _custom(
                    "duplicate_appid",
                    f"appid {app.appid} is listed twice (apps[{seen[app.appid]}] and "
                    f"apps[{index}]); merge the two entries into one",
                    at=f"[{index}].appid",
                )
            seen[app.appid] = index
        return value

    def not_built_warnings(self) -> list[str]:
        """One sentence per enabled feature this release does not build yet (none left)."""
        warnings: list[str] = []
        return warnings

    def ignored_environment(self) -> list[str]:
        """``AGORA_EXPORTER_*`` variables that named no setting and were ignored."""
        return list(self._ignored_environment)


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


# ---------------------------------------------------------------------------
# Errors


def _dotted(loc: Iterable[str | int]) -> str:
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += ("." if text else "") + str(segment)
    return text or "(top level)"


def _env_name(loc: Iterable[str | int]) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(str(segment).upper() for segment in loc)


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    if value is None:
        return "null"
    return type(value).__name__


def _shown(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a {_kind(value)}"


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = options[0]
        else:
            return annotation


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
        fix = f"set it in the config file or as {_env_name(loc)}"
        if secret:
            fix += f", or write it to the file {loc[-1]} in the secrets directory"
        expected = f" Expected: {description}." if description else ""
        return f"{path}: missing; {fix}.{expected}"
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


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if len(s.strip()) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
        if secret.strip() != secret:
            text = text.replace(secret.strip(), "***")
    return text


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
