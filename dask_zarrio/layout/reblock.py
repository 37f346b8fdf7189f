"""How large the blocks of a write that must be re-blocked may be: pure functions on tuples.

A write's dask blocks that cut the target's units (its chunks, or its shards) are
re-blocked to unit boundaries (:func:`~dask_zarrio.layout.write_plan.plan_write`).
Moving each boundary to the nearest unit boundary merges source blocks: dz.read's
default blocks of a 2 x 15360² array in 512² chunks are (2, 15360, 512), and 4096²
shards made blocks of 8 shards (120 MiB), which each task held twice (the blocks
dask concatenates it from, and the block) while encoding a shard: +723 MiB for a
471 MB array on 2 threads. Capped at the larger of one unit and one source block,
a task holds about that much, and the write's memory is bounded as ``dz.rechunk``'s
(see ``docs/performance.md``, "Writes that must be re-blocked").
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from .grid import AxisUnit, typical_size

__all__ = ["reblock_cap"]

Chunks = tuple[tuple[int, ...], ...]


def reblock_cap(dask_chunks: Chunks, unit: Sequence[AxisUnit], itemsize: int) -> int:
    """Most bytes of one block of a re-blocked write: the larger of a unit and a source block.

    A unit is clipped to the data's extent along each axis (a 4096-long shard of a
    100-long axis holds 100 elements).

    Examples
    --------
    >>> reblock_cap(((2,), (15360,), (512,) * 30), (1, 4096, 4096), 1) // 2**20  # one shard
    16
    >>> reblock_cap(((10, 10),), (4,), 8)  # one source block
    80
    >>> reblock_cap(((3, 3), (5,)), (100, 100), 2)  # a unit larger than the data: all of it
    60
    """
    unit_elements = prod(min(typical_size(u), sum(c)) for c, u in zip(dask_chunks, unit))
    block_elements = prod(max(c, default=0) for c in dask_chunks)
    return itemsize * max(unit_elements, block_elements, 1)
