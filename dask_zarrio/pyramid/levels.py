"""The pyramid's plan, pure maths on tuples: axes, factors, level shapes and units, the stages.

A *stage* is one Blockwise layer of tasks. Each task owns a block of the stage's first
level (level 0 for the first stage), aligned so that for every level the stage writes
the block's part is a whole number of that level's stored units (chunks, or shards):
every stored object of every level has exactly one writer. A task reads its block once,
in pieces (:attr:`Stage.pieces`), writes every level of the stage from them, and hands the
next level's part (small) to the next stage, whose tasks finish the levels that no block
of the first stage holds alone. A stage takes in levels while what a task holds at once
stays under the memory cap and the stage keeps enough tasks for the threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import ceil, lcm, prod
from typing import Any

from ..errors import ZarrioError

__all__ = [
    "Axis", "LevelPlan", "PyramidPlan", "Stage", "default_axes", "level_count", "level_shape", "parse_axes",
    "parse_factors", "plan_pyramid", "stage_chunks", "task_block_cap",
]

#: Axis names by number of dimensions, as ome-zarr-py's ``write_image`` defaults them.
DEFAULT_AXES = {1: ["x"], 2: ["y", "x"], 3: ["z", "y", "x"], 4: ["c", "z", "y", "x"], 5: ["t", "c", "z", "y", "x"]}
#: What an axis is, from its name, where the caller gives only names (OME axis types).
NAMED_TYPES = {"t": "time", "time": "time", "c": "channel", "channel": "channel"}
#: A task holds about this many times its block at its peak: the block, the next level, one shard
#: fetched and one encoded (measured: docs/pyramids.md). Blocks are sized to dask's
#: ``array.chunk-size`` divided by it, so a task's peak stays near that setting.
TASK_PEAK_FACTOR = 4
#: Default chunk size of a level, where neither chunks nor shards are given.
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Axis:
    """One axis of the image: its name, OME type (``space``, ``time``, ``channel``) and unit."""

    name: str
    type: str | None
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.type is not None:
            out["type"] = self.type
        if self.unit is not None:
            out["unit"] = self.unit
        return out


def task_block_cap() -> int:
    """Bytes of level-0 block a stage task may own: dask's ``array.chunk-size`` / ``TASK_PEAK_FACTOR``.

    Examples
    --------
    >>> import dask
    >>> with dask.config.set({"array.chunk-size": "128MiB"}):
    ...     task_block_cap() // 2**20
    32
    """
    import dask
    from dask.utils import parse_bytes

    return parse_bytes(dask.config.get("array.chunk-size")) // TASK_PEAK_FACTOR


def default_axes(ndim: int) -> list[str]:
    """The axis names a ``ndim``-dimensional image gets without ``axes``.

    Examples
    --------
    >>> default_axes(3)
    ['z', 'y', 'x']
    """
    if ndim not in DEFAULT_AXES:
        raise ZarrioError(f"a pyramid of a {ndim}-dimensional array needs axes=: one name per dimension")
    return list(DEFAULT_AXES[ndim])


def parse_axes(axes: Sequence[Any] | None, ndim: int, units: Any = None) -> tuple[Axis, ...]:
    """``axes`` (names or OME axis dicts) and ``units`` (a list, or a dict by name) as :class:`Axis`.

    Examples
    --------
    >>> [a.type for a in parse_axes(["c", "y", "x"], 3, {"x": "micrometer"})]
    ['channel', 'space', 'space']
    >>> parse_axes(["y"], 2)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: axes=['y'] names 1 axes, but the array has 2 dimensions...
    """
    given = default_axes(ndim) if axes is None else list(axes)
    if len(given) != ndim:
        raise ZarrioError(f"axes={axes!r} names {len(given)} axes, but the array has {ndim} dimensions; "
                          "give one name per dimension")
    out: list[Axis] = []
    for i, a in enumerate(given):
        if isinstance(a, Mapping):
            name, kind, unit = str(a.get("name")), a.get("type"), a.get("unit")
        elif isinstance(a, str):
            name, kind, unit = a, NAMED_TYPES.get(a.lower(), "space"), None
        else:
            raise ZarrioError(f"axes[{i}]={a!r} must be a name or an OME axis dict such as {{'name': 'x'}}")
        if isinstance(units, Mapping):
            unit = units.get(name, unit)
        elif units is not None:
            if len(units) != ndim:
                raise ZarrioError(f"units={units!r} must give one unit (or None) per axis: {ndim} of them")
            unit = units[i] if units[i] is not None else unit
        out.append(Axis(name, kind, unit))
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise ZarrioError(f"axes={axes!r} repeats a name; every axis needs its own")
    return tuple(out)


def parse_factors(factors: int | Mapping[str, int], axes: Sequence[Axis]) -> tuple[int, ...]:
    """The downsampling factor per axis: an int applies to the two last space axes (y, x).

    Examples
    --------
    >>> parse_factors(2, parse_axes(None, 4))
    (1, 1, 2, 2)
    >>> parse_factors({"z": 2, "y": 3, "x": 3}, parse_axes(None, 3))
    (2, 3, 3)
    """
    names = [a.name for a in axes]
    if isinstance(factors, Mapping):
        unknown = sorted(set(factors) - set(names))
        if unknown:
            raise ZarrioError(f"factors={dict(factors)!r} names axes {unknown} that are not among axes={names}")
        out = [int(factors.get(n, 1)) for n in names]
    elif isinstance(factors, int) and not isinstance(factors, bool):
        space = [i for i, a in enumerate(axes) if a.type in ("space", None)][-2:] or [len(axes) - 1]
        out = [factors if i in space else 1 for i in range(len(axes))]
    else:
        raise ZarrioError(f"factors={factors!r} must be an int or a dict of ints per axis name")
    if any(f < 1 for f in out) or all(f == 1 for f in out):
        raise ZarrioError(f"factors={factors!r} must be at least 1 on every axis and more than 1 on one")
    return tuple(out)


def level_shape(shape: Sequence[int], factors: Sequence[int], level: int) -> tuple[int, ...]:
    """``ceil(shape / factor ** level)`` per axis.

    Examples
    --------
    >>> level_shape((10, 7), (2, 2), 2)
    (3, 2)
    """
    return tuple(-(-n // f**level) for n, f in zip(shape, factors))


def level_count(shape: Sequence[int], factors: Sequence[int], chunk: Sequence[int]) -> int:
    """Levels (level 0 included) until every downsampled extent fits in one chunk.

    Examples
    --------
    >>> level_count((1000, 1000), (2, 2), (256, 256))
    3
    """
    n = 1
    while any(f > 1 and s > c for s, f, c in zip(level_shape(shape, factors, n - 1), factors, chunk)):
        n += 1
    return n


@dataclass(frozen=True)
class LevelPlan:
    """One level: its path, shape, stored chunk and shard (``None``: not sharded)."""

    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None

    @property
    def unit(self) -> tuple[int, ...]:
        """What one stored object holds: the shard, or the chunk."""
        return self.shards or self.chunks


@dataclass(frozen=True)
class Stage:
    """Levels ``first..last`` written by one layer of tasks, each owning ``block`` of level ``first``.

    ``pieces[i]``: what a task makes of level ``first + i`` at a time (in that level's cells), for
    each level but the last: the smallest block aligned to the level's stored units (and, on level
    0, to the source's) that holds whole cells of the next level. A task builds its block of the
    last level from such pieces, each read (or made from pieces of the level below), written and
    reduced before the next, so it never holds its whole block of a finer level.
    """

    first: int
    last: int
    block: tuple[int, ...]
    pieces: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class PyramidPlan:
    """Every level, the factors and the stages that write them."""

    levels: tuple[LevelPlan, ...]
    factors: tuple[int, ...]
    stages: tuple[Stage, ...]


def _round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def level_layout(shape: tuple[int, ...], chunks: tuple[int, ...], shards: tuple[int, ...] | None
                 ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """A level's chunks and shards: level 0's, clipped to the level's shape (shards stay multiples).

    Examples
    --------
    >>> level_layout((100, 3000), (512, 512), (4096, 4096))
    ((100, 512), (100, 3072))
    """
    c = tuple(max(1, min(k, n)) for k, n in zip(chunks, shape))
    if shards is None:
        return c, None
    return c, tuple(max(k, min(s, _round_up(n, k))) for s, k, n in zip(shards, c, shape))


def default_chunks(shape: tuple[int, ...], factors: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """About ``CHUNK_BYTES`` per chunk, a power of two on the downsampled axes, 1 on the others.

    Examples
    --------
    >>> default_chunks((3, 5000, 5000), (1, 2, 2), 2)
    (1, 512, 512)
    """
    down = sum(f > 1 for f in factors)
    side = 1
    while (2 * side) ** down * itemsize <= CHUNK_BYTES:
        side *= 2
    return tuple(min(n, side) if f > 1 else 1 for n, f in zip(shape, factors))


def plan_pyramid(shape: tuple[int, ...], itemsize: int, factors: tuple[int, ...], levels: int | None,
                 chunks: tuple[int, ...], shards: tuple[int, ...] | None, cap: int,
                 source_unit: tuple[int, ...] | None = None, min_blocks: int = 1) -> PyramidPlan:
    """Levels and stages of a pyramid of ``shape``; a task of each stage holds at most ``cap`` bytes.

    ``source_unit``: the stored chunk of the array read, which level-0 blocks also align to.
    ``min_blocks``: a stage takes in another level only if it still has this many blocks (tasks
    to run side by side), or its block stays the same.

    Examples
    --------
    >>> p = plan_pyramid((15360, 15360), 1, (2, 2), 5, (512, 512), (4096, 4096), 128 * 2**20)
    >>> [(s.first, s.last, s.block) for s in p.stages]
    [(0, 1, (8192, 8192)), (2, 4, (3840, 3840))]
    """
    if shards is not None and any(s % c for s, c in zip(shards, chunks)):
        raise ZarrioError(f"shards={shards!r} must be a multiple of chunks={chunks!r} on every axis")
    n = level_count(shape, factors, chunks) if levels is None else int(levels)
    if n < 1:
        raise ZarrioError(f"levels={levels!r} must be at least 1 (level 0 counts)")
    plans = []
    for i in range(n):
        s = level_shape(shape, factors, i)
        plans.append(LevelPlan(str(i), s, *level_layout(s, chunks, shards)))
    stages, first = [], 0
    while first < n:
        stage = _stage(plans, factors, first, itemsize, cap, source_unit if first == 0 else None, min_blocks)
        stages.append(stage)
        first = stage.last + 1
    return PyramidPlan(tuple(plans), factors, tuple(stages))


def _block(plans: Sequence[LevelPlan], factors: tuple[int, ...], first: int, last: int,
           source: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The smallest block of level ``first`` aligned to the units of levels ``first..last`` (and
    holding whole cells of level ``last + 1`` when there is one), clipped to the level's shape."""
    out = []
    for a, n in enumerate(plans[first].shape):
        b = 1 if source is None else source[a]
        for lv in range(first, last + 1):
            b = lcm(b, plans[lv].unit[a] * factors[a] ** (lv - first))
        if last + 1 < len(plans):
            b = lcm(b, factors[a] ** (last + 1 - first))
        out.append(min(b, n))
    return tuple(out)


def _held(plans: Sequence[LevelPlan], factors: tuple[int, ...], stage: Stage, streamed: bool) -> int:
    """Cells a task of ``stage`` holds at once: a piece of each level but the last and its block of
    the last level where it reads its own pieces (``streamed``), else its whole first-level block."""
    if not streamed:
        return prod(stage.block)
    top = tuple(min(n, -(-b // f ** (stage.last - stage.first)))
                for b, f, n in zip(stage.block, factors, plans[stage.last].shape))
    return sum(prod(p) for p in stage.pieces) + prod(top)


def _pieces(plans: Sequence[LevelPlan], factors: tuple[int, ...], first: int, last: int,
            source: tuple[int, ...] | None) -> tuple[tuple[int, ...], ...]:
    """Each level's piece (levels ``first..last - 1``): its own smallest aligned block, widened to
    whole pieces of the level below (so that no piece of a finer level is made twice)."""
    out: list[tuple[int, ...]] = []
    for j in range(first, last):
        own = _block(plans, factors, j, j, source if j == 0 else None)
        if out:
            own = tuple(min(n, lcm(b, -(-p // f))) for b, p, f, n in zip(own, out[-1], factors, plans[j].shape))
        out.append(own)
    return tuple(out)


def _stage(plans: Sequence[LevelPlan], factors: tuple[int, ...], first: int, itemsize: int, cap: int,
           source: tuple[int, ...] | None, min_blocks: int = 1) -> Stage:
    """The stage from level ``first``: as many levels as a task completes holding at most ``cap``
    bytes (at least one level), with at least ``min_blocks`` tasks. A stage reading a stored
    source (``source``, level 0) reads its own pieces; a later one gets its first level's block
    whole from dask."""
    streamed = first == 0 and source is not None
    stage = Stage(first, first, _block(plans, factors, first, first, source))
    while stage.last + 1 < len(plans):
        last = stage.last + 1
        pieces = _pieces(plans, factors, first, last, source)
        bigger = Stage(first, last, _block(plans, factors, first, last, source), pieces)
        blocks = prod(-(-n // b) for n, b in zip(plans[first].shape, bigger.block))
        too_big = _held(plans, factors, bigger, streamed) * itemsize > cap or blocks < min_blocks
        if too_big and bigger.block != stage.block:
            break
        stage = bigger
    return stage


def stage_chunks(shape: Sequence[int], block: Sequence[int], scale: Sequence[int] | None = None
                 ) -> tuple[tuple[int, ...], ...]:
    """Dask chunks of the stage's blocks on an axis of ``shape``; with ``scale``, the same blocks
    seen at a level ``scale`` times coarser (``ceil`` of each block's extent).

    Examples
    --------
    >>> stage_chunks((10,), (4,))
    ((4, 4, 2),)
    >>> stage_chunks((10,), (4,), (4,)), stage_chunks((3,), (3,), (4,))
    (((1, 1, 1),), ((1,),))
    """
    out = []
    for a, (n, b) in enumerate(zip(shape, block)):
        f = 1 if scale is None else scale[a]
        full, rest = divmod(n, b)
        sizes = (ceil(b / f),) * full + ((ceil(rest / f),) if rest else ())
        out.append(sizes or (0,))
    return tuple(out)
