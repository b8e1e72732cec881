"""Benchmark: how the store's sealed chunks compress kinds of series, against simpler codecs.

One chunk is 1024 series x 8 windows of int64 or float64 cells, as the store seals them. For each kind of
series (counters advancing by random amounts, millicore rates, float rates, memory gauges wandering by
pages, constant limits) it prints the compression ratio and the CPU microseconds to encode one chunk with:
raw cells through zlib level 1 and zstd level 1; the store's transform (``heapster.store.chunks``: zigzag
deltas for ints, XOR for floats, time-major) then byte planes (Blosc's shuffle) through zlib 1 and zstd 1 (the
store's codec before), then bit planes (Blosc's bitshuffle) through zstd 1; the store's codec (transform, bit
planes, zstd 1); and the decode time of the store's chunks. zstd runs inside Blosc, one thread.

    python bench/chunk_codec_bench.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Callable

import blosc
import numpy as np

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
    raw = cells.tobytes()
    store_chunk = chunks.encode(cells)
    coded = blosc.decompress(store_chunk.blob)  # the store's transform, time-major, before the planes

    def zstd(data: bytes, shuffle: int, level: int = 1) -> bytes:
        return bytes(blosc.compress(data, typesize=8, clevel=level, shuffle=shuffle, cname="zstd"))

    def planes(data: bytes) -> bytes:
        return np.frombuffer(data, dtype=np.uint8).reshape(-1, 8).T.tobytes()

    rows = {
        "raw + zlib 1": (len(zlib.compress(raw, 1)), cpu_us(lambda: zlib.compress(raw, 1), repeat)),
        "raw + zstd 1": (len(zstd(raw, blosc.NOSHUFFLE)), cpu_us(lambda: zstd(raw, blosc.NOSHUFFLE), repeat)),
        "byte planes + zlib 1": (len(zlib.compress(planes(coded), 1)),
                                 cpu_us(lambda: zlib.compress(planes(coded), 1), repeat)),
        "byte planes + zstd 1 (before)": (len(zstd(coded, blosc.SHUFFLE)),
                                          cpu_us(lambda: zstd(coded, blosc.SHUFFLE), repeat)),
        "bit planes + zstd 1": (len(zstd(coded, blosc.BITSHUFFLE)),
                                cpu_us(lambda: zstd(coded, blosc.BITSHUFFLE), repeat)),
        "store (transform + bit planes + zstd 1)": (store_chunk.nbytes, cpu_us(lambda: chunks.encode(cells), repeat)),
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
