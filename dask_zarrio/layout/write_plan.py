"""All layout maths: storage chunks, read blocks, regions and the chunk-alignment write plan.

Pure functions on tuples, no I/O. A *unit* is what one store object holds: the
chunk, or the shard for sharded arrays. Two tasks writing the same unit would race
(the last one wins and the other's data is lost: dask/dask#12583, xarray#8371), so
:func:`plan_write` moves every dask block boundary that falls inside a unit to the
nearest unit boundary. Only the region's own edges may cut a unit; the one block
that holds such a unit reads it back, merges and rewrites it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import prod

from ..errors import MisalignedWriteError, ZarrioError
from .grid import AxisUnit, bounds_between, covers, floor_bound, is_bound, next_bound, typical_size
from .reblock import reblock_cap

__all__ = [
    "MAX_BLOCKS_PER_AXIS", "MIN_READ_BLOCKS", "READ_BLOCK_BYTES", "WritePlan",
    "aligned_read_chunks", "append_region", "check_aligned", "default_chunk_shape",
    "default_inner_chunk_shape", "default_read_chunks", "grouped_unit", "misalignments",
    "normalize_region", "plan_axis", "plan_write",
]

Chunks = tuple[tuple[int, ...], ...]
Region = tuple[slice, ...]

#: Default read blocks group whole stored chunks (or shards) up to about this many
#: bytes: per-task scheduling cost is worth a few MiB of decoding, while much bigger
#: blocks no longer fit the caches (measurements in docs/performance.md).
READ_BLOCK_BYTES = 64 * 2**20
#: ...but grouping stops short of leaving fewer blocks than this, so a modest array
#: still spreads over the cores of a machine or a small cluster.
MIN_READ_BLOCKS = 16
#: Most read blocks along one axis: dask keeps a Python int per block per axis and
#: walks them when slicing, so 10**6 blocks cost about 8 MB and a second; more are refused.
MAX_BLOCKS_PER_AXIS = 10**6
#: Inner chunk size chosen for sharded arrays when ``chunks`` is not given.
INNER_CHUNK_BYTES = 1 << 20


# --- regions -----------------------------------------------------------------------


def normalize_region(region: object, shape: tuple[int, ...]) -> Region:
    """``region`` as absolute step-1 slices, one per axis; ``None`` is the whole array.

    Examples
    --------
    >>> normalize_region((slice(2, None),), (10, 4))
    (slice(2, 10, None), slice(0, 4, None))
    >>> normalize_region((slice(0, 20),), (10,))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: region[0]=slice(0, 20, None) lies outside ...
    """
    if region is None:
        return tuple(slice(0, n) for n in shape)
    parts = region if isinstance(region, tuple) else (region,)
    if len(parts) > len(shape):
        raise ZarrioError(f"region={region!r} has more entries than the array's {len(shape)} dimensions")
    out = []
    for axis, n in enumerate(shape):
        r = parts[axis] if axis < len(parts) else slice(None)
        if not isinstance(r, slice) or r.step not in (None, 1):
            raise ZarrioError(f"region[{axis}]={r!r} must be a slice with step 1, such as slice(0, 10)")
        start, stop, _ = r.indices(n)
        if (r.stop is not None and r.stop > n) or stop < start:
            raise ZarrioError(
                f"region[{axis}]={r!r} lies outside the array's shape {shape}; "
                "use mode='a' with append_dim= to grow the array"
            )
        out.append(slice(start, stop))
    return tuple(out)


def append_region(shape: tuple[int, ...], axis: int, added: int) -> tuple[tuple[int, ...], Region]:
    """The grown shape and the region the appended data goes to.

    Examples
    --------
    >>> append_region((10, 4), 0, 3)
    ((13, 4), (slice(10, 13, None), slice(0, 4, None)))
    """
    grown = tuple(n + added if a == axis else n for a, n in enumerate(shape))
    return grown, tuple(slice(shape[a], grown[a]) if a == axis else slice(0, n) for a, n in enumerate(grown))


# --- storage chunks ----------------------------------------------------------------


def default_chunk_shape(dask_chunks: Chunks, itemsize: int, max_bytes: int) -> tuple[int, ...]:
    """Storage chunks for a new array, chosen so that the usual dask layout needs no rechunk.

    The first dask block along each axis (regular dask chunks then align exactly),
    halved along its longest axis, by divisors of the block, while it exceeds
    ``max_bytes``, so that stored objects stay a sensible size.

    Examples
    --------
    >>> default_chunk_shape(((100, 100, 50), (30,)), 8, 2**20)
    (100, 30)
    >>> default_chunk_shape(((4096,), (4096,)), 8, 2**24)
    (1024, 2048)
    """
    shape = [max(c[0], 1) if c else 1 for c in dask_chunks]
    while prod(shape) * itemsize > max_bytes:
        axis = max(range(len(shape)), key=lambda a: shape[a])
        if shape[axis] < 2 or shape[axis] % 2:
            break
        shape[axis] //= 2
    return tuple(shape)


def default_inner_chunk_shape(shard_shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Inner chunks of about ``INNER_CHUNK_BYTES`` that divide ``shard_shape``.

    Examples
    --------
    >>> default_inner_chunk_shape((1024, 1024), 4)
    (512, 512)
    """
    return default_chunk_shape(tuple((s,) for s in shard_shape), itemsize, INNER_CHUNK_BYTES)


