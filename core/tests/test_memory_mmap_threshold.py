"""The daemon's fixed malloc mmap threshold (:func:`heapster.memory.fix_mmap_threshold`), in fresh processes (glibc's
dynamic threshold is process state)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# A big block freed (glibc then raises its dynamic threshold past it), then a 1 MB one held: mapped on its own or
# taken from the heap, as mallinfo2's mapped bytes say.
PROGRAM = textwrap.dedent("""
    import ctypes, sys

    from heapster.memory import fix_mmap_threshold

    fixed = fix_mmap_threshold() if sys.argv[1] == "fix" else None

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    big = bytes(8_000_000)
    del big
    before = libc.mallinfo2().hblkhd
    held = bytes(1_000_000)
    print(fixed, libc.mallinfo2().hblkhd - before >= 1_000_000)
""")


def _run(mode: str, **env: str) -> tuple[str, str]:
    environ = {key: value for key, value in os.environ.items() if key != "MALLOC_MMAP_THRESHOLD_"}
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], env={**environ, **env}, capture_output=True,
                          text=True, timeout=60, check=True)
    fixed, mapped = done.stdout.split()
    return fixed, mapped


def test_a_block_past_the_threshold_is_mapped_after_a_bigger_one_was_freed() -> None:
    assert _run("fix") == ("True", "True")


def test_without_it_glibc_raises_the_threshold_and_takes_the_block_from_its_heap() -> None:
    assert _run("none") == ("None", "False")


def test_the_operators_malloc_mmap_threshold_wins() -> None:
    assert _run("fix", MALLOC_MMAP_THRESHOLD_="16777216") == ("False", "False")
