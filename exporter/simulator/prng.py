"""Deterministic pseudo-randomness: every simulated number is a pure function of its names.

The simulator keeps no random state. A value is derived by hashing the seed with
the names of what it describes (app, channel, metric, time slot), so two
simulators with the same seed agree on every number whatever order they are
asked in, and a test can recompute any value the HTTP server served.
"""

from __future__ import annotations

import hashlib
import math

_SCALE = float(2**53)
_MASK = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15
DAY_S = 86400


def units(seed: int, *parts: object, n: int = 1) -> tuple[float, ...]:
    """``n`` (at most 8) uniform numbers in [0, 1) fixed by ``seed`` and ``parts``.

    One hash yields up to eight numbers, which is why callers ask for the
    numbers of all five quality metrics at once: hashing dominates the cost.
    """
    digest = _digest(seed, parts, 8 * n)
    # 53 bits: a double holds them exactly, so the result is never rounded up to 1.0.
    return tuple(
        (int.from_bytes(digest[i * 8 : i * 8 + 8], "big") >> 11) / _SCALE for i in range(n)
    )


def unit(seed: int, *parts: object) -> float:
    """One uniform number in [0, 1) fixed by ``seed`` and ``parts``."""
    return units(seed, *parts)[0]


def _digest(seed: int, parts: tuple[object, ...], size: int) -> bytes:
    key = "\x1f".join(map(str, (seed, *parts))).encode()
    return hashlib.blake2b(key, digest_size=size).digest()


def key64(seed: int, *parts: object) -> int:
    """A 64-bit integer fixed by ``seed`` and ``parts``, to key :func:`fast_unit`."""
    return int.from_bytes(_digest(seed, parts, 8), "big")


def hex_id(seed: int, *parts: object, length: int = 20) -> str:
    """A lowercase hex identifier of ``length`` (at most 128) digits."""
    return _digest(seed, parts, (length + 1) // 2).hex()[:length]


def smooth_units(
    seed: int, t: float, period: float, *parts: object, n: int = 1
) -> tuple[float, ...]:
    """Value noise: ``n`` numbers in [0, 1) gliding between knots ``period`` seconds apart.

    Neighbouring windows get similar numbers, so series drift instead of jumping.
    """
    position = t / period
    knot = math.floor(position)
    before = units(seed, *parts, knot, n=n)
    after = units(seed, *parts, knot + 1, n=n)
    weight = (1 - math.cos(math.pi * (position - knot))) / 2
    return tuple(a + (b - a) * weight for a, b in zip(before, after, strict=True))


def mix64(x: int) -> int:
    """The splitmix64 finaliser: a cheap integer hash for the 2-second call metrics."""
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def fast_unit(key: int, index: int) -> float:
    """A uniform number in [0, 1) for point ``index`` of the series keyed ``key``.

    Hundreds of thousands of call-metric points may be asked for at once;
    blake2b per point would be too slow there, splitmix64 is not.
    """
    return (mix64(key ^ ((index * _GOLDEN) & _MASK)) >> 11) / _SCALE


def day_curve(t: float) -> float:
    """Share of the daily peak audience online at ``t``, between 0.15 and 1.

    Peak at 20:00 UTC, trough at 04:00 UTC; the climb takes 16 hours and the fall
    8, with zero slope at both ends so the curve has no corners.
    """
    since_trough = ((t % DAY_S) / 3600 - 4) % 24
    if since_trough <= 16:
        phase = math.pi * since_trough / 16
    else:
        phase = math.pi + math.pi * (since_trough - 16) / 8
    return 0.15 + 0.85 * (1 - math.cos(phase)) / 2
