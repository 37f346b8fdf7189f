"""Dask graphs for reading and writing, built in O(1) of the number of chunks.

Both directions are single ``Blockwise`` layers: the array description and the
store appear once as literal arguments, and each task's region comes from an
``ArraySliceDep`` computed only when the graph is materialised (and only for the
blocks that survive culling).
"""

from __future__ import annotations

import json
from typing import Any

import dask.array as da
import numpy as np
from dask.array.core import getter, normalize_chunks
from dask.base import tokenize
from dask.blockwise import blockwise as core_blockwise
from dask.highlevelgraph import HighLevelGraph
from dask.layers import ArraySliceDep

from .metadata import ArrayMetadata, ArraySpec
from .store import Store
from .tasks import ArrayReader, write_region

__all__ = ["MIN_READ_BLOCKS", "READ_BLOCK_BYTES", "aligned_read_chunks", "array_from_metadata", "default_read_chunks", "read_array", "write_array"]


def aligned_read_chunks(
    chunks: tuple[tuple[int, ...], ...], chunk_shape: tuple[int, ...], shape: tuple[int, ...]
) -> tuple[tuple[int, ...], ...]:
    """Coarsen ``chunks`` so that every block boundary lies on a stored-chunk boundary.

    Each boundary that falls inside a stored chunk moves down to that chunk's start,
    so no stored chunk is split between blocks (and none is decoded twice).

    Examples
    --------
    >>> aligned_read_chunks(((5, 5, 5, 5),), (10,), (20,))
    ((10, 10),)
    >>> aligned_read_chunks(((15, 15),), (10,), (30,))
    ((10, 20),)
    """
    out = []
    for axis_chunks, c, n in zip(chunks, chunk_shape, shape):
        bounds, pos = {0, n}, 0
        for size in axis_chunks[:-1]:
            pos += size
            bounds.add(pos // c * c)
        edges = sorted(bounds)
        out.append(tuple(b - a for a, b in zip(edges, edges[1:])) or (n,))
    return tuple(out)


def array_from_metadata(
    store: Store, meta: ArrayMetadata, *, chunks: Any = None, allow_pickle: bool = False
) -> da.Array:
    """The dask array of the array at ``store`` described by ``meta`` (no I/O here).

    Its name is deterministic: a hash of the location, the metadata and ``chunks``.
    """
    spec = ArraySpec.from_metadata(meta, allow_pickle=allow_pickle)
    meta_json = json.dumps(meta.to_dict(), sort_keys=True, default=str)
    name = "read-zarr-" + tokenize(store.token(), meta_json, chunks)
    return read_array(spec, store, chunks, name, tokenize(name, "aligned"))


#: Default dask blocks group whole stored chunks (or shards) up to about this many bytes.
#: dask.distributed costs a few milliseconds of scheduler and worker CPU per task, as
#: much as decoding a few MiB: on a 2-worker LocalCluster, 16 MiB chunks read one per
#: task reached 0.55x the thread-pool limit, four per task 0.81x (docs/performance.md).
#: Much bigger blocks no longer fit the CPU caches nor reuse memory, and read slower.
READ_BLOCK_BYTES = 64 * 2**20
#: ...but grouping stops short of leaving fewer blocks than this, so a modest array
#: still spreads over the cores of a machine or a small cluster.
MIN_READ_BLOCKS = 16


def default_read_chunks(spec: ArraySpec) -> tuple[int, ...]:
    """Whole stored chunks (or shards) grouped into blocks of about ``READ_BLOCK_BYTES``.

    Chunks are grouped along the first axis first, so that each chunk's place in its
    block is one contiguous run of memory and it is decoded straight into the block;
    then along the next axes. At least ``MIN_READ_BLOCKS`` blocks remain where there
    are that many chunks. Object arrays keep one chunk per block.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> def default(shape, chunks, dtype="f4"):
    ...     meta = new_array_metadata(shape=shape, dtype=np.dtype(dtype), chunk_shape=chunks)
    ...     return default_read_chunks(ArraySpec.from_metadata(meta))
    >>> default((32768, 8192), (2048, 2048))  # 16 MiB chunks: 4 per block
    (8192, 2048)
    >>> default((8192, 8192), (2048, 2048))  # only 16 chunks: one per block
    (2048, 2048)
    >>> default((1000, 1000), (10, 1))  # 100,000 tiny chunks: 17 blocks of 6,200
    (1000, 62)
    """
    unit = spec.chunk_shape
    unit_bytes = max(1, int(np.prod(unit, dtype=np.int64)) * spec.dtype.itemsize)
    counts, nunits = spec.grid.grid_shape, spec.grid.nchunks
    if spec.dtype.kind == "O" or nunits <= MIN_READ_BLOCKS:
        return unit
    per_block = max(1, min(READ_BLOCK_BYTES // unit_bytes, nunits // MIN_READ_BLOCKS))
    factors = []
    for count in counts:
        factor = max(1, min(count, per_block))
        factors.append(factor)
        per_block //= factor
    return tuple(c * f for c, f in zip(unit, factors))


def read_array(
    spec: ArraySpec, store: Store, chunks: Any, name: str, meta_token: str
) -> da.Array:
    """A dask array whose blocks are read by :class:`~dask_zarrio.tasks.ArrayReader`.

    ``chunks`` in any form dask accepts; "auto" groups whole stored chunks. Chunks
    that split stored chunks are read aligned and then split by dask's rechunk, so
    each stored chunk is still decoded once.
    """
    shape = spec.shape
    if chunks is None:
        chunks = default_read_chunks(spec)
    normalized = normalize_chunks(
        chunks, shape, dtype=spec.dtype, previous_chunks=spec.chunk_shape
    )
    # The unit a task can read alone: the chunk, or the inner chunk of a shard.
    unit = spec.pipeline.partial_chunk_shape
    aligned = aligned_read_chunks(normalized, unit, shape)
    arr = _read_layer(spec, store, aligned, f"{name}-{meta_token}" if aligned != normalized else name)
    if aligned != normalized:
        arr = arr.rechunk(normalized)
    return arr


def _read_layer(
    spec: ArraySpec, store: Store, chunks: tuple[tuple[int, ...], ...], name: str
) -> da.Array:
    out_ind = tuple(range(len(spec.shape)))
    # ``getter(reader, region)`` is the task form dask fuses with later slicing.
    layer = core_blockwise(
        getter,
        name,
        out_ind,
        ArrayReader(spec, store),
        None,
        ArraySliceDep(chunks),
        out_ind,
        numblocks={},
        _data_producer=True,
    )
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[])
    meta = np.empty((0,) * len(spec.shape), dtype=spec.dtype)
    return da.Array(graph, name, chunks, meta=meta)


def write_array(
    arr: da.Array,
    spec: ArraySpec,
    store: Store,
    name: str,
    *,
    offset: tuple[int, ...],
    target: tuple[slice, ...] | None,
    delete_empty: bool,
) -> da.Array:
    """A dask array of per-block chunk counts whose computation writes ``arr`` at ``offset``.

    ``arr``'s chunks must come from the planner: no two blocks share a stored unit.
    """
    out_ind = tuple(range(arr.ndim))
    layer = core_blockwise(
        write_region,
        name,
        out_ind,
        spec,
        None,
        store,
        None,
        arr.name,
        out_ind,
        ArraySliceDep(arr.chunks),
        out_ind,
        numblocks={arr.name: arr.numblocks},
        offset=offset,
        target=target,
        delete_empty=delete_empty,
    )
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[arr])  # type: ignore[list-item]
    counts = tuple((1,) * len(c) for c in arr.chunks)
    return da.Array(graph, name, counts, meta=np.empty((0,) * arr.ndim, dtype=np.int64))
