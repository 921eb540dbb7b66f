"""The ``backfill`` flags: the output, and the times ``--since`` and ``--until`` accept.

A time is a duration ago (``90m``, ``1h30m``, ``2d``, Prometheus' units), an
RFC 3339 time with a zone (``2026-01-31T12:00:00Z``) or Unix seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from exporter.backfill.render import TimeRange

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


class UsageError(ValueError):
    """A backfill flag is malformed; the message names the flag (exit code 2)."""


@dataclass(frozen=True)
class BackfillRequest:
    """The backfill flags as given on the command line."""

    out: str | None
    since: str | None = None
    until: str | None = None
    fetch: bool = False


def parse_duration(text: str) -> float | None:
    """Seconds in a Prometheus duration (``90m``, ``1h30m``, ``2d``); None if it is not one."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return float(sum(int(number) * _UNITS[unit] for number, unit in parts))


def parse_when(text: str, *, now: float, flag: str) -> float:
    """A point in time: a duration ago (``6h``), RFC 3339 (``2026-01-31T12:00:00Z``) or Unix s."""
    text = text.strip()
    ago = parse_duration(text)
    if ago is not None:
        return now - ago
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else _bad(flag, text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _bad(flag, text)
    if parsed.tzinfo is None:
        raise UsageError(f"{flag}={text}: add a time zone, as in {text}Z or {text}+02:00")
    return parsed.timestamp()


def _bad(flag: str, text: str) -> float:
    raise UsageError(
        f"{flag}={text} is not a time: give a duration ago (90m, 6h, 2d), an RFC 3339 "
        "time (2026-01-31T12:00:00Z) or Unix seconds"
    )


def time_range(request: BackfillRequest, now: float) -> TimeRange:
    since = None if request.since is None else parse_when(request.since, now=now, flag="--since")
    until = None if request.until is None else parse_when(request.until, now=now, flag="--until")
    if since is not None and until is not None and since >= until:
        raise UsageError(
            f"--since ({utc(since)}) must be earlier than --until ({utc(until)}): nothing between"
        )
    return TimeRange(since, until)


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
