"""Validated, immutable results of the Agora Analytics API.

Every model is frozen and ignores unknown fields. Numbers may arrive as JSON
numbers or as strings ("42", "0.5"); integers (uids in particular) keep their
full size. Booleans are never read as numbers and numbers never as booleans,
except the literal strings "true"/"false" and 0/1.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from exporter.agora.limits import Endpoint

_INT_TEXT = re.compile(r"[+-]?\d+")


def to_int(value: object) -> int:
    """An API integer: a JSON integer, an integral float or a decimal string."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"not an integer: {type(value).__name__}")


def to_float(value: object) -> float:
    """An API number: a JSON number or a numeric string (NaN and inf pass through)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # beyond any float: as unusable as JSON's 1e999
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError("not a number") from None
    raise ValueError(f"not a number: {type(value).__name__}")


def to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"not a boolean: {type(value).__name__}")


def to_str(value: object) -> str:
    """A string field that the API sometimes sends as a number (channel names)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"not a string: {type(value).__name__}")


def to_optional_ts(value: object) -> int | None:
    """An end time; absent, null or 0 means the call or session is still going."""
    if value is None or value == "":
        return None
    number = to_int(value)
    return number or None


def to_roles(value: object) -> tuple[str, ...]:
    """``roles`` is documented as a string but shown as an array: accept both."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(to_str(item) for item in value)
    raise ValueError(f"not a role list: {type(value).__name__}")


ApiInt = Annotated[int, BeforeValidator(to_int)]
ApiFloat = Annotated[float, BeforeValidator(to_float)]
ApiBool = Annotated[bool, BeforeValidator(to_bool)]
ApiStr = Annotated[str, BeforeValidator(to_str)]
EndTs = Annotated[int | None, BeforeValidator(to_optional_ts)]
Roles = Annotated[tuple[str, ...], BeforeValidator(to_roles)]


def usable(value: float) -> bool:
    """A metric value worth keeping: finite and not negative."""
    return math.isfinite(value) and value >= 0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class RealtimeRow(_Model):
    """One 20-second window of one metric; ``ts`` is the window's start."""

    ts: ApiInt
    value: ApiFloat
    uid: ApiInt | None = None


class RealtimeResult(_Model):
    """The windows of one answer, sorted by uid (None first) then ``ts``, each once."""

    rows: list[RealtimeRow]
    dropped: int = 0
    """Rows whose value was null, missing, NaN, infinite or negative (left out, never 0)."""


class InsightPoint(_Model):
    ts: ApiInt
    value: ApiFloat


class InsightResult(_Model):
    """The points of one answer, sorted by ``ts``, each once; ``ts`` as the API gave it."""

    points: list[InsightPoint]
    dropped: int = 0
    metric: str
    """The field name the API answered with (``peakConcurrentUsers`` or ``peakCurrentUsers``)."""


class CallSummary(_Model):
    call_id: ApiStr
    cname: ApiStr
    created_ts: ApiInt
    destroyed_ts: EndTs = None
    finished: ApiBool = False


class CallListPage(_Model):
    calls: list[CallSummary] = Field(validation_alias=AliasChoices("calls", "call_lists"))
    total_size: ApiInt
    page_no: ApiInt
    page_size: ApiInt
    has_more: ApiBool = False


class SessionInfo(_Model):
    sid: ApiStr
    cname: ApiStr = ""
    uid: ApiInt
    network: ApiStr | None = None
    platform: ApiStr | None = None
    speaker: ApiBool | None = None
    sdk_version: ApiStr | None = None
    device_type: ApiStr | None = None
    join_ts: ApiInt
    leave_ts: EndTs = None
    finished: ApiBool = False
    roles: Roles = ()

    @model_validator(mode="before")
    @classmethod
    def _finished_from_leave(cls, data: Any) -> Any:
        """Without ``finished``, a session that has a leave time is finished."""
        if isinstance(data, dict) and data.get("finished") is None:
            data = {**data, "finished": bool(to_optional_ts(data.get("leave_ts")))}
        return data


class SessionPage(_Model):
    sessions: list[SessionInfo] = Field(validation_alias=AliasChoices("sessions", "call_info"))
    total_size: ApiInt
    page_no: ApiInt
    page_size: ApiInt


class MetricSeries(_Model):
    """One Call Inspector metric (``mid``) of one session, towards one peer (0 = local)."""

    sid: ApiStr
    mid: ApiInt
    peer_uid: ApiInt = 0
    points: list[tuple[ApiInt, ApiFloat]]


class RequestRecord(_Model):
    """One HTTP request sent to the API, for the self-metrics."""

    endpoint: Endpoint
    outcome: str
    duration_s: float
    request_id: str | None = None
    http_status: int | None = None
