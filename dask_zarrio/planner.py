"""The chunk-alignment planner: dask blocks in, a write plan with one writer per unit out.

Pure functions on tuples, no I/O. A *unit* is what one store object holds: the
chunk, or the shard for sharded arrays. Two tasks writing the same unit would race
(the last one wins and the other's data is lost: dask/dask#12583, xarray#8371), so
the plan moves every dask block boundary that falls inside a unit to the nearest
unit boundary. Only the region's own edges may cut a unit; the one block that
holds such a boundary unit reads it back, merges and rewrites it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import product
from math import prod

__all__ = ["WritePlan", "misalignments", "partial_units", "plan_axis", "plan_write", "units_of"]

Chunks = tuple[tuple[int, ...], ...]


def _bounds_to_sizes(bounds: set[int], n: int) -> tuple[int, ...]:
    edges = sorted({0, n} | {b for b in bounds if 0 < b < n})
    return tuple(b - a for a, b in zip(edges, edges[1:])) or (n,)


def plan_axis(sizes: Sequence[int], unit: int, offset: int = 0) -> tuple[int, ...]:
    """Move each boundary of ``sizes`` that falls inside a unit to the nearest unit boundary.

    Positions are relative to the region start, which lies at ``offset`` in the
    array. Aligned boundaries are kept; a tie moves down (merge into the block before).

    Examples
    --------
    >>> plan_axis((25,) * 8, 40)
    (40, 40, 40, 40, 40)
    >>> plan_axis((10, 10, 10), 4, offset=2)
    (10, 8, 12)
    >>> plan_axis((3, 3), 10)
    (6,)
    """
    n = sum(sizes)
    bounds: set[int] = set()
    pos = 0
    for size in sizes[:-1]:
        pos += size
        off = (offset + pos) % unit
        if off == 0:
            bounds.add(pos)
            continue
        down, up = pos - off, pos - off + unit
        bounds.add(down if pos - down <= up - pos else up)
    return _bounds_to_sizes(bounds, n)


def _interior_unit_bounds(start: int, stop: int, unit: int, offset: int) -> list[int]:
    """Unit boundaries strictly inside [start, stop) (region-relative positions)."""
    first = start + (-(offset + start)) % unit
    if first == start:
        first += unit
    return list(range(first, stop, unit))


def _split_largest(sizes: tuple[int, ...], unit: int, offset: int) -> tuple[int, ...] | None:
    """Split every largest block of ``sizes`` at the unit boundary nearest its middle."""
    largest = max(sizes)
    out: list[int] = []
    pos, changed = 0, False
    for size in sizes:
        inner = _interior_unit_bounds(pos, pos + size, unit, offset) if size == largest else []
        if inner:
            middle = pos + size / 2
            cut = min(inner, key=lambda b: abs(b - middle))
            out += [cut - pos, pos + size - cut]
            changed = True
        else:
            out.append(size)
        pos += size
    return tuple(out) if changed else None


def plan_write(
    dask_chunks: Chunks,
    unit: Sequence[int],
    itemsize: int,
    *,
    offset: Sequence[int] | None = None,
    max_task_bytes: int | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Dask chunks (region-relative) in which no unit boundary is crossed by a block edge.

    Parameters
    ----------
    dask_chunks
        The chunks of the data to write, in dask's form.
    unit
        The write unit: the chunk shape, or the shard shape for sharded arrays.
    itemsize
        Bytes per element, for the memory cap.
    offset
        Where the region starts in the array (zeros for a whole-array write).
    max_task_bytes
        Cap on one block's bytes; a block over it is split at unit boundaries, as far
        as units allow (a single unit larger than the cap stays whole).

    Examples
    --------
    >>> plan_write(((25,) * 16, (25,) * 16), (40, 40), 8)
    ((40, 40, 40, 40, 40, 40, 40, 40, 40, 40), (40, 40, 40, 40, 40, 40, 40, 40, 40, 40))
    >>> plan_write(((100,),), (10,), 1, max_task_bytes=30)
    ((20, 30, 20, 30),)
    """
    offset = tuple(offset) if offset is not None else (0,) * len(dask_chunks)
    planned = [plan_axis(c, u, o) for c, u, o in zip(dask_chunks, unit, offset)]
    if max_task_bytes is None:
        return tuple(planned)
    while prod(max(c) for c in planned) * itemsize > max_task_bytes:
        # Split along the axis whose largest block spans the most units.
        best, best_span = None, 0.0
        for axis, (sizes, u) in enumerate(zip(planned, unit)):
            span = max(sizes) / u
            if span > best_span and _split_largest(sizes, u, offset[axis]) is not None:
                best, best_span = axis, span
        if best is None:
            break  # every largest block is one unit: the cap cannot be met
        split = _split_largest(planned[best], unit[best], offset[best])
        assert split is not None
        planned[best] = split
    return tuple(planned)


