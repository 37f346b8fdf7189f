"""What runs on the workers: read one block, write one block.

Plain module-level functions with small picklable arguments: the array's
:class:`~dask_zarrio.metadata.ArraySpec`, its :class:`~dask_zarrio.store.Store`,
and the block's region. Chunk keys are computed here, not stored in the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ChunkDecodeError
from .metadata import ArraySpec
from .store import Store

__all__ = ["decode_chunk", "read_region", "write_region"]


def decode_chunk(spec: ArraySpec, store: Store, key: str, data: Any) -> np.ndarray:
    """Decode the bytes of the chunk at ``key``; any failure names the key.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(2,), dtype=np.dtype("u1"), chunk_shape=(2,)))
    >>> decode_chunk(spec, MappingStore({}), "c/0", b"junk")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ChunkDecodeError: chunk <dict>/c/0 does not decode: ...
    """
    try:
        return spec.pipeline.decode(data)
    except Exception as e:  # noqa: BLE001  (codecs raise many types; all mean corrupt bytes)
        raise ChunkDecodeError(
            f"chunk {store.describe(key)} does not decode: {type(e).__name__}: {e}. The object "
            "is corrupt or was written with other metadata; delete it to read the fill value, "
            "or rewrite it"
        ) from e


def _overlap(chunk: tuple[slice, ...], region: tuple[slice, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """The intersection, as slices into the chunk and into the region's block."""
    src, dst = [], []
    for c, r in zip(chunk, region):
        lo, hi = max(c.start, r.start), min(c.stop, r.stop)
        src.append(slice(lo - c.start, hi - c.start))
        dst.append(slice(lo - r.start, hi - r.start))
    return tuple(src), tuple(dst)


def read_region(spec: ArraySpec, store: Store, region: tuple[slice, ...]) -> np.ndarray:
    """Fetch and decode every stored chunk that ``region`` touches; return the block.

    Missing chunks read as the fill value. Chunks are fetched together (concurrently
    where the store supports it) and each is decoded once.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=7))
    >>> read_region(spec, MappingStore({}), (slice(1, 4),))
    array([7, 7, 7], dtype=int8)
    """
    grid = spec.grid
    indices = list(grid.chunks_in(region))
    keys = [spec.chunk_key(i) for i in indices]
    blobs = store.get_many(keys)
    block_shape = tuple(r.stop - r.start for r in region)
    if len(indices) == 1 and blobs[0] is not None:
        chunk_region = grid.chunk_region(indices[0])
        if chunk_region == region and block_shape == spec.chunk_shape:
            # The block is exactly one whole chunk: hand out the decoded array itself.
            arr = decode_chunk(spec, store, keys[0], blobs[0])
            return arr if arr.flags.writeable else arr.copy()
    if any(b is None for b in blobs):
        out = spec.fill_chunk(block_shape)
    else:
        out = np.empty(block_shape, spec.dtype)
    for index, key, blob in zip(indices, keys, blobs):
        if blob is None:
            continue
        chunk = decode_chunk(spec, store, key, blob)
        src, dst = _overlap(grid.chunk_region(index), region)
        out[dst] = chunk[src]
    return out


def _pad_to_chunk(spec: ArraySpec, part: np.ndarray) -> np.ndarray:
    """Edge chunks are stored full size, the part outside the array filled."""
    if part.shape == spec.chunk_shape:
        return part
    full = spec.fill_chunk(spec.chunk_shape)
    full[tuple(slice(0, s) for s in part.shape)] = part
    return full


def _read_chunk_or_fill(spec: ArraySpec, store: Store, key: str) -> np.ndarray:
    blob = store.get(key)
    if blob is None:
        return spec.fill_chunk(spec.chunk_shape)
    chunk = decode_chunk(spec, store, key, blob)
    return chunk if chunk.flags.writeable else chunk.copy()


def write_region(
    spec: ArraySpec,
    store: Store,
    block: np.ndarray,
    region: tuple[slice, ...],
    offset: tuple[int, ...] | None = None,
    target: tuple[slice, ...] | None = None,
    delete_empty: bool = False,
) -> np.ndarray:
    """Encode and store every chunk that ``block`` touches; return how many were stored.

    ``region`` is the block's place relative to ``offset`` (the write's start in
    the array); ``target`` is the whole write's region (default: the whole array).
    Chunks inside ``target`` are written blind. A chunk that ``target`` covers only
    in part (a region or append edge) is read back, merged and rewritten; the
    planner makes this block its only writer. Chunks that end up holding only the
    fill value are not stored, and deleted when ``delete_empty`` (the array may
    already hold data there).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), compressors=None))
    >>> m = {}
    >>> write_region(spec, MappingStore(m), np.array([0, 0, 1, 2], "i1"), (slice(0, 4),))
    array([1])
    >>> sorted(m)
    ['c/1']
    >>> write_region(spec, MappingStore(m), np.array([5], "i1"), (slice(0, 1),), (2,), (slice(2, 3),))
    array([1])
    >>> list(m["c/1"])
    [5, 2]
    """
    block = np.asarray(block)
    if block.dtype != spec.dtype:
        block = block.astype(spec.dtype)
    if offset is not None:
        region = tuple(slice(r.start + o, r.stop + o) for r, o in zip(region, offset))
    grid = spec.grid
    written = 0
    for index in grid.chunks_in(region):
        chunk_region = grid.chunk_region(index)
        in_block, in_chunk = _overlap(region, chunk_region)
        key = spec.chunk_key(index)
        covered = target is None or all(
            t.start <= c.start and c.stop <= t.stop for t, c in zip(target, chunk_region)
        )
        if covered:
            # A 0-d block is its own single chunk: block[()] would be a scalar, and
            # np.asarray of a bytes scalar shrinks its dtype.
            part = block[in_block] if in_block else block
            full = _pad_to_chunk(spec, part)
        else:
            full = _read_chunk_or_fill(spec, store, key)
            full[in_chunk] = block[in_block]
            part = full[tuple(slice(0, c.stop - c.start) for c in chunk_region)]
        if spec.is_fill(part):
            if delete_empty:
                store.delete(key)
            continue
        store.set(key, spec.pipeline.encode(full))
        written += 1
    return np.full((1,) * block.ndim, written)
