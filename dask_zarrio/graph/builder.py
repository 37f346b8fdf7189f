"""Dask graphs for reading and writing, built in O(1) of the number of chunks.

Reading is ``dask.array.from_array`` over an :class:`~dask_zarrio.graph.tasks.ArrayReader`:
one Blockwise layer of ``getter(reader, region)`` tasks, the form dask's optimizer
fuses with later slicing. Writing is one Blockwise layer too; each task's region
comes from an ``ArraySliceDep`` computed only when the graph is materialised (and
only for the blocks that survive culling). The layouts come from the planner.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from math import ceil, prod
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.array.core import normalize_chunks
from dask.base import tokenize
from dask.blockwise import Blockwise
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from dask.utils import parse_bytes

from .._compat import ArraySliceDep, core_blockwise
from ..errors import MisalignedWriteError, ZarrioError
from ..layout.write_plan import (
    MAX_BLOCKS_PER_AXIS,
    WritePlan,
    aligned_read_chunks,
    default_read_chunks,
    grouped_unit,
)
from ..metadata import ArrayMetadata, ArraySpec
from ..store import Store
from ..store.locations import check_locations
from .tasks import ArrayReader, write_region

__all__ = [
    "array_from_metadata", "block_layer", "check_block_counts", "read_array", "read_layer", "refuse_reading_from",
    "stores_read_by",
    "sum_of_blocks", "write_block",
]


def array_from_metadata(
    store: Store, meta: ArrayMetadata, *, chunks: Any = None, allow_pickle: bool = False
) -> da.Array:
    """The dask array of the array at ``store`` described by ``meta`` (no I/O here).

    Its name is deterministic: a hash of the location, the metadata and ``chunks``.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(6,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=3)
    >>> array_from_metadata(MappingStore({}), meta).compute()
    array([3, 3, 3, 3, 3, 3], dtype=int8)
    """
    spec = ArraySpec.from_metadata(meta, allow_pickle=allow_pickle)
    meta_json = json.dumps(meta.to_dict(), sort_keys=True, default=str)
    name = "read-zarr-" + tokenize(store.token(), meta_json, chunks)
    return read_array(spec, store, chunks, name)


def read_array(spec: ArraySpec, store: Store, chunks: Any, name: str) -> da.Array:
    """A dask array whose blocks are read by :class:`~dask_zarrio.graph.tasks.ArrayReader`.

    ``chunks`` in any form dask accepts; ``None`` groups whole stored chunks
    (:func:`~dask_zarrio.layout.write_plan.default_read_chunks`). Chunks that split stored
    chunks are read aligned and then split by dask's rechunk, so each stored chunk
    is still decoded once.
    """
    shape = spec.shape
    if chunks is None and not spec.grid.is_regular:
        chunks = spec.grid.axis_chunks()  # one block per stored chunk: irregular chunks do not group evenly
    elif chunks is None:
        chunks = default_read_chunks(
            shape, spec.chunk_shape, spec.dtype.itemsize, one_unit_per_block=spec.dtype.kind == "O"
        )
    check_block_counts(chunks, shape, spec.dtype.itemsize)
    # dask's "auto" spells previous_chunks out block by block: bound them first.
    previous = grouped_unit(shape, spec.chunk_shape, MAX_BLOCKS_PER_AXIS)
    normalized = normalize_chunks(chunks, shape, dtype=spec.dtype, previous_chunks=previous)
    # The unit a task can read alone: the chunk, or the inner chunk of a shard read by byte ranges.
    unit = spec.grid.read_units(spec.pipeline.partial_chunk_shape if spec.reads_by_ranges(store) else None)
    aligned = aligned_read_chunks(normalized, unit, shape)
    if aligned == normalized:
        return read_layer(spec, store, aligned, name)
    return read_layer(spec, store, aligned, f"{name}-aligned").rechunk(normalized)


def _axis_blocks(entry: Any, n: int) -> int | None:
    """Blocks along an axis of length ``n`` for one dask chunks entry; ``None`` for "auto"."""
    if entry is None or entry == -1:
        return 1
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, bool) and entry > 0:
        return -(-n // int(entry))
    if isinstance(entry, (tuple, list)):
        return len(entry)
    return None  # "auto", a byte size, or something dask will refuse itself


def check_block_counts(chunks: Any, shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse ``chunks`` that would give more than MAX_BLOCKS_PER_AXIS blocks along an axis.

    dask builds a tuple of every block's size per axis before anything is read, so
    ``chunks=1`` on an axis of 10**9 elements would take minutes and gigabytes; this
    asks in O(ndim). "auto" entries are estimated as dask fills them: blocks of about
    ``array.chunk-size`` bytes spread evenly over the "auto" axes.

    Examples
    --------
    >>> check_block_counts((1, -1), (10**9, 5), 1)
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: chunks=(1, -1) would make 1000000000 blocks along axis 0 of shape ...
    """
    ndim = len(shape)
    if isinstance(chunks, dict):
        entries: list[Any] = [chunks.get(a, chunks.get(a - ndim, -1)) for a in range(ndim)]
    elif isinstance(chunks, (tuple, list)) and len(chunks) == ndim:
        entries = list(chunks)
    else:
        entries = [chunks] * ndim
    counts = [_axis_blocks(e, n) for e, n in zip(entries, shape)]
    auto = [a for a, c in enumerate(counts) if c is None]
    if auto and 0 not in shape:
        # Elements of one block along the fixed axes, then how many auto blocks the rest needs.
        fixed = prod(-(-n // c) if c else n for a, (n, c) in enumerate(zip(shape, counts)) if a not in auto)
        per_block = max(1, parse_bytes(dask.config.get("array.chunk-size")) // max(1, itemsize * fixed))
        blocks = prod(shape[a] for a in auto) / per_block
        # An axis shorter than an even share is taken whole; the rest share the blocks.
        while auto:
            spread = max(1.0, blocks) ** (1 / len(auto))
            short = [a for a in auto if shape[a] <= spread]
            if not short:
                break
            for a in short:
                counts[a] = 1
                auto.remove(a)
        for a in auto:
            counts[a] = ceil(spread)
    for axis, count in enumerate(counts):
        if count is not None and count > MAX_BLOCKS_PER_AXIS:
            raise ZarrioError(
                f"chunks={chunks!r} would make {count} blocks along axis {axis} of shape {shape}, "
                f"more than the {MAX_BLOCKS_PER_AXIS} dask can handle; pass larger chunks=, "
                "or chunks=None to group whole stored chunks"
            )


def read_layer(spec: ArraySpec, store: Store, chunks: tuple[tuple[int, ...], ...], name: str) -> da.Array:
    """The one read layer: a task per block of ``chunks`` (any blocks: each reads its region's
    chunks), named ``name`` (``read-zarr-…``: :mod:`~dask_zarrio.graph.reread` recognises it)."""
    meta = np.empty((0,) * len(spec.shape), dtype=spec.dtype)
    # inline_array: the reader (small: metadata and store arguments) rides in each
    # task, so a culled or sliced graph needs no extra key and fuses with getitem.
    return da.from_array(
        ArrayReader(spec, store), chunks=chunks, name=name, lock=False, asarray=False, fancy=True,
        meta=meta, inline_array=True,
    )


def block_layer(
    task: Callable[..., np.ndarray], name: str, blocks: tuple[tuple[int, ...], ...], args: tuple[Any, ...] = (),
    *, data: da.Array | None = None, after: Delayed | None = None, dtype: Any = np.int64,
) -> da.Array:
    """The one builder of write layers: a task per block, ``task(region, block, *args)``.

    ``region`` (the block's slices) comes from an ``ArraySliceDep``, computed only when the
    graph is materialised, so building it is O(1) in the number of blocks. ``block`` is the
    block of ``data`` (whose chunks must be ``blocks``), or ``None`` for tasks that read
    their input themselves (rechunk, copy). With ``after``, every task waits for it (a pass
    that starts once the previous one is committed). Each task returns a ``(1,) * ndim``
    array of ``dtype`` (stored-object counts, or Icechunk forks), so the result is a dask
    array of one element per block.

    Examples
    --------
    >>> def count(region, block, scale):
    ...     return np.full((1,), (region[0].stop - region[0].start) * scale)
    >>> block_layer(count, "count", ((2, 3),), (10,)).compute()
    array([20, 30])
    """
    out_ind = tuple(range(len(blocks)))
    numblocks: dict[str, tuple[int, ...]] = {}
    dependencies: list[Any] = []
    source: tuple[Any, Any] = (None, None)
    if data is not None:
        if data.chunks != blocks:
            raise MisalignedWriteError(f"the data's chunks {data.chunks} are not the plan's {blocks}; rechunk first")
        source, numblocks[data.name] = (data.name, out_ind), data.numblocks
        dependencies.append(data)
    barrier: tuple[Any, Any] = (None, None)
    if after is not None:
        wait = da.from_delayed(after, (), np.int64)
        barrier, numblocks[wait.name] = (wait.name, ()), ()
        dependencies.append(wait)
    constants = tuple(x for arg in args for x in (arg, None))
    layer = core_blockwise(
        _run_block, name, out_ind, task, None, *barrier, ArraySliceDep(blocks), out_ind, *source, *constants,
        numblocks=numblocks,
    )
    graph = HighLevelGraph.from_collections(name, layer, dependencies=dependencies)
    return da.Array(graph, name, tuple((1,) * len(c) for c in blocks), meta=np.empty((0,) * len(blocks), dtype=dtype))


def _run_block(task: Callable[..., np.ndarray], after: object, region: tuple[slice, ...], block: Any,
               *args: Any) -> np.ndarray:
    """One task of :func:`block_layer`; ``after`` (a previous pass committed) only orders it."""
    return task(region, block, *args)


def write_block(region: tuple[slice, ...], block: np.ndarray, sink: Store, spec: ArraySpec, plan: WritePlan,
                delete_empty: bool) -> np.ndarray:
    """The task of ``dz.write``: :func:`~dask_zarrio.graph.tasks.write_region` in :func:`block_layer`'s order."""
    return write_region(spec, sink, block, region, plan, delete_empty)


def sum_of_blocks(counts: da.Array, blocks: list[tuple[int, ...]]) -> Delayed:
    """A delayed sum of the chosen blocks of ``counts``; the others are culled, never computed.

    Examples
    --------
    >>> x = da.from_array(np.array([1, 2, 3]), chunks=1)
    >>> sum_of_blocks(x, [(0,), (2,)]).compute()
    np.int64(4)
    """
    name = "sum-of-blocks-" + tokenize(counts.name, blocks)
    task = (_total, [(counts.name, *i) for i in blocks])
    graph = HighLevelGraph.from_collections(name, {name: task}, dependencies=[counts])  # type: ignore[list-item]
    return Delayed(name, graph)


def _total(parts: list[np.ndarray]) -> np.int64:
    return np.int64(sum(int(np.sum(p)) for p in parts))


#: How deep to look inside wrappers (xarray's lazy indexing adapters hold a dask array
#: in ``.array`` attributes a few levels down) for the arrays a graph reads.
_WRAPPER_DEPTH = 8


def stores_read_by(arr: da.Array) -> list[Store]:
    """The stores of every dask_zarrio array that computing ``arr`` reads, found without computing.

    Looks at the graph's layers (their Blockwise arguments, and plain objects in
    materialised layers, unwrapping ``.array`` attributes, so that arrays opened by
    xarray are found too); O(layers) for graphs dask_zarrio and dask build.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,))
    >>> x = array_from_metadata(MappingStore({}, "a.zarr"), meta)
    >>> stores_read_by((x + 1)[::2])
    [MappingStore('<dict>/a.zarr')]
    """
    found: dict[int, Store] = {}
    seen: set[int] = set()

    def visit_object(obj: Any) -> None:
        for _ in range(_WRAPPER_DEPTH):
            if isinstance(getattr(obj, "reader", None), ArrayReader):
                obj = obj.reader  # the xarray engine's lazily indexed arrays
            if isinstance(obj, ArrayReader):
                found.setdefault(id(obj.store), obj.store)
                return
            if isinstance(obj, da.Array):
                visit_graph(obj.dask)
                return
            obj = getattr(obj, "array", None)
            if obj is None:
                return

    def visit_graph(graph: Any) -> None:
        if id(graph) in seen or not isinstance(graph, HighLevelGraph):
            return
        seen.add(id(graph))
        for layer in graph.layers.values():
            if isinstance(layer, Blockwise):
                for obj, _ in layer.indices:
                    visit_object(obj)
            elif isinstance(layer, MaterializedLayer):
                for value in layer.mapping.values():
                    visit_object(value)  # tasks have no .array: only wrappers go deeper

    visit_graph(arr.dask)
    return list(found.values())


def refuse_reading_from(arr: Any, store: Store, call: str = "dz.write") -> None:
    """Refuse to replace ``store``'s node with data that reads from it, or from inside it, or from
    a node holding it (it would be deleted first): the one overlap check
    (:func:`~dask_zarrio.store.locations.check_locations`), every spelling of a location alike.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> m = {}
    >>> meta = new_array_metadata(shape=(2,), dtype=np.dtype("i1"), chunk_shape=(2,))
    >>> x = array_from_metadata(MappingStore(m, "g/a"), meta)
    >>> refuse_reading_from(x + 1, MappingStore(m, "g"))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: dz.write: the target <dict>/g contains the source <dict>/g/a; ...
    """
    if not isinstance(arr, da.Array):
        return
    check_locations(call, source=stores_read_by(arr), target=store, fix=(
        "mode='w' deletes the target before the data is read. Write to another path (then move it or read "
        "from there), or write into the array in place with mode='r+' (same shape and chunks)"
    ))
