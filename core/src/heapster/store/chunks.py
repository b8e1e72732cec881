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

Float chunks whose cells are mostly exact ratios of an int to a small int (the rate calculator's per-second
rates: a counter's step divided by whole seconds, as kubelets stamp their stats) are kept as those ints: per cell
the numerator (zigzag, bit planes + zstd), a one-byte code of its denominator (left out when every cell has the
one denominator) and, for the cells that are no such ratio (or missing), their bits. A cell is a ratio only if
dividing its two ints as floats gives its exact bits back, so the chunk still decodes bit for bit. Measured
(bench/README.md, session 9, storemem5): the float rates' chunks shrink by a quarter to two fifths (a float's
mantissa costs up to 52 bits a cell, the counter step it came from far fewer); encode and decode cost ~2x XOR's.
"""

from __future__ import annotations

import struct
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
_blosc_compress = blosc.blosc_extension.compress
"""Blosc's compressor without ``blosc.compress``'s checks of its arguments on every call (they parse the C
library's version string twice for BITSHUFFLE: about 20 us of a chunk's ~150 us encode; bench/README.md, session
9, helper pipecpu5). A chunk (64 KiB) is far under Blosc's maximum buffer size."""


class Chunk:
    """``rows x width`` cells of int64 (or float64) compressed; decoded by :func:`decode` (cached)."""

    __slots__ = ("__weakref__", "blob", "is_float", "ratio", "rows", "width")

    def __init__(self, blob: bytes, rows: int, width: int, is_float: bool, ratio: bool = False) -> None:
        self.blob = blob
        self.rows = rows
        self.width = width
        self.is_float = is_float
        self.ratio = ratio
        """Float cells kept as numerators, denominators and exceptions (see the module's docstring)."""

    @property
    def nbytes(self) -> int:
        return len(self.blob)


MAX_DENOMINATOR = 128
"""Largest denominator looked for (a rate's seconds: resolutions up to two minutes)."""
DENOMINATORS = 4
"""Denominators per chunk at most (a scrape a second early or late, one missed)."""
SAMPLE = 32
"""Cells of a float chunk on which its denominators are chosen."""
_CANDIDATES = np.arange(1, MAX_DENOMINATOR + 1, dtype=np.float64)
_SMALL = float(2 ** 62) / MAX_DENOMINATOR


def encode(cells: npt.NDArray[np.generic]) -> Chunk:
    """Compress a ``rows x width`` int64 or float64 matrix."""
    is_float = cells.dtype.kind == "f"
    bits = np.ascontiguousarray(cells).view(np.int64)
    rows, width = cells.shape
    if is_float:
        parts = _ratios(bits)
        if parts is not None:
            return Chunk(_ratio_blob(bits, *parts), rows, width, True, ratio=True)
        return Chunk(_compress(_xor(bits).T), rows, width, True)
    return Chunk(_compress(_steps(bits).T), rows, width, False)


@lru_cache(maxsize=CACHE)
def decode(chunk: Chunk) -> npt.NDArray[np.generic]:
    """The matrix of ``chunk`` (read-only: it is shared by the cache)."""
    rows, width = chunk.rows, chunk.width
    cells: npt.NDArray[np.generic]
    if chunk.ratio:
        cells = _ratio_cells(chunk.blob, rows, width)
    else:
        coded = np.frombuffer(blosc.decompress(chunk.blob), dtype=np.int64).reshape(width, rows).T.copy()
        cells = _unxor(coded).view(np.float64) if chunk.is_float else _unsteps(coded)
    cells.flags.writeable = False
    return cells


_HEADER = struct.Struct("<III")


def _ratio_blob(bits: npt.NDArray[np.int64], numerators: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8],
                table: list[int]) -> bytes:
    """Numerators (zigzag, bit planes, time-major), denominator codes (one byte a cell, row-major: 0 for an
    exception, else 1 + the index in ``table``; left out when every cell has the one denominator), the table, and
    the exceptions' bits in row-major order."""
    numerators_blob = _compress(_zigzag(numerators).T)
    codes_blob = b"" if len(table) == 1 and codes.all() else _blosc_compress(
        np.ascontiguousarray(codes).tobytes(), 1, LEVEL, blosc.NOSHUFFLE, "zstd")
    table_bytes = np.asarray(table, dtype=np.int64).tobytes()
    exceptions = bits[codes == 0]
    exceptions_blob = _blosc_compress(exceptions.tobytes(), 8, LEVEL, blosc.SHUFFLE, "zstd") if len(exceptions) else b""
    header = _HEADER.pack(len(numerators_blob), len(codes_blob), len(table_bytes))
    return b"".join((header, numerators_blob, codes_blob, table_bytes, exceptions_blob))


