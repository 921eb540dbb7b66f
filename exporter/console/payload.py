"""One Agora Console alert callback: strict about JSON, lenient about fields. Pure.

Agora's Alert Notification posts one JSON object per trigger of a rule. Its
documentation says every field is a string, and its own examples are not
valid JSON, so the body must be exactly one JSON object (UTF-8, no duplicate
keys, no NaN), while each field may be missing, a number instead of a string,
or joined by fields nobody documented (ignored). See docs/console-alerts.md.

Facts this module relies on (from Agora's documentation of the callback):

- ``alertTime`` is epoch **milliseconds** as a string (``"1631703720000"``),
  although the documentation's comment says seconds: a value below 10^11 is
  read as seconds, anything larger as milliseconds;
- ``uid`` is absent for channel-granularity alerts;
- ``cnContent`` (Chinese) may replace ``enContent``;
- metric alerts read like ``video freeze rate≥85%``, event alerts are a
  comma-separated list of events such as ``no frame sending,wifi congestion``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

MILLISECONDS_FROM = 10**11
"""An ``alertTime`` at or above this is milliseconds (10^11 s is the year 5138)."""
_COMPARISON = re.compile(r"[≥≤><=%]")


class PayloadError(ValueError):
    """The body is not one Agora alert; ``reason`` is the rejected counter's label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ConsoleAlert:
    """The fields of one callback, each as text ("" when absent)."""

    alert_time: str = ""
    time_zone: str = ""
    project: str = ""
    cname: str = ""
    uid: str = ""
    en_content: str = ""
    cn_content: str = ""
    users: str = ""
    hosts: str = ""
    call_id: str = ""
    url: str = ""
    remark: str = ""

    @property
    def content(self) -> str:
        """What fired: the English text, or the Chinese one when that is all there is."""
        return self.en_content or self.cn_content

    @property
    def kind(self) -> str:
        """``metric`` (a threshold on a metric) or ``event`` (events of one user)."""
        if _COMPARISON.search(self.content):
            return "metric"
        return "event" if self.uid else "metric"

    def starts_at(self) -> float | None:
        """``alertTime`` in Unix seconds; None when absent or not a number."""
        try:
            value = float(self.alert_time)
        except ValueError:
            return None
        if value != value or value <= 0 or value == float("inf"):
            return None
        return value / 1000 if value >= MILLISECONDS_FROM else value

    def dedup_key(self) -> str:
        """The same for Agora's resends of one trigger (same fields, any key order)."""
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


FIELDS = {
    "alertTime": "alert_time",
    "timeZone": "time_zone",
    "projectName": "project",
    "cname": "cname",
    "uid": "uid",
    "enContent": "en_content",
    "cnContent": "cn_content",
    "currentUserNum": "users",
    "currentHostNum": "hosts",
    "callId": "call_id",
    "url": "url",
    "remark": "remark",
}
"""Agora's field names -> ConsoleAlert's."""
_IDENTIFYING = ("projectName", "cname", "enContent", "cnContent")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise PayloadError("invalid_json", f"the key {key!r} appears twice")
        found[key] = value
    return found


def _no_constants(name: str) -> None:
    raise PayloadError("invalid_json", f"{name} is not JSON")


def _decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("invalid_json", "the body is not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise PayloadError(
            "invalid_json", f"the body is not JSON: {error.msg} at character {error.pos}"
        ) from None
    except RecursionError:
        raise PayloadError("invalid_json", "the body nests too deeply") from None


def _text(value: Any) -> str:
    """A field as text: strings as they are, numbers as written; anything else is absent."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return ""


def parse_alert(body: bytes) -> ConsoleAlert:
    """The alert in a callback body; raises :class:`PayloadError` (``invalid_json`` or
    ``not_an_alert``)."""
    data = _decode(body)
    if not isinstance(data, dict):
        raise PayloadError(
            "not_an_alert", f"the body must be a JSON object, not a {type(data).__name__}"
        )
    fields = {ours: _text(data.get(theirs)) for theirs, ours in FIELDS.items()}
    if not any(_text(data.get(name)) for name in _IDENTIFYING):
        raise PayloadError(
            "not_an_alert",
            "no Agora alert fields: expected at least one of " + ", ".join(_IDENTIFYING),
        )
    return ConsoleAlert(**fields)
