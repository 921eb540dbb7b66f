"""The configuration's pydantic models: the YAML format of DESIGN.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from exporter.agora.limits import Plan
from exporter.catalog.realtime import PRODUCT_TYPES, QUALITY_METRICS, USAGE_METRICS
from exporter.settings.alerts import AlertsSettings
from exporter.settings.base import ENV_DELIMITER, ENV_PREFIX
from exporter.settings.context import LOAD, _Load
from exporter.settings.environment import EnvSource
from exporter.settings.fields import (
    BudgetKey,
    Credential,
    PositiveCount,
    ProductType,
    QualityMetric,
    RealtimeMetricKey,
    ScopeKey,
    Uid,
    UsageMetric,
    Weight,
    _appid,
    _base_url,
    _cname,
    _custom,
    _no_duplicates,
    _plan,
    _split_commas,
)
from exporter.settings.insight import InsightSettings as InsightSettings  # re-exported
from exporter.settings.secretsdir import SecretsDirSource
from exporter.settings.yamlfile import YamlFileSource

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


DEFAULT_WEIGHTS: dict[str, float] = {
    "audioFreezeRate": 100.0,
    "videoFreezeRate": 100.0,
    "joinSuccessIn5sRate": 1.0,
    "networkDelay": 1.0,
    "joinSuccessRate": 0.0,
    "userCount": 0.0,
    "channelCount": 0.0,
}
"""How much each metric's freshness is worth: the alerting rates first (freeze,
then join within 5 s and network delay); 0 polls as seldom as gap-free allows."""
DEFAULT_SCOPE_WEIGHTS: dict[str, float] = {"project": 1.0, "channel": 0.0, "user": 0.0}
"""Multiplies the metric's weight: the alerts read the project scope."""


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
    weights: dict[RealtimeMetricKey, Weight] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="relative poll weight per real-time metric, a number >= 0 (0: as seldom "
        "as gap-free allows); metrics left out keep their defaults: "
        + ", ".join(f"{name} {weight:g}" for name, weight in DEFAULT_WEIGHTS.items()),
    )
    scope_weights: dict[ScopeKey, Weight] = Field(
        default_factory=lambda: dict(DEFAULT_SCOPE_WEIGHTS),
        description="factor on the metric weights per scope (project, channel, user), a "
        "number >= 0; scopes left out keep their defaults: project 1, channel 0, user 0",
    )
    pause_idle: bool = Field(
        True,
        description="true or false (default true): pause the quality series of a product "
        "type or channel whose userCount stayed 0 for the API's whole horizon",
    )

    @field_validator("usage", "quality")
    @classmethod
    def _unique_metrics(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "metric")
        return value

    @field_validator("weights")
    @classmethod
    def _default_weights(cls, value: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_WEIGHTS, **value}

    @field_validator("scope_weights")
    @classmethod
    def _default_scope_weights(cls, value: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_SCOPE_WEIGHTS, **value}

    def weight(self, metric: str, scope: str) -> float:
        """A series' weight: its metric's times its scope's."""
        return self.weights[metric] * self.scope_weights[scope]

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
    project: str | None = Field(None, description="the project's name in Agora Console")

    @field_validator("product_types")
    @classmethod
    def _unique_product_types(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "product type")
        return value


class Settings(BaseSettings):
    """The whole configuration, validated once; see DESIGN.md for the format.

    Build it with :func:`exporter.settings.load_settings`, which gives the sources
    their file and environment and turns validation errors into a ConfigError.
    """

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
    )

    agora: AgoraSettings
    secrets_dir: Path | None = Field(
        None, description="a directory holding the files customer_id and customer_secret"
    )
    state_dir: Path = Field(
        Path("./state"), description="directory for the SQLite state (default ./state)"
    )
    exposition: ExpositionSettings = Field(default_factory=ExpositionSettings)
    apps: list[AppSettings] = Field(
        description="at least one app: apps: [{appid: <32 hex characters>}]",
    )
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)

    _ignored_environment: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest precedence first: overrides, environment, config file, secrets directory."""
        load = LOAD.get() or _Load()
        config_file = YamlFileSource(settings_cls, load)
        return (
            init_settings,
            EnvSource(settings_cls, load, below=config_file),
            config_file,
            SecretsDirSource(file_secret_settings, load),
        )

    @field_validator("apps")
    @classmethod
    def _check_apps(cls, value: list[AppSettings]) -> list[AppSettings]:
        if not value:
            raise _custom(
                "no_apps",
                "list at least one app, each with its appid (the project's 32-character "
                "App ID from Agora Console) and optionally product_types, realtime, insight "
                "and calls",
            )
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

    def ignored_environment(self) -> list[str]:
        """``AGORA_EXPORTER_*`` variables that named no setting and were ignored."""
        return list(self._ignored_environment)
