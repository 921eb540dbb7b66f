"""The one place the wall clock is read; everything else takes a ``Clock``."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns the current Unix time in seconds. Tests pass a fake one."""


def system_clock() -> float:
    return time.time()
