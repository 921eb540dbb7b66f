"""Field validators: each turns one config value into its checked form or a PydanticCustomError."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
)
from pydantic_core import PydanticCustomError

from exporter.agora.limits import Budget, Plan
from exporter.catalog.insight import INSIGHT_METRICS, INSIGHT_QUALITY_METRICS, INSIGHT_USAGE_METRICS
from exporter.catalog.realtime import PRODUCT_TYPES, QUALITY_METRICS, USAGE_METRICS
from exporter.settings.base import REALTIME_PLANS

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


# Other spellings of insight metrics (peakConcurrentUsers) -> the reference's.
_INSIGHT_SPELLINGS = {
    alt.lower(): name for name, metric in INSIGHT_METRICS.items() for alt in metric.alt_names
}


def _insight_usage_metric(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in {m.lower() for m in INSIGHT_QUALITY_METRICS}:
            raise _custom("quality_in_usage", f"{text} is a quality metric: list it under quality")
        value = _INSIGHT_SPELLINGS.get(text.lower(), value)
    return _one_of(value, INSIGHT_USAGE_METRICS, "Data Insights usage metric")


def _insight_quality_metric(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        usage = {m.lower() for m in INSIGHT_USAGE_METRICS} | set(_INSIGHT_SPELLINGS)
        if text.lower() in usage:
            raise _custom("usage_in_quality", f"{text} is a usage metric: list it under usage")
    return _one_of(value, INSIGHT_QUALITY_METRICS, "Data Insights quality metric")


ProductType = Annotated[str, BeforeValidator(_product_type)]
UsageMetric = Annotated[str, BeforeValidator(_usage_metric)]
QualityMetric = Annotated[str, BeforeValidator(_quality_metric)]
InsightUsageMetric = Annotated[str, BeforeValidator(_insight_usage_metric)]
InsightQualityMetric = Annotated[str, BeforeValidator(_insight_quality_metric)]


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


def _realtime_metric(value: object) -> object:
    return _one_of(value, (*USAGE_METRICS, *QUALITY_METRICS), "real-time metric")


_SCOPES = ("project", "channel", "user")


def _scope(value: object) -> object:
    return _one_of(value, _SCOPES, "scope")


_WEIGHT_FIX = "must be a number >= 0 (a relative weight; 0 polls as seldom as gap-free allows)"


def _weight(value: object) -> object:
    if isinstance(value, str):  # an environment variable
        try:
            value = float(value.strip())
        except ValueError:
            raise _custom("not_a_weight", _WEIGHT_FIX) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _custom("not_a_weight", _WEIGHT_FIX)
    if not 0 <= value < float("inf"):
        raise _custom("bad_weight", _WEIGHT_FIX)
    return float(value)


RealtimeMetricKey = Annotated[str, BeforeValidator(_realtime_metric)]
ScopeKey = Annotated[str, BeforeValidator(_scope)]
Weight = Annotated[float, BeforeValidator(_weight)]
