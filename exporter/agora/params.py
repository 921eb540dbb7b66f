"""Query parameters and argument checks for the client, and the paging loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from exporter.agora.models import CallListPage, SessionPage

Query = dict[str, str | int | None]

MAX_UIDS = 10
MAX_SIDS = 20
MAX_PAGE_SIZE = 100

_Page = TypeVar("_Page", CallListPage, SessionPage)


def joined(values: Sequence[int] | Sequence[str]) -> str:
    return ",".join(str(value) for value in values)


def check_page(page_no: int, page_size: int) -> None:
    if page_no < 1:
        raise ValueError(f"page_no must be 1 or more, not {page_no}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")


def check_uids(uids: Sequence[int] | None, *, cname_required: bool, cname: str | None) -> None:
    """At most ten uids, and (for real-time) only with a channel; none is fine."""
    if not uids:
        return
    if cname_required and cname is None:
        raise ValueError("uids take effect only with a cname")
    if len(uids) > MAX_UIDS:
        raise ValueError(f"give at most {MAX_UIDS} uids, not {len(uids)}")


def realtime_params(
    appid: str, product_type: str, metric: str, start_ts: int, end_ts: int, cname: str | None
) -> Query:
    return {
        "startTs": start_ts,
        "endTs": end_ts,
        "appid": appid,
        "productType": product_type,
        "metric": metric,
        "cname": cname,
    }


def insight_params(appid: str, metric: str, start_ts: int, end_ts: int, granularity: str) -> Query:
    return {
        "startTs": start_ts,
        "endTs": end_ts,
        "appid": appid,
        "metric": metric,
        "aggregateGranularity": granularity,
    }