def misalignments(dask_chunks: Chunks, unit: Sequence[int], offset: Sequence[int] | None = None) -> Iterator[tuple[int, int]]:
    """(axis, absolute position) of each dask block boundary that falls inside a unit.

    Examples
    --------
    >>> list(misalignments(((4, 4, 2), (3, 3)), (4, 2)))
    [(1, 3)]
    """
    offset = tuple(offset) if offset is not None else (0,) * len(dask_chunks)
    for axis, (sizes, u, o) in enumerate(zip(dask_chunks, unit, offset)):
        pos = o
        for size in sizes[:-1]:
            pos += size
            if pos % u:
                yield axis, pos


def units_of(region: Sequence[slice], unit: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Grid indices of the units that intersect ``region`` (absolute slices)."""
    return product(*(range(r.start // u, -(-r.stop // u)) for r, u in zip(region, unit)))


def partial_units(
    block: Sequence[slice], target: Sequence[slice], unit: Sequence[int], shape: Sequence[int]
) -> list[tuple[int, ...]]:
    """Units of ``block`` that the write ``target`` covers only in part: read, merge, rewrite.

    A unit counts as covered where it lies inside the array; the padding of edge
    chunks beyond the array's end is not data.

    Examples
    --------
    >>> partial_units((slice(2, 10),), (slice(2, 10),), (4,), (10,))
    [(0,)]
    >>> partial_units((slice(0, 8),), (slice(0, 8),), (4,), (8,))
    []
    """
    out = []
    for index in units_of(block, unit):
        for i, t, u, n in zip(index, target, unit, shape):
            lo, hi = i * u, min((i + 1) * u, n)
            if lo < t.start or hi > t.stop:
                out.append(tuple(index))
                break
    return out


@dataclass(frozen=True)
class WritePlan:
    """A planned write: blocks (region-relative chunks) placed at ``offset`` in an array.

    Built by :func:`plan_write`; used by tests and tools to inspect ownership.

    Examples
    --------
    >>> p = WritePlan(((4, 4),), (4,), (0,), (8,))
    >>> p.owners()
    {(0,): (0,), (1,): (1,)}
    """

    chunks: Chunks
    unit: tuple[int, ...]
    offset: tuple[int, ...]
    shape: tuple[int, ...]

    def block_regions(self) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...]]]:
        """Each block's index and absolute region."""
        starts = []
        for sizes, o in zip(self.chunks, self.offset):
            pos, axis_starts = o, []
            for s in sizes:
                axis_starts.append((pos, pos + s))
                pos += s
            starts.append(axis_starts)
        for index in product(*(range(len(c)) for c in self.chunks)):
            yield index, tuple(slice(*starts[a][i]) for a, i in enumerate(index))

    def owners(self) -> dict[tuple[int, ...], tuple[int, ...]]:
        """unit index -> the one block that writes it; raises if a unit has two writers."""
        owner: dict[tuple[int, ...], tuple[int, ...]] = {}
        for index, region in self.block_regions():
            if any(r.stop == r.start for r in region):
                continue
            for u in units_of(region, self.unit):
                if u in owner:
                    raise AssertionError(f"unit {u} written by blocks {owner[u]} and {index}")
                owner[u] = index
        return owner