# --- read blocks -------------------------------------------------------------------


def grouped_unit(shape: tuple[int, ...], unit: tuple[int, ...], most: int) -> tuple[int, ...]:
    """``unit`` times the fewest chunks per axis that leave at most ``most`` blocks along it.

    Examples
    --------
    >>> grouped_unit((10**9, 10), (1, 1), 1000)
    (1000000, 1)
    """
    counts = (-(-n // u) for n, u in zip(shape, unit))
    return tuple(u * max(1, -(-c // most)) for c, u in zip(counts, unit))


def default_read_chunks(
    shape: tuple[int, ...], unit: tuple[int, ...], itemsize: int, *, one_unit_per_block: bool = False
) -> tuple[int, ...]:
    """Whole stored chunks (or shards) grouped into blocks of about ``READ_BLOCK_BYTES``.

    Chunks are grouped along the first axis first, so that each chunk's place in its
    block is one contiguous run of memory and it is decoded straight into the block;
    then along the next axes. At least ``MIN_READ_BLOCKS`` blocks remain where there
    are that many chunks. ``one_unit_per_block`` (object arrays) keeps one chunk per block.

    Examples
    --------
    >>> default_read_chunks((32768, 8192), (2048, 2048), 4)  # 16 MiB chunks: 4 per block
    (8192, 2048)
    >>> default_read_chunks((8192, 8192), (2048, 2048), 4)  # only 16 chunks: one per block
    (2048, 2048)
    >>> default_read_chunks((1000, 1000), (10, 1), 4)  # 100,000 tiny chunks: 17 blocks of 6,200
    (1000, 62)
    >>> default_read_chunks((10**9, 10**9), (1, 1), 1)  # 10**18 chunks: 10**5 blocks per axis
    (10000, 10000)
    """
    # An absurd grid (10**9 chunks along an axis) groups first so that each axis keeps
    # under a tenth of MAX_BLOCKS_PER_AXIS blocks, whatever that costs in block bytes.
    unit = grouped_unit(shape, unit, MAX_BLOCKS_PER_AXIS // 10)
    counts = tuple(-(-n // u) for n, u in zip(shape, unit))
    nunits = prod(counts)
    if one_unit_per_block or nunits <= MIN_READ_BLOCKS:
        return unit
    unit_bytes = max(1, prod(unit) * itemsize)
    per_block = max(1, min(READ_BLOCK_BYTES // unit_bytes, nunits // MIN_READ_BLOCKS))
    factors = []
    for count in counts:
        factor = max(1, min(count, per_block))
        factors.append(factor)
        per_block //= factor
    return tuple(c * f for c, f in zip(unit, factors))


def aligned_read_chunks(chunks: Chunks, unit: Sequence[AxisUnit], shape: tuple[int, ...]) -> Chunks:
    """Coarsen ``chunks`` so that every block boundary lies on a unit boundary.

    Each boundary that falls inside a unit moves down to that unit's start, so no
    stored chunk is split between blocks (and none is decoded twice).

    Examples
    --------
    >>> aligned_read_chunks(((5, 5, 5, 5),), (10,), (20,))
    ((10, 10),)
    >>> aligned_read_chunks(((15, 15),), (10,), (30,))
    ((10, 20),)
    """
    out = []
    for axis_chunks, c, n in zip(chunks, unit, shape):
        bounds, pos = {0, n}, 0
        for size in axis_chunks[:-1]:
            pos += size
            bounds.add(floor_bound(c, pos))
        out.append(_bounds_to_sizes(bounds, n))
    return tuple(out)


# --- the write plan ----------------------------------------------------------------


def _bounds_to_sizes(bounds: set[int], n: int) -> tuple[int, ...]:
    edges = sorted({0, n} | {b for b in bounds if 0 < b < n})
    return tuple(b - a for a, b in zip(edges, edges[1:])) or (n,)


def plan_axis(sizes: Sequence[int], unit: AxisUnit, offset: int = 0) -> tuple[int, ...]:
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
        if is_bound(unit, offset + pos):
            bounds.add(pos)
            continue
        down, up = floor_bound(unit, offset + pos) - offset, next_bound(unit, offset + pos) - offset
        bounds.add(down if pos - down <= up - pos else up)
    return _bounds_to_sizes(bounds, n)


def _interior_unit_bounds(start: int, stop: int, unit: AxisUnit, offset: int) -> list[int]:
    """Unit boundaries strictly inside [start, stop) (region-relative positions)."""
    return [b - offset for b in bounds_between(unit, offset + start, offset + stop)]


def _split_largest(sizes: tuple[int, ...], unit: AxisUnit, offset: int) -> tuple[int, ...] | None:
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


def _cap_blocks(
    planned: list[tuple[int, ...]], unit: Sequence[AxisUnit], offset: Sequence[int], itemsize: int, cap: int
) -> None:
    """Split the largest blocks at unit boundaries until one block fits in ``cap`` bytes."""
    while prod(max(c) for c in planned) * itemsize > cap:
        # Split along the axis whose largest block spans the most units.
        best, best_span, best_split = -1, 0.0, None
        for axis, (sizes, u) in enumerate(zip(planned, unit)):
            span = max(sizes) / typical_size(u)
            split = _split_largest(sizes, u, offset[axis]) if span > best_span else None
            if split is not None:
                best, best_span, best_split = axis, span, split
        if best_split is None:
            return  # every largest block is one unit: the cap cannot be met
        planned[best] = best_split


def misalignments(
    dask_chunks: Chunks, unit: Sequence[AxisUnit], offset: Sequence[int] | None = None
) -> Iterator[tuple[int, int]]:
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
            if not is_bound(u, pos):
                yield axis, pos


def check_aligned(dask_chunks: Chunks, unit: Sequence[AxisUnit], offset: Sequence[int] | None = None) -> None:
    """Raise unless every dask block boundary lies on a unit boundary.

    Otherwise two tasks would write the same stored object and one would lose
    (dask/dask#12583). The message names the axis and the boundary.

    Examples
    --------
    >>> check_aligned(((4, 4, 2),), (4,))
    >>> check_aligned(((3, 3),), (4,))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MisalignedWriteError: axis 0: the dask block boundary at 3 falls inside ...
    """
    for axis, pos in misalignments(dask_chunks, unit, offset):
        c = unit[axis]
        regular = isinstance(c, int)
        fix = f"e.g. arr.rechunk({{{axis}: {c}}}), " if regular else "to the stored chunks, "
        raise MisalignedWriteError(
            f"axis {axis}: the dask block boundary at {pos} falls inside the stored "
            f"chunk [{floor_bound(c, pos)}, {next_bound(c, pos)}){f' (chunks[{axis}]={c})' if regular else ''}, so two "
            f"tasks would write it. Rechunk first, {fix}"
            f"or pass align='auto' to let dz.write rechunk"
        )


@dataclass(frozen=True)
class WritePlan:
    """Blocks (``chunks``, relative to ``target``) that write ``target`` of an array of ``shape``.

    Built by :func:`plan_write`; the graph rechunks the data to ``chunks`` and each
    write task asks the plan which units its block covers whole (written blind) and
    which only in part (read, merged and rewritten).

    Examples
    --------
    >>> p = WritePlan(((4, 4),), (4,), (slice(2, 10),), (10,))
    >>> p.block_region((slice(0, 4),))
    (slice(2, 6, None),)
    >>> p.covers_unit((slice(0, 4),)), p.covers_unit((slice(8, 10),))
    (False, True)
    """

    chunks: Chunks
    unit: tuple[AxisUnit, ...]
    target: Region
    shape: tuple[int, ...]

    @property
    def offset(self) -> tuple[int, ...]:
        """Where ``target`` starts in the array."""
        return tuple(t.start for t in self.target)

    def block_region(self, relative: Sequence[slice]) -> Region:
        """A block's absolute region from its ``target``-relative one."""
        return tuple(slice(r.start + o, r.stop + o) for r, o in zip(relative, self.offset))

    def covers_unit(self, region: Sequence[slice]) -> bool:
        """Whether the write holds all of a unit's (clipped) ``region``: else read-merge-write."""
        return covers(self.target, region)

    def unit_around(self, axis: int, pos: int) -> tuple[int, int]:
        """Start and end of the unit along ``axis`` that holds ``pos``."""
        return floor_bound(self.unit[axis], pos), next_bound(self.unit[axis], pos)

    def cut_edges(self) -> Iterator[tuple[int, int]]:
        """(axis, position) of each edge of ``target`` that cuts a unit of the array."""
        for axis, (t, u, n) in enumerate(zip(self.target, self.unit, self.shape)):
            if t.start == t.stop:
                continue
            for edge in (t.start, t.stop):
                if not is_bound(u, edge) and edge != n:
                    yield axis, edge


def plan_write(
    dask_chunks: Chunks,
    unit: Sequence[AxisUnit],
    itemsize: int,
    *,
    target: Region,
    shape: Sequence[int],
    max_task_bytes: int | None = None,
) -> WritePlan:
    """The write plan of data in ``dask_chunks`` going to ``target`` of an array of ``shape``.

    Aligned input is kept (the user's layout is safe; caps only shape re-blocked blocks);
    otherwise every boundary inside a unit moves to the nearest unit boundary, and blocks
    over ``max_task_bytes`` or :func:`.reblock_cap` are split at unit boundaries, as far as units allow.

    Parameters
    ----------
    dask_chunks
        The chunks of the data to write, in dask's form.
    unit
        The write unit per axis: the chunk (or shard) length, or a rectilinear axis's ``Edges``.
    itemsize
        Bytes per element, for the memory cap.
    target
        Where the data goes: absolute step-1 slices (see :func:`normalize_region`).
    shape
        The array's shape once written.
    max_task_bytes
        Cap on one planned block's bytes (a single unit larger than it stays whole).

    Examples
    --------
    >>> whole = (slice(0, 400), slice(0, 400))
    >>> plan_write(((25,) * 16, (25,) * 16), (40, 40), 8, target=whole, shape=(400, 400)).chunks[0]
    (40, 40, 40, 40, 40, 40, 40, 40, 40, 40)
    >>> plan_write(((55, 45),), (10,), 1, target=(slice(0, 100),), shape=(100,), max_task_bytes=30).chunks
    ((20, 30, 20, 30),)
    """
    unit, shape = tuple(unit), tuple(shape)
    offset = tuple(t.start for t in target)
    if not any(True for _ in misalignments(dask_chunks, unit, offset)):
        return WritePlan(tuple(dask_chunks), unit, target, shape)
    planned = [plan_axis(c, u, o) for c, u, o in zip(dask_chunks, unit, offset)]
    _cap_blocks(planned, unit, offset, itemsize, min(reblock_cap(dask_chunks, unit, itemsize), max_task_bytes or 2**63))
    return WritePlan(tuple(planned), unit, target, shape)

