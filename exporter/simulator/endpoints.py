"""Successful answers: the shapes of the reference's examples, filled from the traffic model.

Readings of the reference:

* real-time windows run from the one containing ``startTs`` up to, not
  including, the one containing ``endTs``; windows without data are left out.
  ``uids`` works only with ``cname``, on the quality path (the usage path has
  no ``uids`` parameter and ignores one); a uid without any data in the frame
  is left out of ``data``;
* insight points are the day (16:00 UTC) or hour starts inside ``[startTs,
  endTs]``, both ends included, minus those not published yet;
* ``call_lists``: calls created in ``[start_ts, end_ts)``. ``total_size`` is how
  many the search returns, ``has_more`` whether the search matched more than
  the service returns (``call_list_cap``); the reference's own example shows
  ``has_more: false`` with 101 calls on pages of 20, so it does not mean
  "more pages";
* ``call_info``: sessions overlapping ``[start_ts, end_ts]``, Linux users
  dropped unless ``exclude_server_user=false``;
* ``metrics``: one entry per known sid, in the order asked; unknown sids and
  series with no sample in the frame are left out.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from exporter.simulator.answers import Body
from exporter.simulator.calls import SERVER_PLATFORM
from exporter.simulator.insight import point_times
from exporter.simulator.params import (
    CallListQuery,
    InsightQuery,
    MetricsQuery,
    RealtimeQuery,
    SessionsQuery,
)
from exporter.simulator.realtime import WINDOW_S, align_window
from exporter.simulator.traffic import TrafficModel


def realtime_body(traffic: TrafficModel, q: RealtimeQuery) -> Body:
    """Rows ``{metric: value, "ts": window}``, or per uid ``{"uid", "values"}``."""
    windows = range(align_window(q.start_ts), align_window(q.end_ts), WINDOW_S)
    data: list[dict[str, Any]] = []
    if q.cname and q.uids:
        for uid in q.uids:
            values = []
            for window in windows:
                value = traffic.realtime(q.appid, q.product_type, q.metric, window, q.cname, uid)
                if value is not None:
                    values.append({"ts": window, q.metric: value})
            if values:
                data.append({"uid": uid, "values": values})
    else:
        for window in windows:
            value = traffic.realtime(q.appid, q.product_type, q.metric, window, q.cname)
            if value is not None:
                data.append({q.metric: value, "ts": window})
    return {"code": 200, "message": "success", "data": data}


def insight_body(traffic: TrafficModel, q: InsightQuery, now: float) -> Body:
    """Rows ``{metric: value, "ts": point}`` under the metric's name as asked."""
    data = []
    for ts in point_times(q.start_ts, q.end_ts, q.granularity):
        value = traffic.insight_at(q.appid, q.metric, ts, q.granularity, q.product_type, now)
        if value is not None:
            data.append({q.metric: value, "ts": ts})
    return {"code": 200, "message": "success", "data": data}


def _call_head(code: int, request_id: str) -> Body:
    return {"code": code, "message": "", "requestId": request_id}


def call_lists_body(
    traffic: TrafficModel, q: CallListQuery, code: int, request_id: str, cap: int
) -> Body:
    """One page of the calls found, newest first."""
    found = traffic.calls(q.appid, q.start_ts, q.end_ts, q.cname)
    returned = found[:cap]
    first = (q.page_no - 1) * q.page_size
    return {
        **_call_head(code, request_id),
        "total_size": len(returned),
        "page_no": q.page_no,
        "page_size": q.page_size,
        "has_more": len(found) > cap,
        "call_lists": [asdict(c) for c in returned[first : first + q.page_size]],
    }


def sessions_body(traffic: TrafficModel, q: SessionsQuery, code: int, request_id: str) -> Body:
    """One page of a call's sessions, latest join first."""
    found = [
        s
        for s in traffic.sessions(q.appid, q.call_id)
        if s.join_ts <= q.end_ts and s.leave_ts >= q.start_ts
        and not (q.exclude_server_user and s.platform == SERVER_PLATFORM)
        and (not q.uids or s.uid in q.uids)
    ]  # fmt: skip
    first = (q.page_no - 1) * q.page_size
    return {
        **_call_head(code, request_id),
        "total_size": len(found),
        "page_no": q.page_no,
        "page_size": q.page_size,
        "call_info": [asdict(s) for s in found[first : first + q.page_size]],
    }


def metrics_body(traffic: TrafficModel, q: MetricsQuery, code: int, request_id: str) -> Body:
    """Each known session's series: ``{"mid", "kvs": [[ts, value], ...], "peer_uid"}``."""
    known = {s.sid for s in traffic.sessions(q.appid, q.call_id)}
    metrics = []
    for sid in q.sids:
        if sid not in known:
            continue
        series = traffic.call_metrics(q.appid, q.call_id, sid, q.start_ts, q.end_ts)
        data = [
            {"mid": mid, "kvs": [[ts, value] for ts, value in kvs], "peer_uid": peer}
            for mid, peer, kvs in series
        ]
        metrics.append({"sid": sid, "data": data})
    return {**_call_head(code, request_id), "metrics": metrics}