def _ratio_cells(blob: bytes, rows: int, width: int) -> npt.NDArray[np.float64]:
    """Undo :func:`_ratio_blob`."""
    view = memoryview(blob)
    numerators_size, codes_size, table_size = _HEADER.unpack_from(view)
    at = _HEADER.size
    numerators = _unzigzag(np.frombuffer(blosc.decompress(view[at: at + numerators_size]), dtype=np.int64)
                           .reshape(width, rows).T.copy())
    at += numerators_size
    table = np.frombuffer(view[at + codes_size: at + codes_size + table_size], dtype=np.int64).astype(np.float64)
    if not codes_size:
        every: npt.NDArray[np.float64] = numerators / table[0]
        return every
    codes = np.frombuffer(blosc.decompress(view[at: at + codes_size]), dtype=np.uint8).reshape(rows, width)
    at += codes_size + table_size
    if len(table) == 1:
        cells: npt.NDArray[np.float64] = numerators / table[0]
    else:
        cells = numerators / np.concatenate([[1.0], table])[codes]
    if at < len(blob):
        cells[codes == 0] = np.frombuffer(blosc.decompress(view[at:]), dtype=np.float64)
    return cells


def _compress(coded: npt.NDArray[np.int64]) -> bytes:
    blob: bytes = _blosc_compress(np.ascontiguousarray(coded).tobytes(), 8, LEVEL, blosc.BITSHUFFLE, "zstd")
    return blob


def _zigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    zigzag: npt.NDArray[np.int64] = (values << 1) ^ (values >> 63)
    return zigzag


def _unzigzag(coded: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Undo :func:`_zigzag` in place."""
    coded[:] = (coded.view(np.uint64) >> np.uint64(1)).view(np.int64) ^ -(coded & 1)
    return coded


def _steps(bits: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each row's first value, then its zigzagged steps along time (wrapping)."""
    coded = bits.copy()
    coded[:, 1:] = _zigzag(bits[:, 1:] - bits[:, :-1])
    return coded


def _unsteps(coded: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Undo :func:`_steps` in place."""
    _unzigzag(coded[:, 1:])
    np.cumsum(coded, axis=1, out=coded)
    return coded


def _xor(bits: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each row's first value, then each value's bits XOR the previous one's."""
    coded = bits.copy()
    np.bitwise_xor(bits[:, 1:], bits[:, :-1], out=coded[:, 1:])
    return coded


def _unxor(coded: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Undo :func:`_xor` in place."""
    np.bitwise_xor.accumulate(coded, axis=1, out=coded)
    return coded


def _ratios(bits: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], list[int]] | None:
    """Numerator and denominator code of each float cell (code 0: not an exact ratio, or missing; else 1 + the
    index of its denominator in the table returned), or None when fewer than half the present cells are ratios.

    The denominators are chosen on a sample of the cells, tried against every denominator up to
    :data:`MAX_DENOMINATOR` at once: the one that fits most of them, then the one that fits most of the rest, ...
    (at most :data:`DENOMINATORS`). Zero (+0.0) is ``0 / d`` with the first.
    """
    values = bits.view(np.float64).ravel()
    flat = bits.ravel()
    zeros = flat == 0
    with np.errstate(invalid="ignore"):
        candidates = np.abs(values) < _SMALL  # finite, and every numerator fits an int64 exactly
    candidates &= ~zeros
    count = int(np.count_nonzero(candidates))
    if not count:
        return None
    sample = values[np.flatnonzero(candidates)[:: max(1, count // SAMPLE)]]
    with np.errstate(over="ignore", invalid="ignore"):
        tops = np.rint(sample[:, None] * _CANDIDATES)
        tops += 0.0  # -0.0 would come back as the int 0's +0.0
        fits = (tops / _CANDIDATES).view(np.int64) == sample.view(np.int64)[:, None]
    hits = np.count_nonzero(fits, axis=0)
    best = int(np.argmax(hits))
    if not hits[best]:
        return None
    table = [best + 1]
    left = ~fits[:, best]
    while left.any() and len(table) < DENOMINATORS:
        hits = np.count_nonzero(fits[left], axis=0)
        best = int(np.argmax(hits))
        if not hits[best]:
            break
        table.append(best + 1)
        left &= ~fits[:, best]
    if np.count_nonzero(left) * 2 > len(sample):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        tops = np.rint(values * table[0])
        tops += 0.0
        exact = (tops / table[0]).view(np.int64) == flat
        exact &= candidates
        numerators = np.where(exact, tops, 0.0).astype(np.int64)
        codes = exact.view(np.uint8).copy()
        pending = np.flatnonzero(candidates & ~exact)
        for code, denominator in enumerate(table[1:], 2):
            if not len(pending):
                break
            tops = np.rint(values[pending] * denominator)
            tops += 0.0
            exact = (tops / denominator).view(np.int64) == flat[pending]
            taken = pending[exact]
            numerators[taken] = tops[exact]
            codes[taken] = code
            pending = pending[~exact]
    codes[zeros] = 1
    shape = bits.shape
    return numerators.reshape(shape), codes.reshape(shape), table


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
