"""The chunk grid: which stored chunks cover which part of the array, and their keys.

A grid is regular (one chunk length per axis) or rectilinear (explicit chunk edge
lengths along some axes). Each axis is described by a *unit*: an ``int`` (a
regular step) or :class:`Edges`. The functions below answer every question the
planner and the tasks ask about an axis in O(log chunks), whatever the unit.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, product

__all__ = [
    "AxisUnit", "ChunkGrid", "ChunkKeyEncoding", "Edges", "axis_chunk_sizes", "chunks_in", "covers",
    "floor_bound", "is_bound", "next_bound", "overlap", "typical_size",
]


@dataclass(frozen=True)
class Edges:
    """Explicit chunk edge lengths along one axis of a rectilinear grid.

    Examples
    --------
    >>> e = Edges((3, 5, 2))
    >>> e.bounds, e.index(7), e.start(2), e.stop(2)
    ((0, 3, 8, 10), 1, 8, 10)
    """

    sizes: tuple[int, ...]
    #: Cumulative chunk starts and the end of the last chunk, for O(log n) look-ups.
    bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", (0, *accumulate(self.sizes)))

    def index(self, pos: int) -> int:
        """The chunk holding position ``pos`` (``len(sizes)`` at or past the end)."""
        return bisect_right(self.bounds, pos) - 1

    def start(self, i: int) -> int:
        """Where chunk ``i`` starts."""
        return self.bounds[min(i, len(self.sizes))]

    def stop(self, i: int) -> int:
        """Where chunk ``i`` ends (unclipped)."""
        return self.bounds[min(i + 1, len(self.sizes))]


#: One axis of a grid: a regular step, or explicit edge lengths.
AxisUnit = int | Edges


def _index(u: AxisUnit, pos: int) -> int:
    return pos // u if isinstance(u, int) else u.index(pos)


def floor_bound(u: AxisUnit, pos: int) -> int:
    """The start of the chunk holding ``pos``.

    Examples
    --------
    >>> floor_bound(4, 7), floor_bound(Edges((3, 5, 2)), 7)
    (4, 3)
    """
    return pos // u * u if isinstance(u, int) else u.start(u.index(pos))


def next_bound(u: AxisUnit, pos: int) -> int:
    """The first chunk boundary after ``pos`` (past the last explicit edge: its end).

    Examples
    --------
    >>> next_bound(4, 7), next_bound(Edges((3, 5, 2)), 3)
    (8, 8)
    """
    if isinstance(u, int):
        return (pos // u + 1) * u
    return u.stop(u.index(pos))


def is_bound(u: AxisUnit, pos: int) -> bool:
    """Whether a chunk boundary lies at ``pos``.

    Examples
    --------
    >>> is_bound(4, 8), is_bound(Edges((3, 5, 2)), 8), is_bound(Edges((3, 5, 2)), 4)
    (True, True, False)
    """
    return pos % u == 0 if isinstance(u, int) else floor_bound(u, pos) == pos


def bounds_between(u: AxisUnit, lo: int, hi: int) -> list[int]:
    """The chunk boundaries strictly between ``lo`` and ``hi``.

    Examples
    --------
    >>> bounds_between(4, 4, 13), bounds_between(Edges((3, 5, 2)), 0, 10)
    ([8, 12], [3, 8])
    """
    if isinstance(u, int):
        return list(range(lo // u * u + u, hi, u))
    return list(u.bounds[bisect_right(u.bounds, lo) : bisect_left(u.bounds, hi)])


def typical_size(u: AxisUnit) -> int:
    """The largest chunk length along an axis (the memory a chunk of it may need)."""
    return u if isinstance(u, int) else max(u.sizes)


def axis_chunk_sizes(u: AxisUnit, n: int) -> tuple[int, ...]:
    """The chunks along an axis of length ``n`` in dask's form (the last one clipped).

    Examples
    --------
    >>> axis_chunk_sizes(4, 10), axis_chunk_sizes(Edges((3, 5, 4)), 10), axis_chunk_sizes(4, 0)
    ((4, 4, 2), (3, 5, 2), (0,))
    """
    if n == 0:
        return (0,)
    if isinstance(u, int):
        return (u,) * (n // u) + ((n % u,) if n % u else ())
    count = bisect_left(u.bounds, n)
    return u.sizes[: count - 1] + (n - u.bounds[count - 1],)


@dataclass(frozen=True)
class ChunkKeyEncoding:
    """How a chunk's grid index becomes a store key.

    ``prefix="c"`` is Zarr v3's ``default`` encoding (``c/1/0``); ``prefix=None`` is
    the v2 style (``1.0``), used by v2 arrays and by v3's ``v2`` encoding.

    Examples
    --------
    >>> ChunkKeyEncoding("c", "/").key((1, 0))
    'c/1/0'
    >>> ChunkKeyEncoding(None, ".").key(())
    '0'
    """

    prefix: str | None
    separator: str

    def key(self, index: tuple[int, ...]) -> str:
        """The store key of the chunk at grid ``index``."""
        if not index:
            return self.prefix or "0"
        joined = self.separator.join(map(str, index))
        return f"{self.prefix}{self.separator}{joined}" if self.prefix else joined

    def to_json(self) -> dict[str, object]:
        """The v3 ``chunk_key_encoding`` field."""
        name = "default" if self.prefix else "v2"
        return {"name": name, "configuration": {"separator": self.separator}}


@dataclass(frozen=True)
class ChunkGrid:
    """A grid of chunks over ``shape``; edge chunks are clipped to the array.

    ``chunk_shape`` is the regular chunk shape, or, for a rectilinear grid
    (``units`` given), the largest chunk along each axis.

    Examples
    --------
    >>> g = ChunkGrid((10, 7), (4, 3))
    >>> g.grid_shape
    (3, 3)
    >>> g.chunk_region((2, 2))
    (slice(8, 10, None), slice(6, 7, None))
    >>> r = ChunkGrid.from_units((10, 7), (Edges((3, 5, 2)), 3))
    >>> r.grid_shape, r.chunk_region((1, 2)), r.chunk_shape_at((1, 2))
    ((3, 3), (slice(3, 8, None), slice(6, 7, None)), (5, 3))
    """

    shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]
    #: Per-axis units of a rectilinear grid; ``None`` for a regular grid.
    edges: tuple[AxisUnit, ...] | None = None

    @classmethod
    def from_units(cls, shape: tuple[int, ...], units: Sequence[AxisUnit]) -> ChunkGrid:
        """A grid with one unit per axis (regular when every unit is an ``int``)."""
        units = tuple(units)
        chunk_shape = tuple(typical_size(u) for u in units)
        if all(isinstance(u, int) for u in units):
            return cls(tuple(shape), chunk_shape)
        return cls(tuple(shape), chunk_shape, units)

    @property
    def is_regular(self) -> bool:
        """Whether every chunk has ``chunk_shape``."""
        return self.edges is None

    @property
    def units(self) -> tuple[AxisUnit, ...]:
        """One unit per axis: what the planner aligns to."""
        return self.chunk_shape if self.edges is None else self.edges

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of chunks along each axis (chunks past the array's end not counted)."""
        return tuple(
            -(-s // u) if isinstance(u, int) else bisect_left(u.bounds, s)
            for s, u in zip(self.shape, self.units)
        )

    @property
    def nchunks(self) -> int:
        """Total number of chunks."""
        n = 1
        for g in self.grid_shape:
            n *= g
        return n

    def chunk_region(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """The array region covered by chunk ``index``, clipped at the array's edge."""
        return tuple(
            slice(i * u, min((i + 1) * u, s)) if isinstance(u, int) else slice(u.start(i), min(u.stop(i), s))
            for i, u, s in zip(index, self.units, self.shape)
        )

    def chunk_shape_at(self, index: tuple[int, ...]) -> tuple[int, ...]:
        """The stored shape of chunk ``index`` (edge chunks are stored full size)."""
        if self.edges is None:
            return self.chunk_shape
        return tuple(u if isinstance(u, int) else u.sizes[i] for i, u in zip(index, self.edges))

    def chunks_in(self, region: Sequence[slice]) -> Iterator[tuple[int, ...]]:
        """Grid indices of every chunk that intersects ``region`` (slices with step 1)."""
        return chunks_in(region, self.units)

    def axis_chunks(self) -> tuple[tuple[int, ...], ...]:
        """The stored chunks in dask's form: one block per chunk."""
        return tuple(axis_chunk_sizes(u, n) for u, n in zip(self.units, self.shape))

    def read_units(self, inner: tuple[int, ...] | None) -> tuple[AxisUnit, ...]:
        """What a read task can decode alone: the chunks, or (``inner`` given) each shard's inner chunks.

        Examples
        --------
        >>> ChunkGrid.from_units((12, 8), (8, Edges((4, 8)))).read_units((2, 4))
        (2, Edges(sizes=(4, 4, 4)))
        """
        if inner is None:
            return self.units
        return tuple(
            i if isinstance(u, int) else Edges(tuple(i for e in u.sizes for _ in range(e // i)))
            for u, i in zip(self.units, inner)
        )


def chunks_in(region: Sequence[slice], units: Sequence[AxisUnit]) -> Iterator[tuple[int, ...]]:
    """Grid indices of the chunks of ``units`` that intersect ``region`` (absolute slices).

    Examples
    --------
    >>> list(chunks_in((slice(3, 9),), (4,)))
    [(0,), (1,), (2,)]
    >>> list(chunks_in((slice(3, 3),), (4,)))  # an empty region touches no chunk
    []
    >>> list(chunks_in((slice(2, 4),), (Edges((3, 5, 2)),)))
    [(0,), (1,)]
    """
    # An empty block must not claim the chunk its position falls in: a region write
    # would read, merge and rewrite it, a second writer next to the block that owns it.
    return product(*(
        range(_index(u, r.start), _index(u, r.stop - 1) + 1) if r.stop > r.start else range(0)
        for r, u in zip(region, units)
    ))


def covers(outer: Sequence[slice], inner: Sequence[slice]) -> bool:
    """Whether ``outer`` holds all of ``inner``: the one "does this region cut this unit" test.

    Examples
    --------
    >>> covers((slice(0, 10),), (slice(4, 8),)), covers((slice(5, 10),), (slice(4, 8),))
    (True, False)
    """
    return all(o.start <= i.start and i.stop <= o.stop for o, i in zip(outer, inner))


def overlap(part: Sequence[slice], region: Sequence[slice]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Where ``part`` and ``region`` (same coordinates) meet: slices into each of them.

    Examples
    --------
    >>> overlap((slice(4, 8),), (slice(6, 10),))
    ((slice(2, 4, None),), (slice(0, 2, None),))
    """
    src, dst = [], []
    for p, r in zip(part, region):
        lo, hi = max(p.start, r.start), min(p.stop, r.stop)
        src.append(slice(lo - p.start, hi - p.start))
        dst.append(slice(lo - r.start, hi - r.start))
    return tuple(src), tuple(dst)
