"""``apps[].insight``: the Data Insights series of an app, with metric lists of its own.

The lists are independent of ``apps[].realtime``: the insight endpoints spend
their own two budgets (``insight_usage``, ``insight_quality``), nearly idle
next to the real-time one, so an app that polls no real-time quality (a common
choice, since that budget is the scarcest) still gets its daily quality.
Defaults: every metric the reference names for each insight endpoint.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from exporter.catalog.insight import INSIGHT_QUALITY_METRICS, INSIGHT_USAGE_METRICS
from exporter.settings.fields import (
    InsightQualityMetric,
    InsightUsageMetric,
    _no_duplicates,
    _split_commas,
)


class InsightSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="true or false (default true)")
    hourly_quality: bool = Field(False, description="true or false (default false)")
    usage: Annotated[list[InsightUsageMetric], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: list(INSIGHT_USAGE_METRICS),
        description="Data Insights usage metrics, from: " + ", ".join(INSIGHT_USAGE_METRICS),
    )
    quality: Annotated[list[InsightQualityMetric], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: list(INSIGHT_QUALITY_METRICS),
        description="Data Insights quality metrics, from: " + ", ".join(INSIGHT_QUALITY_METRICS),
    )

    @field_validator("usage", "quality")
    @classmethod
    def _unique_metrics(cls, value: list[str]) -> list[str]:
        _no_duplicates(value, "metric")
        return value
