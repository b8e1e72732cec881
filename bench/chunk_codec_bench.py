"""Benchmark: how the store's sealed chunks compress kinds of series, against simpler codecs.

One chunk is 1024 series x 8 windows of int64 or float64 cells, as the store seals them. For each kind of
series (counters advancing by random amounts, millicore rates, float rates, memory gauges wandering by
pages, constant limits) it prints the compression ratio and the CPU microseconds to encode one chunk with:
raw cells through zlib level 1 and zstandard level 1; the store's encoding (``heapster.store.chunks``:
zigzag deltas for ints, XOR for floats, time-major, byte planes) through zlib 1, zstandard 1 and 3; and
the decode time of the store's chunks.

    python bench/chunk_codec_bench.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Callable

import numpy as np
import zstandard

from heapster.store import chunks

ROWS, WIDTH = chunks.ROW_GROUP, 8
rng = np.random.default_rng(1)

KINDS: dict[str, Callable[[], np.ndarray]] = {
    "counter (random steps < 2e8)": lambda: np.cumsum(rng.integers(0, 200_000_000, (ROWS, WIDTH)), axis=1)
    + rng.integers(0, 10**13, (ROWS, 1)),
    "millicore rate (int)": lambda: rng.integers(0, 200_000_000, (ROWS, WIDTH)) // 10_000_000,
    "float rate (random)": lambda: rng.random((ROWS, WIDTH)) * 3.7,
    "memory gauge (+-64 pages)": lambda: rng.integers(0, 500_000_000, (ROWS, 1)) // 4096 * 4096
    + np.cumsum(rng.integers(-64, 65, (ROWS, WIDTH)) * 4096, axis=1),
    "constant limit": lambda: np.repeat(rng.integers(0, 10**9, (ROWS, 1)), WIDTH, axis=1),
}


def cpu_us(call: Callable[[], object], repeat: int) -> float:
    began = time.process_time()
    for _ in range(repeat):
        call()
    return (time.process_time() - began) / repeat * 1e6


def measure(cells: np.ndarray, repeat: int) -> str:
    """One line of figures for one kind of series."""
    zstd1 = zstandard.ZstdCompressor(level=1)
    zstd3 = zstandard.ZstdCompressor(level=3)
    raw = cells.tobytes()
    store_chunk = chunks.encode(cells)
    # The store's byte planes, to try other compressors on the same transform.
    planes = zstandard.ZstdDecompressor().decompress(store_chunk.blob)
    rows = {
        "raw + zlib 1": (len(zlib.compress(raw, 1)), cpu_us(lambda: zlib.compress(raw, 1), repeat)),
        "raw + zstd 1": (len(zstd1.compress(raw)), cpu_us(lambda: zstd1.compress(raw), repeat)),
        "planes + zlib 1": (len(zlib.compress(planes, 1)), cpu_us(lambda: zlib.compress(planes, 1), repeat)),
        "planes + zstd 3": (len(zstd3.compress(planes)), cpu_us(lambda: zstd3.compress(planes), repeat)),
        "store (transform + planes + zstd 1)": (store_chunk.nbytes, cpu_us(lambda: chunks.encode(cells), repeat)),
    }
    decode = cpu_us(lambda: (chunks.decode(store_chunk), chunks.decode.cache_clear()), repeat)
    shown = " | ".join(f"{name}: x{len(raw) / size:.1f} {spent:.0f}" for name, (size, spent) in rows.items())
    return f"{shown} | store decode {decode:.0f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"one chunk = {ROWS} x {WIDTH} cells = {ROWS * WIDTH * 8 // 1024} KiB; ratio x, encode us (CPU)")
    for kind, make in KINDS.items():
        print(f"{kind:<30} {measure(make(), args.repeat)}")


if __name__ == "__main__":
    main()
