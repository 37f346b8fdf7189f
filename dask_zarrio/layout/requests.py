"""Counting the objects tasks fetch: pure functions on lengths per axis, no I/O.

A task that writes (or reads) a *block* fetches every stored chunk its block
overlaps; summed over the tasks, that is the number of GET requests of a pass.
Blocks and chunks are given as lengths along each axis (dask's ``chunks`` form),
so irregular blocks (a dask array's) and rectilinear grids count alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

__all__ = ["overlaps", "owning_blocks", "region_requests", "regular_lengths", "size_text"]

Lengths = Sequence[Sequence[int]]


def regular_lengths(shape: Sequence[int], size: Sequence[int | Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """The lengths of ``size`` pieces along each axis of ``shape``, the last one cut short
    (an axis given as lengths already stays as it is).

    Examples
    --------
    >>> regular_lengths((10, 4), (4, 4)), regular_lengths((10,), ((3, 7),))
    (((4, 4, 2), (4,)), ((3, 7),))
    """
    return tuple(tuple(s) if not isinstance(s, int) else (s,) * (n // s) + ((n % s,) if n % s else ())
                 for n, s in zip(shape, size))


def _starts(lengths: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.asarray(lengths, dtype=np.int64)
    stops = np.cumsum(sizes)
    return stops - sizes, stops


def overlaps(blocks: Lengths, chunks: Lengths) -> int:
    """(block, chunk) pairs that overlap: the chunks each task of ``blocks`` fetches, summed.

    Examples
    --------
    >>> overlaps(((5, 5),), ((4, 4, 2),))  # [0, 5) and [5, 10) touch chunks 0-1 and 1-2
    4
    >>> overlaps(((10,), (3,)), ((1,) * 10, (3,)))
    10
    """
    total = 1
    for b, c in zip(blocks, chunks):
        lo, hi = _starts([n for n in b if n > 0])
        stops = _starts(c)[1]
        first = np.searchsorted(stops, lo, side="right")
        last = np.searchsorted(stops, hi - 1, side="right")
        total *= int((last - first + 1).sum())
    return total


def owning_blocks(blocks: Lengths, chunks: Lengths) -> int:
    """Blocks that hold at least one chunk whole (no other block reads it).

    Examples
    --------
    >>> owning_blocks(((4,), (3, 3)), ((4,), (1,) * 6)), owning_blocks(((2, 2),), ((3, 1),))
    (2, 1)
    """
    return prod(_axis_owners(b, c) for b, c in zip(blocks, chunks))


def _axis_owners(blocks: Sequence[int], chunks: Sequence[int]) -> int:
    lo, hi = _starts(blocks)
    starts, stops = _starts(chunks)
    # a block holds a chunk along this axis when one starts and stops inside it
    first = np.searchsorted(starts, lo, side="left")
    last = np.searchsorted(stops, hi, side="right")
    return int((last > first).sum())


def region_requests(units: Lengths, region: Sequence[slice]) -> tuple[int, int]:
    """GETs and PUTs of writing ``region`` of an array stored in ``units`` (lengths per axis):
    every unit it touches is stored (an upper bound: units equal to the fill value are not),
    and every one it cuts is read first, to be merged.

    Examples
    --------
    >>> region_requests(((4, 4, 2),), (slice(2, 10),))  # [0, 4) is cut; [4, 8) and [8, 10) are whole
    (1, 3)
    """
    touched = whole = 1
    for lengths, r in zip(units, region):
        starts, stops = _starts(lengths)
        hit = (starts < r.stop) & (stops > r.start)
        touched *= int(hit.sum())
        whole *= int((hit & (starts >= r.start) & (stops <= r.stop)).sum())
    return touched - whole, touched


def size_text(n: int) -> str:
    """Bytes for people: ``"512 B"``, ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} TiB"  # pragma: no cover
