"""Query-string validation: typed queries out, ``400 Bad request`` for anything else.

Real-time and Data Insights take camelCase (``startTs``), the Call Inspector
snake_case (``start_ts``). Messages follow the one FACTS quotes:
``Bad request, parameter : startTs can not be null``. Millisecond timestamps
get what FACTS saw the real service answer: ``500 Unknown Error``.

Each path takes only what its own parameter table lists: the real-time usage
path the usage metrics, the quality path the quality metrics (and ``uids``);
insight usage only ``aggregateGranularity=1d``, insight quality ``1d`` or ``1h``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.simulator.insight import GRANULARITY_S, PEAK_SPELLINGS, USAGE_INSIGHT_METRICS
from exporter.simulator.realtime import PRODUCT_TYPES, QUALITY_METRICS, USAGE_METRICS

MAX_UIDS = 10
MAX_SIDS = 20
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# Unix seconds stay below this until the year 2286; anything above is milliseconds.
MILLISECONDS_FROM = 10_000_000_000
PEAK_STYLES = ("both", "current", "concurrent")


class BadRequestError(Exception):
    """A request the service rejects before looking at plan or quota."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _bad(name: str, problem: str) -> BadRequestError:
    return BadRequestError(f"Bad request, parameter : {name} {problem}")


class Params:
    """Accessors over the query string that raise :class:`BadRequestError`."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw = raw

    def text(self, name: str) -> str:
        value = self.optional_text(name)
        if value is None:
            raise _bad(name, "can not be null")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._raw.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int | None = None, minimum: int = 0) -> int:
        value = self.optional_text(name)
        if value is None:
            if default is None:
                raise _bad(name, "can not be null")
            return default
        if not value.isdecimal() or int(value) < minimum:
            raise _bad(name, "is invalid")
        return int(value)

    def timestamp(self, name: str) -> int:
        value = self.integer(name)
        if value >= MILLISECONDS_FROM:
            raise BadRequestError("Unknown Error", status=500)
        return value

    def choice(self, name: str, options: Iterable[str]) -> str:
        value = self.text(name)
        if value not in options:
            raise _bad(name, "is invalid")
        return value

    def text_list(self, name: str, limit: int) -> tuple[str, ...]:
        """A comma-separated list, duplicates dropped, at most ``limit`` items."""
        value = self.optional_text(name)
        items = tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))
        if len(items) > limit:
            raise _bad(name, f"can not contain more than {limit} items")
        return items

    def id_list(self, name: str, limit: int) -> tuple[int, ...]:
        items = self.text_list(name, limit)
        if not all(item.isdecimal() for item in items):
            raise _bad(name, "is invalid")
        return tuple(int(item) for item in items)

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional_text(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false", "1", "0"):
            raise _bad(name, "is invalid")
        return value.lower() in ("true", "1")

    def frame(self, start_name: str, end_name: str) -> tuple[int, int]:
        start, end = self.timestamp(start_name), self.timestamp(end_name)
        if end < start:
            raise _bad(end_name, f"can not be earlier than {start_name}")
        return start, end

    def page(self) -> tuple[int, int]:
        page_no = self.integer("page_no", default=1, minimum=1)
        page_size = self.integer("page_size", default=DEFAULT_PAGE_SIZE, minimum=1)
        if page_size > MAX_PAGE_SIZE:
            raise _bad("page_size", f"can not be more than {MAX_PAGE_SIZE}")
        return page_no, page_size


@dataclass(frozen=True)
class Query:
    """What every query has: the app and the frame."""

    appid: str
    start_ts: int
    end_ts: int


@dataclass(frozen=True)
class RealtimeQuery(Query):
    product_type: str
    metric: str
    cname: str | None
    uids: tuple[int, ...]


@dataclass(frozen=True)
class InsightQuery(Query):
    metric: str
    granularity: str
    product_type: str | None


@dataclass(frozen=True)
class CallListQuery(Query):
    cname: str | None
    page_no: int
    page_size: int


@dataclass(frozen=True)
class SessionsQuery(Query):
    call_id: str
    page_no: int
    page_size: int
    uids: tuple[int, ...]
    exclude_server_user: bool


@dataclass(frozen=True)
class MetricsQuery(Query):
    call_id: str
    sids: tuple[str, ...]


def parse_realtime_usage(p: Params) -> RealtimeQuery:
    """The usage path takes only the metrics its section lists (``userCount``,
    ``channelCount``) and has no ``uids``. The reference's quality Example 1 sends
    ``metric=networkDelay`` to this path: read as a slip of the example, not as
    leave to mix the lists, so it is refused here as the parameter tables say."""
    return _parse_realtime(p, USAGE_METRICS, with_uids=False)


def parse_realtime_quality(p: Params) -> RealtimeQuery:
    """The quality path takes only the five quality metrics, and ``uids``."""
    return _parse_realtime(p, QUALITY_METRICS, with_uids=True)


def _parse_realtime(p: Params, metrics: tuple[str, ...], *, with_uids: bool) -> RealtimeQuery:
    start, end = p.frame("startTs", "endTs")
    appid = p.text("appid")
    product = p.choice("productType", PRODUCT_TYPES)
    metric = p.choice("metric", metrics)
    cname = p.optional_text("cname")
    uids = p.id_list("uids", MAX_UIDS) if with_uids else ()
    return RealtimeQuery(appid, start, end, product, metric, cname, uids)


def usage_metrics(peak_style: str) -> tuple[str, ...]:
    """The usage metric names accepted under a ``peak_spelling`` setting."""
    if peak_style not in PEAK_STYLES:
        raise ValueError(f"peak_spelling must be one of {PEAK_STYLES}")
    plain = tuple(m for m in USAGE_INSIGHT_METRICS if m not in PEAK_SPELLINGS.values())
    current = tuple(PEAK_SPELLINGS.values()) if peak_style != "concurrent" else ()
    concurrent = tuple(PEAK_SPELLINGS) if peak_style != "current" else ()
    return plain + current + concurrent


USAGE_GRANULARITIES = ("1d",)
"""Insight usage: "You can only set it to 1d" (the reference's parameter table)."""
QUALITY_GRANULARITIES = tuple(GRANULARITY_S)
"""Insight quality: ``1d`` or ``1h``."""


def parse_insight(
    p: Params, metrics: tuple[str, ...], granularities: tuple[str, ...], needs_product: bool
) -> InsightQuery:
    """Either insight path; ``productType`` is a parameter of the quality one only."""
    start, end = p.frame("startTs", "endTs")
    appid = p.text("appid")
    metric = p.choice("metric", metrics)
    granularity = p.choice("aggregateGranularity", granularities)
    product = p.choice("productType", PRODUCT_TYPES) if needs_product else None
    return InsightQuery(appid, start, end, metric, granularity, product)


def parse_insight_usage(p: Params, peak_style: str) -> InsightQuery:
    metrics = usage_metrics(peak_style)
    return parse_insight(p, metrics, USAGE_GRANULARITIES, needs_product=False)


def parse_insight_quality(p: Params) -> InsightQuery:
    return parse_insight(p, QUALITY_METRICS, QUALITY_GRANULARITIES, needs_product=True)


def parse_call_lists(p: Params) -> CallListQuery:
    start, end = p.frame("start_ts", "end_ts")
    appid = p.text("appid")
    cname = p.optional_text("cname")
    page_no, page_size = p.page()
    return CallListQuery(appid, start, end, cname, page_no, page_size)


def parse_sessions(p: Params) -> SessionsQuery:
    start, end = p.frame("start_ts", "end_ts")
    call_id, appid = p.text("call_id"), p.text("appid")
    page_no, page_size = p.page()
    uids = p.id_list("uids", MAX_UIDS)
    exclude = p.flag("exclude_server_user", default=True)
    return SessionsQuery(appid, start, end, call_id, page_no, page_size, uids, exclude)


def parse_metrics(p: Params) -> MetricsQuery:
    start, end = p.frame("start_ts", "end_ts")
    appid, call_id = p.text("appid"), p.text("call_id")
    sids = p.text_list("sids", MAX_SIDS)
    if not sids:
        raise _bad("sids", "can not be null")
    return MetricsQuery(appid, start, end, call_id, sids)
