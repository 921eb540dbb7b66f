"""The Agora Analytics REST API client: one method per endpoint.

Real-time and Data Insights take camelCase ``startTs``/``endTs``; the Call
Inspector takes snake_case ``start_ts``/``end_ts``. Timestamps are Unix
seconds. Arguments the API would refuse by its documented limits (too many
uids or sids, page sizes over 100) raise ``ValueError`` before anything is
sent; everything else that goes wrong raises one
:class:`~exporter.agora.errors.AgoraError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

import httpx
from pydantic import SecretStr

from exporter import __version__
from exporter.agora.limits import Endpoint
from exporter.agora.models import (
    CallListPage,
    InsightResult,
    MetricSeries,
    RealtimeResult,
    RequestRecord,
    SessionPage,
)
from exporter.agora.params import (
    MAX_SIDS,
    Query,
    check_page,
    check_uids,
    insight_params,
    joined,
    realtime_params,
)
from exporter.agora.parsing import (
    parse_call_lists,
    parse_insight,
    parse_metrics,
    parse_realtime,
    parse_sessions,
)
from exporter.agora.session import ApiSession, Redactor, SecretBasicAuth

DEFAULT_USER_AGENT = f"agora-exporter/{__version__}"


class AgoraClient:
    """A synchronous client for the Analytics endpoints the exporter polls."""

    def __init__(
        self,
        *,
        base_url: str,
        customer_id: SecretStr,
        customer_secret: SecretStr,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        on_request: Callable[[RequestRecord], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self._base_url = base_url
        self._transport = transport
        self._on_request = on_request
        self._clock = clock
        self._user_agent = user_agent
        self._retired: list[ApiSession] = []
        self._session = self._connect(base_url, customer_id, customer_secret, timeout_s)

    def _connect(
        self, base_url: str, customer_id: SecretStr, customer_secret: SecretStr, timeout_s: float
    ) -> ApiSession:
        http = httpx.Client(
            base_url=base_url,
            auth=SecretBasicAuth(customer_id, customer_secret),
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            transport=self._transport,
            headers={"Accept": "application/json", "User-Agent": self._user_agent},
            follow_redirects=False,
        )
        redactor = Redactor(customer_id, customer_secret)
        return ApiSession(http, redactor, self._clock, self._on_request)

    def reconfigure(
        self,
        *,
        base_url: str,
        customer_id: SecretStr,
        customer_secret: SecretStr,
        timeout_s: float = 10.0,
    ) -> None:
        """Use another URL, credentials or timeout from the next request on (config reload).

        Requests in flight finish on the old connection, which is closed with the client.
        """
        session = self._connect(base_url, customer_id, customer_secret, timeout_s)
        self._retired.append(self._session)
        self._session, self._base_url = session, base_url

    def __repr__(self) -> str:
        return f"AgoraClient(base_url={self._base_url!r})"

    def close(self) -> None:
        for session in (*self._retired, self._session):
            session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Real-time Monitoring -------------------------------------------------

    def realtime_usage(
        self,
        *,
        appid: str,
        product_type: str,
        metric: str,
        start_ts: int,
        end_ts: int,
        cname: str | None = None,
    ) -> RealtimeResult:
        """userCount or channelCount in 20-s windows, ``[start_ts, end_ts)``."""
        params = realtime_params(appid, product_type, metric, start_ts, end_ts, cname)
        return self._session.call(
            Endpoint.REALTIME_USAGE, params, lambda body: parse_realtime(body, metric)
        )

    def realtime_quality(
        self,
        *,
        appid: str,
        product_type: str,
        metric: str,
        start_ts: int,
        end_ts: int,
        cname: str | None = None,
        uids: Sequence[int] | None = None,
    ) -> RealtimeResult:
        """A quality rate in 20-s windows; per uid when ``cname`` and ``uids`` are given."""
        check_uids(uids, cname_required=True, cname=cname)
        params = realtime_params(appid, product_type, metric, start_ts, end_ts, cname)
        params["uids"] = joined(uids) if uids else None
        return self._session.call(
            Endpoint.REALTIME_QUALITY, params, lambda body: parse_realtime(body, metric)
        )

    # Data Insights --------------------------------------------------------

    def insight_usage(
        self, *, appid: str, metric: str, start_ts: int, end_ts: int, granularity: str = "1d"
    ) -> InsightResult:
        params = insight_params(appid, metric, start_ts, end_ts, granularity)
        return self._session.call(
            Endpoint.INSIGHT_USAGE, params, lambda body: parse_insight(body, metric)
        )

    def insight_quality(
        self,
        *,
        appid: str,
        metric: str,
        start_ts: int,
        end_ts: int,
        product_type: str,
        granularity: str = "1d",
    ) -> InsightResult:
        params = insight_params(appid, metric, start_ts, end_ts, granularity)
        params["productType"] = product_type
        return self._session.call(
            Endpoint.INSIGHT_QUALITY, params, lambda body: parse_insight(body, metric)
        )

    # Call Inspector -------------------------------------------------------

    def call_lists(
        self,
        *,
        appid: str,
        start_ts: int,
        end_ts: int,
        cname: str | None = None,
        page_no: int = 1,
        page_size: int = 20,
    ) -> CallListPage:
        """One page of the calls in the frame, newest first."""
        check_page(page_no, page_size)
        params: Query = {
            "start_ts": start_ts,
            "end_ts": end_ts,
            "appid": appid,
            "cname": cname,
            "page_no": page_no,
            "page_size": page_size,
        }
        return self._session.call(
            Endpoint.CALL_LISTS, params, lambda body: parse_call_lists(body, page_no, page_size)
        )

    def call_sessions(
        self,
        *,
        appid: str,
        call_id: str,
        start_ts: int,
        end_ts: int,
        page_no: int = 1,
        page_size: int = 20,
        uids: Sequence[int] | None = None,
        exclude_server_user: bool = True,
    ) -> SessionPage:
        """One page of the user sessions of a call."""
        check_page(page_no, page_size)
        check_uids(uids, cname_required=False, cname=None)
        params: Query = {
            "start_ts": start_ts,
            "end_ts": end_ts,
            "appid": appid,
            "call_id": call_id,
            "page_no": page_no,
            "page_size": page_size,
            "uids": joined(uids) if uids else None,
            "exclude_server_user": "true" if exclude_server_user else "false",
        }
        return self._session.call(
            Endpoint.CALL_SESSIONS, params, lambda body: parse_sessions(body, page_no, page_size)
        )

    def call_metrics(
        self, *, appid: str, call_id: str, start_ts: int, end_ts: int, sids: Sequence[str]
    ) -> list[MetricSeries]:
        """The quality metrics of up to 20 sessions of a call, one series per metric and peer."""
        if not 1 <= len(sids) <= MAX_SIDS:
            raise ValueError(f"give between 1 and {MAX_SIDS} sids, not {len(sids)}")
        params: Query = {
            "start_ts": start_ts,
            "end_ts": end_ts,
            "appid": appid,
            "call_id": call_id,
            "sids": joined(sids),
        }
        return self._session.call(Endpoint.CALL_METRICS, params, parse_metrics)
