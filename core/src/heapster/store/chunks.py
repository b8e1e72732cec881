"""Sealed chunks: one block of time slots of one column, compressed per group of rows.

A chunk holds ``rows x BLOCK`` cells. Each row is encoded along time as time-series databases do:
ints as the first value then differences, zigzag-mapped so small negative steps stay small (a counter
becomes its increments, a constant row zeros), floats as the XOR of each value's bits with the previous
one's (Gorilla: an unchanged value becomes zeros). The cells are laid out time-major (all first values,
then all second steps, ...) and handed to Blosc, which shuffles their 64 bits into bit planes (all
highest bits together, ...: small steps leave whole planes zero, page-aligned memory steps leave their
low planes zero) and compresses the planes with zstd. Missing cells (``INT_MISSING``, NaN) go through
the same wrapping arithmetic and come back bit for bit.

Measured on the store's sealed chunks at steady state (bench/README.md, "Chunk codec"): bit planes + zstd
hold them in 19% fewer bytes than the byte planes + zstandard level 1 used before (memory gauges 30% fewer,
counters 8%), for ~30% more encode CPU (~10 us per 64 KiB chunk) and the same decode CPU.
"""

from __future__ import annotations

from functools import lru_cache

import blosc
import numpy as np
import numpy.typing as npt

ROW_GROUP = 1024
"""Rows per chunk: a one-series query decodes one chunk per block of time."""
LEVEL = 1
"""zstd level inside Blosc (bench/README.md: 3 is only 1% smaller than 1, for 20% more encode CPU)."""
CACHE = 128
"""Decoded chunks kept for queries that read many rows of the same chunks (128 x 64 KiB at most)."""

blosc.set_nthreads(1)  # the store compresses in its writer thread: no helper threads
blosc.set_releasegil(True)  # queries in other threads run while a chunk is compressed
blosc.compress(b"", typesize=8, clevel=LEVEL, shuffle=blosc.BITSHUFFLE, cname="zstd")  # the arguments, checked once
_compress = blosc.blosc_extension.compress
"""Blosc's compressor without ``blosc.compress``'s checks of its arguments on every call (they parse the C
library's version string twice for BITSHUFFLE: about 20 us of a chunk's ~150 us encode; bench/README.md, session
9, helper pipecpu5). A chunk (64 KiB) is far under Blosc's maximum buffer size."""


class Chunk:
    """``rows x width`` cells of int64 (or float64) compressed; decoded by :func:`decode` (cached)."""

    __slots__ = ("__weakref__", "blob", "is_float", "rows", "width")

    def __init__(self, blob: bytes, rows: int, width: int, is_float: bool) -> None:
        self.blob = blob
        self.rows = rows
        self.width = width
        self.is_float = is_float

    @property
    def nbytes(self) -> int:
        return len(self.blob)


def encode(cells: npt.NDArray[np.generic]) -> Chunk:
    """Compress a ``rows x width`` int64 or float64 matrix."""
    is_float = cells.dtype.kind == "f"
    bits = np.ascontiguousarray(cells).view(np.int64)
    coded = bits.copy()
    if is_float:
        np.bitwise_xor(bits[:, 1:], bits[:, :-1], out=coded[:, 1:])
    else:
        steps = bits[:, 1:] - bits[:, :-1]
        coded[:, 1:] = (steps << 1) ^ (steps >> 63)
    rows, width = cells.shape
    blob = _compress(np.ascontiguousarray(coded.T).tobytes(), 8, LEVEL, blosc.BITSHUFFLE, "zstd")
    return Chunk(blob, rows, width, is_float)


@lru_cache(maxsize=CACHE)
def decode(chunk: Chunk) -> npt.NDArray[np.generic]:
    """The matrix of ``chunk`` (read-only: it is shared by the cache)."""
    coded = np.frombuffer(blosc.decompress(chunk.blob), dtype=np.int64).reshape(chunk.width, chunk.rows).T.copy()
    if chunk.is_float:
        np.bitwise_xor.accumulate(coded, axis=1, out=coded)
        cells: npt.NDArray[np.generic] = coded.view(np.float64)
    else:
        steps = coded[:, 1:]
        steps[:] = (steps.view(np.uint64) >> np.uint64(1)).view(np.int64) ^ -(steps & 1)
        np.cumsum(coded, axis=1, out=coded)
        cells = coded
    cells.flags.writeable = False
    return cells


def encode_rows(cells: npt.NDArray[np.generic]) -> list[Chunk]:
    """Chunks of ``ROW_GROUP`` rows each."""
    return [encode(cells[first: first + ROW_GROUP]) for first in range(0, len(cells), ROW_GROUP)]


def decode_rows(chunks: list[Chunk], rows: int, width: int, missing: float | int,
                dtype: type[np.generic]) -> npt.NDArray[np.generic]:
    """The first ``rows`` rows of a list of chunks (rows past the chunks are ``missing``)."""
    out = np.full((rows, width), missing, dtype=dtype)
    for index, chunk in enumerate(chunks):
        first = index * ROW_GROUP
        if first >= rows:
            break
        part = decode(chunk)
        take = min(chunk.rows, rows - first)
        out[first: first + take] = part[:take]
    return out
