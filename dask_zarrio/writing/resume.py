"""Resuming a write: which planned blocks still have to be written.

Every stored object (a chunk, or a shard) is written whole by one task, and every
store writes an object atomically (a local folder writes a temporary file and
renames it; an object store's PUT is atomic), so an object that is there is
complete. A block is skipped when every unit it owns is stored; units that held
only the fill value were never stored, so blocks with such units are written again
(they compute and store nothing).
"""

from __future__ import annotations

from itertools import accumulate, product
from typing import TYPE_CHECKING

from ..metadata import ArraySpec
from ..store import Store

if TYPE_CHECKING:  # the plan arrives as an argument
    from ..layout.write_plan import WritePlan

__all__ = ["blocks_to_write"]


def blocks_to_write(spec: ArraySpec, store: Store, plan: WritePlan) -> tuple[list[tuple[int, ...]], int]:
    """The indices of the plan's blocks not stored whole yet, and the number of units stored.

    Examples
    --------
    >>> import numpy as np
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.layout.write_plan import plan_write
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(6,), dtype=np.dtype("i1"), chunk_shape=(2,)))
    >>> plan = plan_write(((2, 2, 2),), (2,), 1, target=(slice(0, 6),), shape=(6,))
    >>> blocks_to_write(spec, MappingStore({"c/1": b"x"}), plan)
    ([(0,), (2,)], 1)
    """
    # One recursive listing where the store can list; else one existence check per unit.
    present = set(store.list_keys()) if store.supports_listing else None
    starts = [(0, *accumulate(c))[:-1] for c in plan.chunks]
    todo: list[tuple[int, ...]] = []
    done = 0
    for index in product(*(range(len(c)) for c in plan.chunks)):
        relative = tuple(slice(s[i], s[i] + c[i]) for s, c, i in zip(starts, plan.chunks, index))
        keys = [spec.chunk_key(u) for u in spec.grid.chunks_in(plan.block_region(relative))]
        stored = sum(k in present for k in keys) if present is not None else sum(map(store.exists, keys))
        if stored == len(keys) and keys:
            done += stored
        else:
            todo.append(index)
    return todo, done
