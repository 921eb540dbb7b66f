"""Process-wide settings for a long-running server: the GIL's switch interval, glibc's
allocator, the garbage collector.

All are global to the process, so only :meth:`exporter.app.App.start` calls
:func:`tune_for_serving`.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys

log = logging.getLogger(__name__)

GIL_SWITCH_S = 0.001
"""The interpreter's switch interval for a serving app (Python's default is 5 ms).

A scrape gives the GIL up at each socket read and write and waits to win it
back while polls and renders compute; 1 ms slices keep those waits short
(paced scrapes during a render ahead: p99 25 -> 12 ms)."""

MMAP_THRESHOLD_BYTES = 128 * 1024
"""Blocks this big come straight from the kernel and go back to it when freed.

glibc's default threshold is 128 KiB too, but it rises to the size of any such
block freed, up to 32 MiB. The exposition's 256 KiB chunks, replaced every
20 s, then come from the heap, where freed ones stay resident: ~15 MiB more
at 22,000 series. Setting the threshold fixes it where it starts."""

ARENA_MAX = 2
"""glibc's malloc arenas. Its default, 8 per CPU, gives each scrape thread its
own arena, and each keeps what its scrapes freed."""

YOUNG_COLLECTION_OBJECTS = 10_000
"""Objects allocated (net) between two collections of the youngest generation (Python's
default is 700).

A full collection stops every thread while it visits every object (48 ms for
the 124,000 of a filled 22,010-series store, rendered once), and comes once
the objects promoted since the last one reach a quarter of the old ones. At
700, a poll's parsed answer or a block being rendered is often alive at a
young collection, and is promoted only to die soon after. In traced ``make
bench`` runs that brought a full collection every 1-3 s while the first
round's polls committed, and 5 of 49-103 ms in the 40 s after it; with this
threshold and start-up frozen, three came in each whole run."""

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_M_ARENA_MAX = -8


def tune_allocator() -> bool:
    """Apply MMAP_THRESHOLD_BYTES and ARENA_MAX; False where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl, macOS: their allocators return memory themselves
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return bool(mallopt(_M_ARENA_MAX, ARENA_MAX)) and applied


def tune_collector() -> None:
    """Freeze what start-up built (the modules, the plan, the store as loaded: no full
    collection visits them again) and collect the young generation less often.

    Freezing once is safe: an object frozen here that later becomes part of
    unreachable cycle is never freed, but nothing made after start is frozen,
    so that can cost at most what start-up built, once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_OBJECTS, *gc.get_threshold()[1:])


def tune_for_serving() -> None:
    """Short GIL slices for scrapes, an allocator that gives big buffers back, and a
    garbage collector that stops the process less often."""
    sys.setswitchinterval(GIL_SWITCH_S)
    tune_collector()
    if not tune_allocator():
        log.debug("not glibc: the allocator is left as it is")
