"""Process-wide tuning: measured in a child process, since it changes the whole process."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest

# glibc's mallinfo2 counts the blocks taken straight from the kernel (hblks).
CHILD = textwrap.dedent(
    """
    import ctypes, sys
    from exporter.serving.tuning import tune_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = MallInfo2

    def from_the_kernel(size):
        before = mallinfo2().hblks
        block = bytearray(size)
        found = mallinfo2().hblks - before
        del block
        return found

    if sys.argv[1] == "tuned":
        tune_allocator()  # as the app does: at start, before big blocks come and go
    big = bytearray(8 << 20)
    del big  # untuned, glibc now serves anything up to 8 MiB from its heap
    print(from_the_kernel(256 << 10))
    """
)


def _blocks_from_the_kernel(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.fixture(autouse=True)
def _glibc() -> None:
    try:
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018 - present in glibc 2.33 and later
    except (OSError, AttributeError):
        pytest.skip("the C library is not glibc 2.33 or later")


def test_untuned_glibc_keeps_a_256_kib_chunk_in_its_heap_once_a_bigger_one_was_freed() -> None:
    assert _blocks_from_the_kernel("untuned") == 0


def test_tuned_a_256_kib_chunk_comes_from_the_kernel_and_goes_back_when_freed() -> None:
    assert _blocks_from_the_kernel("tuned") == 1


COLLECTOR_CHILD = textwrap.dedent(
    """
    import gc
    from exporter.serving.tuning import YOUNG_COLLECTION_OBJECTS, tune_collector

    built_at_start = [[index] for index in range(1000)]
    tune_collector()
    made_after = [[index] for index in range(1000)]
    visited = gc.get_objects()  # what a full collection visits: not the frozen
    print(gc.get_threshold()[0] == YOUNG_COLLECTION_OBJECTS)
    print(not any(one is built_at_start[0] for one in visited))
    print(any(one is made_after[0] for one in visited))
    """
)


def test_what_start_up_built_is_frozen_and_young_collections_come_less_often() -> None:
    done = subprocess.run(
        [sys.executable, "-c", COLLECTOR_CHILD], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    threshold, start_up_frozen, later_visited = done.stdout.split()
    assert threshold == "True"
    assert start_up_frozen == "True", "what start-up built is never visited again"
    assert later_visited == "True", "what is made afterwards is collected as ever"
