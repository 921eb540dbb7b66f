"""How large an answer each endpoint may be, sized from the reference's limits.

An answer is read against two bounds (:class:`AnswerSize`): its decoded bytes,
and its JSON elements (counted before anything is parsed, as the ``[``, ``{``,
``,`` and ``:`` outside strings: every value and key but the outermost is
preceded by one). Parsed, an element costs 30 to 80 bytes of Python objects,
so the element bound is what bounds an answer's memory; the byte bound limits
the reading and the decompressing.

Each bound is the largest answer the API can legitimately send for what the
exporter asks, row by row, times :data:`SAFETY` (an answer that repeats every
row, extra fields, pretty-printing, escaped channel names), plus an envelope
(``code``, ``message``, ``requestId``, the paging fields, an error page):

* real-time (both endpoints): one row per 20-second window of the longest
  query (Enterprise: 60 min, both end windows: 181) for each of at most 10
  uids: 1,810 rows;
* Data Insights (each endpoint): one point per hour (the finest granularity the
  exporter asks for) of the whole data horizon (Enterprise: 30 days, both ends
  included): 721 points; the API answers at most 7 days, so this is more than
  four times the largest real answer;
* call lists and sessions: one page of at most 100 calls or sessions, up to
  1 KiB each (a 64-byte channel name, escaped, is 384 bytes);
* call metrics: a ``[ts, value]`` pair every 2 s over the longest details
  query (Enterprise: 6 h) for each of 40 metric IDs (20001-20040) of 20 sids:
  8.64 million pairs before counting remote peers, which is more than any
  answer may be: every answer is capped at :data:`CEILING_BYTES` (the cap all
  answers had before these budgets), and at one element per
  :data:`DENSEST_BYTES_PER_ELEMENT` bytes of that, the densest a legitimate
  answer gets (``[1548670255,0],``: 15 bytes, three elements).

The numbers are in docs/security.md ("Hostile upstreams");
tests/agora/test_answer_sizes.py pins them.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.agora.limits import HOUR, PLAN_LIMITS, Budget, Endpoint
from exporter.agora.params import MAX_PAGE_SIZE, MAX_SIDS, MAX_UIDS
from exporter.timing.windows import WINDOW_S

KIB = 1024
MIB = 1024 * KIB

SAFETY = 4
"""How many times the largest legitimate answer a budget allows."""
ENVELOPE_BYTES = 16 * KIB
ENVELOPE_ELEMENTS = 256
CEILING_BYTES = 32 * MIB
"""No answer is ever read beyond this, whatever its endpoint."""
DENSEST_BYTES_PER_ELEMENT = 5

ROW_BYTES = 128
"""A real-time window or insight point: ``{"ts": 1631837400, "audioFreezeRate": 0.0123}``
is 45 bytes compact, 128 with room for indentation and 17-digit floats."""
ROW_ELEMENTS = 8
CALL_ROW_BYTES = 1 * KIB
CALL_ROW_ELEMENTS = 16
SESSION_ROW_ELEMENTS = 32
PAIR_BYTES = 16
PAIR_ELEMENTS = 3
SAMPLE_STEP_S = 2
"""The Call Inspector's samples come every 2 s (the reference's example)."""
METRIC_IDS = 40
"""20001 to 20040: the reference's table and the newer IDs Agora documents."""


@dataclass(frozen=True)
class AnswerSize:
    """The most one answer may be: decoded bytes and JSON elements."""

    max_bytes: int
    max_elements: int


def sized(rows: int, row_bytes: int, row_elements: int) -> AnswerSize:
    """The budget for answers of at most ``rows`` rows of this size, capped by the ceiling."""
    max_bytes = min(CEILING_BYTES, ENVELOPE_BYTES + SAFETY * rows * row_bytes)
    elements = ENVELOPE_ELEMENTS + SAFETY * rows * row_elements
    return AnswerSize(max_bytes, min(elements, max_bytes // DENSEST_BYTES_PER_ELEMENT))


def _longest_span_s(budget: Budget) -> int:
    return max(limits.max_span_s for limits in PLAN_LIMITS[budget].values())


def _horizon_s(budget: Budget) -> int:
    return max(limits.horizon_s for limits in PLAN_LIMITS[budget].values())


def _answer_sizes() -> dict[Endpoint, AnswerSize]:
    realtime_rows = (_longest_span_s(Budget.REALTIME) // WINDOW_S + 1) * MAX_UIDS
    realtime = sized(realtime_rows, ROW_BYTES, ROW_ELEMENTS)
    usage_points = _horizon_s(Budget.INSIGHT_USAGE) // HOUR + 1
    quality_points = _horizon_s(Budget.INSIGHT_QUALITY) // HOUR + 1
    pairs = MAX_SIDS * METRIC_IDS * (_longest_span_s(Budget.CALL_DETAILS) // SAMPLE_STEP_S)
    return {
        Endpoint.REALTIME_USAGE: realtime,
        Endpoint.REALTIME_QUALITY: realtime,
        Endpoint.INSIGHT_USAGE: sized(usage_points, ROW_BYTES, ROW_ELEMENTS),
        Endpoint.INSIGHT_QUALITY: sized(quality_points, ROW_BYTES, ROW_ELEMENTS),
        Endpoint.CALL_LISTS: sized(MAX_PAGE_SIZE, CALL_ROW_BYTES, CALL_ROW_ELEMENTS),
        Endpoint.CALL_SESSIONS: sized(MAX_PAGE_SIZE, CALL_ROW_BYTES, SESSION_ROW_ELEMENTS),
        Endpoint.CALL_METRICS: sized(pairs, PAIR_BYTES, PAIR_ELEMENTS),
    }


ANSWER_SIZES: dict[Endpoint, AnswerSize] = _answer_sizes()
"""Every endpoint's answer budget."""
