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

Ints (and the numerators below) are coded by the order of differences that suits their column, chosen once per
column's block on a sample of its rows (:func:`order_of`): steps for counters with random increments, the steps'
steps for smooth series (a counter at a steady rate, a slowly moving gauge: its steps barely change, as the
simulator's counters and memory gauges do), the values themselves for float rates of random steps. Measured
(bench/README.md, session 10, storemem6): the simulator's sealed chunks 17% smaller, the same bytes on
``store_bench.py``'s random steps, ~the same encode CPU.

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
blosc.set_blocksize(ROW_GROUP * 8 * 8)
"""One Blosc block per chunk (zstd sees all of its planes: ~1% fewer bytes than the 32 KiB Blosc picks at level 1,
for no more CPU; bench/README.md, session 10, storemem6)."""
blosc.compress(b"", typesize=8, clevel=LEVEL, shuffle=blosc.BITSHUFFLE, cname="zstd")  # the arguments, checked once
_blosc_compress = blosc.blosc_extension.compress
"""Blosc's compressor without ``blosc.compress``'s checks of its arguments on every call (they parse the C
library's version string twice for BITSHUFFLE: about 20 us of a chunk's ~150 us encode; bench/README.md, session
9, helper pipecpu5). A chunk (64 KiB) is far under Blosc's maximum buffer size."""


_CHUNK_HEADER = struct.Struct("<HBB")
"""A chunk's rows, width and flags (bit 0: floats, bit 1: kept as ratios, bits 2-3: the order of differences)."""


class Chunk(bytes):
    """``rows x width`` cells of int64 (or float64) compressed; decoded by :func:`decode` (cached).

    A chunk is its bytes: a 4-byte header (rows, width, flags) then the compressed blob, and no other Python object:
    a chunk with attributes held ~97 bytes beside its blob (its slots, its row count's int, a collector's header),
    ~1.7 MiB in the ~18,000 chunks of a full store at 1000 nodes (bench/README.md, session 12, storemem8)."""

    __slots__ = ()

    def __new__(cls, blob: bytes, rows: int, width: int, is_float: bool, ratio: bool = False,
                order: int = 1) -> Chunk:
        flags = int(is_float) | int(ratio) << 1 | order << 2
        return super().__new__(cls, b"".join((_CHUNK_HEADER.pack(rows, width, flags), blob)))

    def __reduce__(self) -> tuple[type[Chunk], tuple[bytes, int, int, bool, bool, int]]:
        return Chunk, (bytes(self.blob), self.rows, self.width, self.is_float, self.ratio, self.order)

    @property
    def blob(self) -> memoryview:
        """The compressed cells."""
        return memoryview(self)[_CHUNK_HEADER.size:]

    @property
    def rows(self) -> int:
        rows: int = _CHUNK_HEADER.unpack_from(self)[0]
        return rows

    @property
    def width(self) -> int:
        return self[2]

    @property
    def is_float(self) -> bool:
        return bool(self[3] & 1)

    @property
    def ratio(self) -> bool:
        """Float cells kept as numerators, denominators and exceptions (see the module's docstring)."""
        return bool(self[3] & 2)

    @property
    def order(self) -> int:
        """Differences taken along time of the ints (or numerators): 0, 1 (steps) or 2 (steps of the steps)."""
        return self[3] >> 2

    @property
    def nbytes(self) -> int:
        return len(self)


MAX_DENOMINATOR = 128
"""Largest denominator looked for (a rate's seconds: resolutions up to two minutes)."""
DENOMINATORS = 4
"""Denominators per chunk at most (a scrape a second early or late, one missed)."""
SAMPLE = 32
"""Cells of a float chunk on which its denominators are chosen."""
_CANDIDATES = np.arange(1, MAX_DENOMINATOR + 1, dtype=np.float64)
_SMALL = float(2 ** 62) / MAX_DENOMINATOR


def encode(cells: npt.NDArray[np.generic], order: int | None = None) -> Chunk:
    """Compress a ``rows x width`` int64 or float64 matrix, its ints (or a float chunk's numerators) coded along
    time by ``order`` differences (default: :func:`order_of` ``cells``)."""
    if order is None:
        order = order_of(cells)
    is_float = cells.dtype.kind == "f"
    bits = np.ascontiguousarray(cells).view(np.int64)
    rows, width = cells.shape
    if is_float:
        parts = _ratios(bits)
        if parts is not None:
            numerators, codes, table = parts
            return Chunk(_ratio_blob(bits, numerators, codes, table, order), rows, width, True, True, order)
        return Chunk(_compress(_xor(bits).T), rows, width, True)
    return Chunk(_compress(_steps(bits.T, max(order, 1))), rows, width, False, order=max(order, 1))


@lru_cache(maxsize=CACHE)
def decode(chunk: Chunk) -> npt.NDArray[np.generic]:
    """The matrix of ``chunk`` (read-only: it is shared by the cache)."""
    rows, width = chunk.rows, chunk.width
    cells: npt.NDArray[np.generic]
    if chunk.ratio:
        cells = _ratio_cells(chunk.blob, rows, width, chunk.order)
    else:
        coded = np.frombuffer(blosc.decompress(chunk.blob), dtype=np.int64).reshape(width, rows)
        if chunk.is_float:
            cells = _unxor(coded.T.copy()).view(np.float64)
        else:
            cells = _unsteps(coded.copy(), chunk.order).T.copy()
    cells.flags.writeable = False
    return cells


_HEADER = struct.Struct("<III")


def _ratio_blob(bits: npt.NDArray[np.int64], numerators: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8],
                table: list[int], order: int) -> bytes:
    """Numerators (``order`` differences along time, zigzag, bit planes, time-major), denominator codes (one byte
    a cell, row-major: 0 for an exception, else 1 + the index in ``table``; left out when every cell has the one
    denominator), the table, and the exceptions' bits in row-major order."""
    numerators_blob = _compress(_steps(numerators.T, order, first=True))
    codes_blob = b"" if len(table) == 1 and codes.all() else _blosc_compress(
        np.ascontiguousarray(codes).tobytes(), 1, LEVEL, blosc.NOSHUFFLE, "zstd")
    table_bytes = np.asarray(table, dtype=np.int64).tobytes()
    exceptions = bits[codes == 0]
    exceptions_blob = _blosc_compress(exceptions.tobytes(), 8, LEVEL, blosc.SHUFFLE, "zstd") if len(exceptions) else b""
    header = _HEADER.pack(len(numerators_blob), len(codes_blob), len(table_bytes))
    return b"".join((header, numerators_blob, codes_blob, table_bytes, exceptions_blob))


