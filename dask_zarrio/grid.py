"""The chunk grid: which stored chunks cover which part of the array, and their keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import product

__all__ = ["ChunkGrid", "ChunkKeyEncoding", "chunks_in", "covers", "overlap"]


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
    """A regular grid of ``chunk_shape`` over ``shape``; edge chunks are clipped.

    Examples
    --------
    >>> g = ChunkGrid((10, 7), (4, 3))
    >>> g.grid_shape
    (3, 3)
    >>> g.chunk_region((2, 2))
    (slice(8, 10, None), slice(6, 7, None))
    """

    shape: tuple[int, ...]
    chunk_shape: tuple[int, ...]

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunk_shape))

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
            slice(i * c, min((i + 1) * c, s))
            for i, c, s in zip(index, self.chunk_shape, self.shape)
        )

    def chunks_in(self, region: Sequence[slice]) -> Iterator[tuple[int, ...]]:
        """Grid indices of every chunk that intersects ``region`` (slices with step 1)."""
        return chunks_in(region, self.chunk_shape)


def chunks_in(region: Sequence[slice], chunk_shape: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Grid indices of the chunks of ``chunk_shape`` that intersect ``region`` (absolute slices).

    Examples
    --------
    >>> list(chunks_in((slice(3, 9),), (4,)))
    [(0,), (1,), (2,)]
    >>> list(chunks_in((slice(3, 3),), (4,)))  # an empty region touches no chunk
    []
    """
    # An empty block must not claim the chunk its position falls in: a region write
    # would read, merge and rewrite it, a second writer next to the block that owns it.
    return product(*(
        range(r.start // c, -(-r.stop // c)) if r.stop > r.start else range(0)
        for r, c in zip(region, chunk_shape)
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
