"""Log setup: logfmt (default) or JSON lines on stderr, one line per event.

Every line holds ``ts``, ``level``, ``logger`` and ``msg``, then the call's own
fields, then ``error`` when there is one. The fields come from ``extra``::

    log.info("insight pass", extra={"budget": "insight_quality", "kind": "pass", "requests": 20})

    ts=2025-01-01T00:00:00.000Z level=info logger=exporter.insight.passes msg="insight pass"
    budget=insight_quality kind=pass requests=20   (one line)

The convention, for every log call of the exporter:

* ``msg`` is a constant sentence (no ``%s``): what happened, readable by a human.
  Every variable value is a field, so Loki and logfmt tools can filter on it.
* Each key of ``extra`` that is not a standard :class:`logging.LogRecord`
  attribute (nor starts with ``_``) is a field, in the order the call gives
  them. Keys are stable snake_case names; the usual ones are ``series`` (a
  series' store key, the one the status page shows), ``appid``, ``budget``,
  ``endpoint``, ``outcome``, ``error``, ``retry_in_s``, ``pause_s``, ``path``,
  ``port`` and ``series_count``; ``request`` is the human description of a
  request where no series key is at hand (a retry inside ``send``, a backfill
  frame). Seconds end in ``_s``. A character other than a
  letter, digit, ``_``, ``.`` or ``-`` in a key becomes ``_``; a key named
  ``ts``, ``level`` or ``logger`` is written as ``extra_ts`` (and so on).
* ``error`` given in ``extra`` is the error's text; when the call also logs an
  exception (``log.exception``, ``exc_info=True``) the traceback follows that
  text in the same field, and is the whole field otherwise.
* Values: ``str`` as they are, ``int``, ``float``, ``bool`` and ``None`` as
  numbers, ``true``/``false`` and ``null`` (JSON: its own types), anything
  else as its ``str()``. Never pass a credential.

Escaping: a logfmt value with a space, ``"``, ``=``, ``\\`` or any character
that does not print is quoted; inside the quotes ``\\``, ``"``, newline, tab and
carriage return are escaped as ``\\\\``, ``\\"``, ``\\n``, ``\\t`` and ``\\r``,
and every other such character as ``\\xNN`` (``\\uNNNN`` beyond U+00FF), so a
value can neither end the line nor forge a field. JSON escapes through
:func:`json.dumps` (ASCII only).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

LEVELS = ("debug", "info", "warn", "error")

Value = str | int | float | bool | None

_STANDARD = frozenset(
    {
        *vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)),
        "message",
        "asctime",
        "taskName",  # Python 3.12 and later
    }
)
"""Attributes every LogRecord has (or a Formatter adds): never fields."""
_RESERVED = frozenset({"ts", "level", "logger", "msg"})
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_NAMED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _key(name: str) -> str:
    key = _KEY_UNSAFE.sub("_", name) or "_"
    return f"extra_{key}" if key in _RESERVED else key


def _value(value: object) -> Value:
    """``value`` as one of the types both formats write natively."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    return str(value)


def _extra(record: logging.LogRecord) -> dict[str, Value]:
    """The fields the log call passed in ``extra``, in its order."""
    return {
        _key(name): _value(value)
        for name, value in vars(record).items()
        if name not in _STANDARD and not name.startswith("_")
    }


def _fields(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, Value]:
    fields: dict[str, Value] = {
        "ts": _timestamp(record),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    extra = _extra(record)
    error = extra.pop("error", None)
    fields.update(extra)
    if record.exc_info:
        trace = formatter.formatException(record.exc_info)
        error = trace if error is None else f"{error}\n{trace}"
    if error is not None:
        fields["error"] = error
    return fields


def _escape(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _needs_quotes(text: str) -> bool:
    return not text or any(c in ' "=\\' or not c.isprintable() for c in text)


def logfmt_value(value: Value) -> str:
    """One value as logfmt writes it: bare when it can be, else quoted and escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, float) else str(value)
    if not _needs_quotes(text):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def logfmt_line(fields: Mapping[str, Value]) -> str:
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return logfmt_line(_fields(self, record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(self, record))


def setup_logging(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    """Configure the root logger once, at start."""
    numeric = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}.get(
        level, logging.ERROR
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Third-party chatter (httpx logs every request URL at INFO) stays out of ours.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