def _ratio_cells(blob: memoryview, rows: int, width: int, order: int) -> npt.NDArray[np.float64]:
    """Undo :func:`_ratio_blob`."""
    view = memoryview(blob)
    numerators_size, codes_size, table_size = _HEADER.unpack_from(view)
    at = _HEADER.size
    numerators = _unsteps(np.frombuffer(blosc.decompress(view[at: at + numerators_size]), dtype=np.int64)
                          .reshape(width, rows).copy(), order, first=True).T.copy()
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
    low = coded & 1
    np.negative(low, out=low)
    unsigned = coded.view(np.uint64)
    unsigned >>= np.uint64(1)
    coded ^= low
    return coded


def _steps(columns: npt.NDArray[np.int64], order: int, first: bool = False) -> npt.NDArray[np.int64]:
    """Time-major cells (``width x rows``) coded along time: each row's first value, then (order 1) its steps, or
    (order 2) its first step then the steps' steps, wrapping (order 0: the values); zigzagged (the first values
    too with ``first``) so small negative ones stay small. Time-major, the differences run along whole rows of
    cells (numpy's inner loops ``rows`` long, not ``width``)."""
    coded = np.array(columns, dtype=np.int64, order="C")
    if order:
        steps = coded[1:] - coded[:-1]
        if order == 2:
            steps[1:] -= steps[:-1].copy()
        coded[1:] = steps
    part = coded if first else coded[1:]
    part[:] = _zigzag(part)
    return coded


def _unsteps(coded: npt.NDArray[np.int64], order: int, first: bool = False) -> npt.NDArray[np.int64]:
    """Undo :func:`_steps` in place (time-major)."""
    _unzigzag(coded if first else coded[1:])
    if order == 2:
        _running_sums(coded[1:])  # the steps
    if order:
        _running_sums(coded)
    return coded


def _running_sums(coded: npt.NDArray[np.int64]) -> None:
    """Running sums along time, in place, one time slot after the other (numpy's cumsum along axis 0 took ~5x
    longer on a chunk)."""
    for slot in range(1, len(coded)):
        coded[slot] += coded[slot - 1]


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
    fits = _fits(sample)
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


NAN_BITS = int(np.array(np.nan).view(np.int64))
"""The bits of a missing float cell."""


