"""The daemon's cap on glibc malloc arenas (:func:`heapster.memory.limit_malloc_arenas`), in fresh processes
(a process's arena limit is fixed once its second thread allocates)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# Threads that each allocate (numpy buffers and bytes past malloc's small sizes) while the others still hold
# theirs, then the number of arenas glibc's malloc_info reports.
PROGRAM = textwrap.dedent("""
    import ctypes, ctypes.util, os, re, sys, tempfile, threading

    from heapster.memory import limit_malloc_arenas

    capped = limit_malloc_arenas() if sys.argv[1] == "cap" else None
    barrier = threading.Barrier(6)
    held = []

    def work():
        held.append([bytes(200_000 + n) for n in range(20)])
        barrier.wait()

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    barrier.wait()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        handle = libc.fopen(tmp.name.encode(), b"w")
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        arenas = len(re.findall(r'<heap nr="\\d+">', open(tmp.name).read()))
    print(capped, arenas)
""")

def _run(mode: str, **env: str) -> tuple[str, int]:
    environ = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], env={**environ, **env}, capture_output=True,
                          text=True, timeout=60, check=True)
    capped, arenas = done.stdout.split()
    return capped, int(arenas)


def test_threads_share_one_arena_once_capped() -> None:
    assert _run("cap") == ("True", 1)


def test_threads_get_arenas_of_their_own_without_the_cap() -> None:
    capped, arenas = _run("none")
    assert capped == "None"
    assert arenas > 1


def test_the_operators_malloc_arena_max_wins() -> None:
    capped, arenas = _run("cap", MALLOC_ARENA_MAX="3")
    assert capped == "False"
    assert 1 < arenas <= 3
