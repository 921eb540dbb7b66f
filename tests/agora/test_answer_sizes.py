"""Each endpoint's answer budget, worked out by hand from the reference's limits."""

from __future__ import annotations

import pytest

from exporter.agora.answer_sizes import ANSWER_SIZES, CEILING_BYTES, AnswerSize, sized
from exporter.agora.limits import Endpoint

KIB = 1024
MIB = 1024 * KIB

# (rows of the largest legitimate answer, its decoded bytes, its JSON elements)
EXPECTED = [
    # 60 min of 20-s windows, both ends (181), for 10 uids; 4 x 128 B and 4 x 8 per row
    (Endpoint.REALTIME_USAGE, 16 * KIB + 4 * 1810 * 128, 256 + 4 * 1810 * 8),
    (Endpoint.REALTIME_QUALITY, 16 * KIB + 4 * 1810 * 128, 256 + 4 * 1810 * 8),
    # 30 days of hourly points, both ends (721)
    (Endpoint.INSIGHT_USAGE, 16 * KIB + 4 * 721 * 128, 256 + 4 * 721 * 8),
    (Endpoint.INSIGHT_QUALITY, 16 * KIB + 4 * 721 * 128, 256 + 4 * 721 * 8),
    # a page of 100 calls or sessions of up to 1 KiB
    (Endpoint.CALL_LISTS, 16 * KIB + 4 * 100 * KIB, 256 + 4 * 100 * 16),
    (Endpoint.CALL_SESSIONS, 16 * KIB + 4 * 100 * KIB, 256 + 4 * 100 * 32),
    # 20 sids x 40 metric IDs x 6 h of 2-s samples is beyond the 32 MiB every answer is
    # held to; at most one element per 5 bytes of that
    (Endpoint.CALL_METRICS, 32 * MIB, 32 * MIB // 5),
]


@pytest.mark.parametrize(
    ("endpoint", "max_bytes", "max_elements"),
    [pytest.param(*row, id=f"{row[0].label} answers") for row in EXPECTED],
)
def test_each_endpoint_may_answer_up_to_four_times_its_largest_legitimate_answer(
    endpoint: Endpoint, max_bytes: int, max_elements: int
) -> None:
    assert ANSWER_SIZES[endpoint] == AnswerSize(max_bytes, max_elements)


def test_every_endpoint_has_a_budget_within_the_ceiling() -> None:
    assert set(ANSWER_SIZES) == set(Endpoint)
    assert all(size.max_bytes <= CEILING_BYTES for size in ANSWER_SIZES.values())


@pytest.mark.parametrize(
    ("rows", "row_bytes", "row_elements", "expected"),
    [
        pytest.param(0, 128, 8, AnswerSize(16 * KIB, 256), id="no rows leave the envelope"),
        pytest.param(10, 100, 2, AnswerSize(16 * KIB + 4000, 256 + 80), id="rows count four times"),
        pytest.param(
            10**9, 16, 3, AnswerSize(32 * MIB, 32 * MIB // 5), id="the ceiling caps both bounds"
        ),
        pytest.param(
            1000, 10, 100, AnswerSize(56384, 56384 // 5), id="no more elements than bytes allow"
        ),
    ],
)
def test_a_budget_is_rows_times_four_plus_the_envelope(
    rows: int, row_bytes: int, row_elements: int, expected: AnswerSize
) -> None:
    assert sized(rows, row_bytes, row_elements) == expected