def _fits(sample: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which of the ``sample`` values (rows) are exact ratios to which denominator up to :data:`MAX_DENOMINATOR`
    (columns)."""
    with np.errstate(over="ignore", invalid="ignore"):
        tops = np.rint(sample[:, None] * _CANDIDATES)
        tops += 0.0  # -0.0 would come back as the int 0's +0.0
        fits: npt.NDArray[np.bool_] = (tops / _CANDIDATES).view(np.int64) == sample.view(np.int64)[:, None]
    return fits


HEAD_SAMPLE = 256
"""Float cells of a head slot looked at (spread evenly) to choose its denominator."""
_INT32 = float(2 ** 31)


def ratio_cells(bits: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], int]:
    """Float cells (their bits, one slot) as exact ratios to one denominator, the one most of a sample of them fit
    (:func:`_ratios`' first; 1 if none fits): the numerators (anything where none), and which cells are such
    ratios with a numerator under 2^31 in magnitude (+0.0 is ``0 / d``; -0.0, NaN and infinities are none)."""
    values = bits.view(np.float64)
    sample = values[:: max(1, len(values) // HEAD_SAMPLE)]
    with np.errstate(invalid="ignore"):
        sample = sample[(np.abs(sample) < _SMALL) & (sample != 0)][:SAMPLE]
    denominator = 1
    if len(sample):
        hits = np.count_nonzero(_fits(sample), axis=0)
        denominator = int(np.argmax(hits)) + 1
    with np.errstate(over="ignore", invalid="ignore"):
        tops = values * denominator
        np.rint(tops, out=tops)
        tops += 0.0
        exact = (tops / denominator).view(np.int64) == bits
        exact &= np.abs(tops) < _INT32
        numerators = tops.astype(np.int64)
    return numerators, exact, denominator


ORDER_SAMPLE = 64
"""One row in this many is looked at to choose a column's order of differences."""
_RATIO_SCALE = 16.0
"""Float cells are scaled by about their denominator before their sizes are compared."""


def order_of(cells: npt.NDArray[np.generic]) -> int:
    """The order of differences along time (ints: 1 or 2; floats, for their numerators: 0 to 2) whose coded cells
    look smallest on one row in :data:`ORDER_SAMPLE`: steps for a counter with random increments, the steps' steps
    for a smooth one (a counter at a steady rate, a slowly moving gauge: about a fifth fewer bytes than steps
    alone), the values for a float rate of random steps. Chosen once per column's block (bench/README.md, session
    10, storemem6: as small as choosing per chunk on the simulator's values, for a fraction of its CPU)."""
    return order_of_sample(cells[::ORDER_SAMPLE])


def order_of_sample(sampled: npt.NDArray[np.generic]) -> int:
    """:func:`order_of` from its sample of rows already taken (one row in :data:`ORDER_SAMPLE`, from the first)."""
    is_float = sampled.dtype.kind == "f"
    sample = sampled.T.astype(np.float64)
    if is_float:
        with np.errstate(over="ignore", invalid="ignore"):
            sample = np.nan_to_num(sample * _RATIO_SCALE, nan=0.0, posinf=0.0, neginf=0.0)
    steps = sample[1:] - sample[:-1]
    sizes = [_size(steps[1:]), _size(steps[1:] - steps[:-1])]
    if is_float:
        sizes.insert(0, _size(sample[2:]))
    return (0 if is_float else 1) + sizes.index(min(sizes))


def _size(values: npt.NDArray[np.float64]) -> float:
    """About the bits a coded cell takes: those of the median magnitude (robust to a restart or a missing cell, and
    unlike a mean of bit lengths it does not favour a spread shape over a flat one), plus the entropy of the signs
    (a counter's steps are never negative: their zigzag's low bit is free)."""
    if not values.size:
        return 0.0
    scale = float(np.log2(np.median(np.abs(values)) + 1.0))
    negative = np.count_nonzero(values < 0) / values.size
    if 0.0 < negative < 1.0:
        scale -= negative * np.log2(negative) + (1 - negative) * np.log2(1 - negative)
    return scale


def encode_rows(cells: npt.NDArray[np.generic], order: int | None = None) -> list[Chunk]:
    """Chunks of ``ROW_GROUP`` rows each (their ints coded by ``order`` differences, default :func:`order_of`)."""
    if order is None:
        order = order_of(cells)
    return [encode(cells[first: first + ROW_GROUP], order) for first in range(0, len(cells), ROW_GROUP)]


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
