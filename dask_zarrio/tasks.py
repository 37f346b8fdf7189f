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


def write_region(
    spec: ArraySpec,
    store: Store,
    block: np.ndarray,
    region: tuple[slice, ...],
    delete_empty: bool = False,
) -> np.ndarray:
    """Encode and store every chunk of ``block``, which covers whole chunks of ``region``.

    Chunks that hold only the fill value are not stored (and deleted when
    ``delete_empty``, so that an overwrite leaves no stale data). Returns the
    number of chunks stored, shaped as a one-element block.

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
    """
    block = np.asarray(block)
    if block.dtype != spec.dtype:
        block = block.astype(spec.dtype)
    written = 0
    for index in spec.grid.chunks_in(region):
        chunk_region = spec.grid.chunk_region(index)
        src, _ = _overlap(region, chunk_region)
        # A 0-d block is its own single chunk: block[()] would be a scalar, and
        # np.asarray of a bytes scalar shrinks its dtype.
        part = block[src] if src else block
        key = spec.chunk_key(index)
        if spec.is_fill(part):
            if delete_empty:
                store.delete(key)
            continue
        store.set(key, spec.pipeline.encode(_pad_to_chunk(spec, part)))
        written += 1
    return np.full((1,) * block.ndim, written)
