"""Turn a successful response body into models, or raise :class:`ShapeError`.

The real-time and insight answers name their value field after the metric
requested, so they cannot be one static model; these functions walk the rows
and validate each one. A value that is null, missing, empty, NaN, infinite or
negative is an honest gap: the row is dropped and counted, never read as 0.
A value of the wrong type (a word, an object) makes the whole answer invalid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from exporter.agora.models import (
    CallListPage,
    InsightPoint,
    InsightResult,
    MetricSeries,
    RealtimeResult,
    RealtimeRow,
    SessionPage,
    to_float,
    to_int,
    usable,
)

# Insight peak metrics go by two spellings; an answer may use either.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "peakCurrentUsers": ("peakCurrentUsers", "peakConcurrentUsers"),
    "peakConcurrentUsers": ("peakConcurrentUsers", "peakCurrentUsers"),
    "peakCurrentChannels": ("peakCurrentChannels", "peakConcurrentChannels"),
    "peakConcurrentChannels": ("peakConcurrentChannels", "peakCurrentChannels"),
}


_Page = TypeVar("_Page", CallListPage, SessionPage)


class ShapeError(ValueError):
    """The body is JSON but not the shape or types the endpoint promises."""


def _field(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise ShapeError(f"the body has no {name!r} field")
    return body[name]


def _list_field(body: Mapping[str, Any], name: str) -> list[Any]:
    value = _field(body, name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ShapeError(f"{name!r} is a {type(value).__name__}, not a list")
    return value


def _object(item: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ShapeError(f"{where} is a {type(item).__name__}, not an object")
    return item


def _number(raw: Any, where: str, *, signed: bool = False) -> float | None:
    """A metric value, or None for a gap. Raises on a value of the wrong type.

    Rates and counts are never negative, so a negative one is a gap too; Call
    Inspector values (``signed``) only need to be finite.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = to_float(raw)
    except ValueError:
        raise ShapeError(f"{where} is not a number") from None
    keep = math.isfinite(value) if signed else usable(value)
    return value if keep else None


def _ts(row: Mapping[str, Any], where: str) -> int:
    try:
        return to_int(_field(row, "ts"))
    except ValueError:
        raise ShapeError(f"{where} has no integer 'ts'") from None


def _find_value(row: Mapping[str, Any], names: Sequence[str]) -> tuple[str | None, Any]:
    for name in names:
        if name in row:
            return name, row[name]
    return None, None


def _realtime_entries(body: Mapping[str, Any]) -> Iterator[tuple[int | None, Mapping[str, Any]]]:
    """``(uid, {"ts": ..., metric: ...})`` for every window of either shape."""
    for index, item in enumerate(_list_field(body, "data")):
        where = f"data[{index}]"
        row = _object(item, where)
        if "values" not in row:
            yield (_uid(row, where) if row.get("uid") is not None else None), row
            continue
        uid = _uid(row, where)
        values = row["values"]
        if values is None:
            continue
        if not isinstance(values, list):
            raise ShapeError(f"{where}.values is not a list")
        for j, entry in enumerate(values):
            yield uid, _object(entry, f"{where}.values[{j}]")


def parse_realtime(body: Mapping[str, Any], metric: str) -> RealtimeResult:
    """Both real-time shapes: plain rows, and per-uid rows with ``values``.

    Rows come back sorted by uid (None first), then window; a window the
    answer repeats is kept once (the first time it appears).
    """
    rows: list[RealtimeRow] = []
    seen: set[tuple[int | None, int]] = set()
    dropped = 0
    for uid, entry in _realtime_entries(body):
        ts = _ts(entry, f"the window of uid {uid}" if uid is not None else "a window")
        value = _number(entry.get(metric), f"the {metric} of window {ts}")
        if (uid, ts) in seen:
            continue
        seen.add((uid, ts))
        if value is None:
            dropped += 1
        else:
            rows.append(RealtimeRow(ts=ts, value=value, uid=uid))
    rows.sort(key=lambda row: (row.uid is not None, row.uid or 0, row.ts))
    return RealtimeResult(rows=rows, dropped=dropped)


def _uid(row: Mapping[str, Any], where: str) -> int:
    try:
        return to_int(_field(row, "uid"))
    except ValueError:
        raise ShapeError(f"{where} has no integer 'uid'") from None


def parse_insight(body: Mapping[str, Any], metric: str) -> InsightResult:
    """Daily or hourly points sorted by ``ts``, each once; peak metrics may answer
    under either spelling."""
    names = _SPELLINGS.get(metric, (metric,))
    points: list[InsightPoint] = []
    seen: set[int] = set()
    dropped = 0
    answered: str | None = None
    for index, item in enumerate(_list_field(body, "data")):
        row = _object(item, f"data[{index}]")
        ts = _ts(row, f"data[{index}]")
        name, raw = _find_value(row, names)
        answered = answered or name
        value = _number(raw, f"data[{index}].{name or metric}")
        if ts in seen:
            continue
        seen.add(ts)
        if value is None:
            dropped += 1
        else:
            points.append(InsightPoint(ts=ts, value=value))
    points.sort(key=lambda point: point.ts)
    return InsightResult(points=points, dropped=dropped, metric=answered or metric)


def _validated(model: type[_Page], data: Mapping[str, Any]) -> _Page:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ShapeError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """Where validation failed, without echoing the offending values."""
    places = [".".join(str(part) for part in err["loc"]) or "body" for err in exc.errors()]
    shown = ", ".join(places[:3]) + (", ..." if len(places) > 3 else "")
    return f"invalid fields: {shown}"


def parse_call_lists(body: Mapping[str, Any], page_no: int, page_size: int) -> CallListPage:
    data = {"page_no": page_no, "page_size": page_size, **body}
    data["call_lists"] = _list_field(body, "call_lists")
    return _validated(CallListPage, data)


def parse_sessions(body: Mapping[str, Any], page_no: int, page_size: int) -> SessionPage:
    data = {"page_no": page_no, "page_size": page_size, **body}
    data["call_info"] = _list_field(body, "call_info")
    return _validated(SessionPage, data)


def parse_metrics(body: Mapping[str, Any]) -> list[MetricSeries]:
    """Flatten ``metrics[].data[]`` into one series per (sid, mid, peer_uid)."""
    series: list[MetricSeries] = []
    for index, item in enumerate(_list_field(body, "metrics")):
        session = _object(item, f"metrics[{index}]")
        where = f"metrics[{index}]"
        sid = session.get("sid")
        if not isinstance(sid, str | int) or isinstance(sid, bool):
            raise ShapeError(f"{where} has no 'sid'")
        for j, raw in enumerate(_list_field(session, "data")):
            metric = _object(raw, f"{where}.data[{j}]")
            series.append(_series(str(sid), metric, f"{where}.data[{j}]"))
    return series


def _series(sid: str, metric: Mapping[str, Any], where: str) -> MetricSeries:
    points: list[tuple[int, float]] = []
    for k, pair in enumerate(_list_field(metric, "kvs")):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ShapeError(f"{where}.kvs[{k}] is not a [ts, value] pair")
        try:
            ts = to_int(pair[0])
        except ValueError:
            raise ShapeError(f"{where}.kvs[{k}] has no integer timestamp") from None
        value = _number(pair[1], f"{where}.kvs[{k}]", signed=True)
        if value is not None:
            points.append((ts, value))
    try:
        return MetricSeries(
            sid=sid, mid=metric.get("mid"), peer_uid=metric.get("peer_uid") or 0, points=points
        )
    except ValidationError as exc:
        raise ShapeError(_describe(exc)) from None
