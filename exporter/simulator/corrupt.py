"""How each fault turns into bytes: canned bad answers, and damage to real ones."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from exporter.simulator.answers import Answer, Body, error_answer
from exporter.simulator.faults import Fault, FaultSpec

_HTML_500 = (
    b"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
    b"<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_TRUNCATED = b'{"code":200,"message":"success","data":[{"userCount":112,"ts":1631837400},{"user'
_MALFORMED = b"{'code': 200, 'message': 'success', 'data': [{'userCount': 112,]}"
_LOOKS_REAL = b'{"code":200,"message":"success","data":[{"userCount":112,"ts":1631837400}]}'
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def early_answer(spec: FaultSpec) -> Answer:
    """The canned answer of a fault that is served instead of the service."""
    fault = spec.fault
    if fault is Fault.HTML_500:
        return Answer(500, raw=_HTML_500, content_type="text/html")
    if fault is Fault.TRUNCATED_JSON:
        return Answer(200, raw=_TRUNCATED)
    if fault is Fault.MALFORMED_JSON:
        return Answer(200, raw=_MALFORMED)
    if fault is Fault.WRONG_SHAPE:
        return Answer(200, {"code": 200, "message": "success", "data": {"rows": "unexpected"}})
    if fault is Fault.EMPTY_BODY:
        return Answer(200, raw=b"")
    if fault is Fault.HTTP_STATUS:
        reason = _REASONS.get(spec.http_status, "Error").encode()
        return Answer(spec.http_status, raw=reason, content_type="text/plain")
    if fault is Fault.CODE_300:
        return error_answer(200, 300, spec.message)
    if fault is Fault.BODY_CODE:
        return error_answer(200, spec.code, spec.message)
    if fault is Fault.UNKNOWN_ERROR:
        return error_answer(200, 500, "Unknown Error")
    if fault is Fault.RESET:
        return Answer(200, raw=_LOOKS_REAL, abort="reset")
    if fault is Fault.DROP:
        return Answer(200, raw=b"", abort="drop")
    raise ValueError(f"{fault} is not served in place of an answer")


def damaged(body: Body, fault: Fault) -> Body:
    """A copy of a successful answer's body with the data fault applied.

    Rows are the lists the client iterates: real-time and insight ``data`` (or
    each uid's ``values``), ``call_lists``, ``call_info``, and each metric's
    ``kvs``. ``NAN_VALUES`` touches metric values only (not ``ts``/``uid``);
    the call and session lists have none, so it leaves them alone.
    """
    body = copy.deepcopy(body)
    if fault is Fault.NO_CODE:
        body.pop("code", None)
        body.pop("message", None)
        return body
    if fault is Fault.NULL_MESSAGE:
        body["message"] = None
        return body
    change = _ROW_CHANGES[fault]
    for rows, is_metric_rows in _row_lists(body):
        rows[:] = change(rows, is_metric_rows)
    return body


def _row_lists(body: Body) -> list[tuple[list[Any], bool]]:
    found: list[tuple[list[Any], bool]] = []
    data = body.get("data")
    if isinstance(data, list):
        nested = [row["values"] for row in data if isinstance(row, dict) and "values" in row]
        found += [(rows, True) for rows in nested] if nested else [(data, True)]
    for key in ("call_lists", "call_info"):
        if isinstance(body.get(key), list):
            found.append((body[key], False))
    for session in body.get("metrics") or []:
        found += [(series["kvs"], True) for series in session.get("data", [])]
    return found


def _with_nans(rows: list[Any], is_metric_rows: bool) -> list[Any]:
    if not is_metric_rows:
        return rows
    for row in rows[1::2]:
        if isinstance(row, dict):
            for key in row:
                if key not in ("ts", "uid"):
                    row[key] = math.nan
        else:
            row[1] = math.nan
    return rows


def _as_strings(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return {k: _as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_strings(v) for v in value]
    return value


_ROW_CHANGES: dict[Fault, Callable[[list[Any], bool], list[Any]]] = {
    Fault.NAN_VALUES: _with_nans,
    Fault.DUPLICATE_WINDOWS: lambda rows, _: [copy.deepcopy(r) for r in rows for _ in (0, 1)],
    Fault.OUT_OF_ORDER: lambda rows, _: rows[::-1],
    Fault.WRONG_TYPES: lambda rows, _: [_as_strings(r) for r in rows],
}
