"""What runs on the workers during a rechunk or copy: one task writes one block.

Each function takes the two arrays' :class:`~dask_zarrio.metadata.ArraySpec` and
stores and its block's region (a union of whole target units), and returns how
many objects it stored. Memory is what :mod:`dask_zarrio.layout.rechunk_plan` counts:
the block, one decoded source chunk, one target unit being encoded, and at most
``fetch`` fetched source chunks; target units are stored as soon as they are
encoded, never collected.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import product
from math import prod

import numpy as np

from ..codecs.sharding import EMPTY, ShardingCodec
from ..graph.tasks import batches, encode_chunk_at, read_into, stored_limit
from ..layout.grid import covers, overlap
from ..memory.allocator import task
from ..metadata import ArraySpec
from ..store import Store

# ``read_into`` (graph.tasks's one chunk read loop) is looked up here when a task runs: tests wrap it.
__all__ = ["CONSUMED", "assemble_shards", "consumed_key", "copy_chunks", "read_into", "rechunk_block"]

Region = tuple[slice, ...]
#: Threads of one undecoded copy task on stores without concurrent requests (local files).
#: Objects of one folder are created one at a time by the kernel (its lock on the folder):
#: on the issue's copy, 2 per task took 0.40 s, 8 took 0.69 s (in memory; level on disk).
COPY_THREADS = 2
#: The intermediate array's compression is kept where it saves at least this share of the
#: bytes: it costs an encode and a decode (blosc-lz4: about 1 GB/s and 5 GB/s per thread),
#: which pays on a network store or to save disk, not on a local disk for 12 % (the issue's
#: float32 maps compress 1.13x with it: 0.9 s of a thread per GB for 12 % of the bytes).
MIN_SAVING = 0.2
#: Keys a second-pass task stores in the intermediate array when it has read its chunks there
#: for the last time (:func:`consumed_key`); dask_zarrio's own (``.dz-``), deleted with it.
CONSUMED = ".dz-consumed-"


def consumed_key(region: Region) -> str:
    """The key a second-pass task stores in the intermediate array once it has stored its
    units, before it deletes the intermediate chunks it has read.

    Examples
    --------
    >>> consumed_key((slice(0, 10), slice(96, 192)))
    '.dz-consumed-0.96'
    """
    return CONSUMED + ".".join(str(r.start) for r in region)


def _inside(spec: ArraySpec, region: Region) -> list[str]:
    """The keys of the chunks wholly inside ``region``: no other block of a pass reads them."""
    return [spec.chunk_key(i) for i in spec.grid.chunks_in(region) if covers(region, spec.grid.chunk_region(i))]


@task
def rechunk_block(
    src: ArraySpec, src_store: Store, dst: ArraySpec, dst_store: Store, region: Region, fetch: int,
    plain: ArraySpec | None = None, consume: bool = False,
) -> np.ndarray:
    """Write the target units of ``region``: decode the source chunks it overlaps into one
    block, then encode and store its units one at a time (those holding only the fill
    value are not stored). Casts to the target's dtype unit by unit.

    ``plain`` (the intermediate array's) stores the same values in bytes ``dst`` reads,
    encoded at no cost: where ``dst``'s first encoded unit saves less than
    :data:`MIN_SAVING` of its bytes, the block's other units are stored with it.

    ``consume`` (reading the intermediate array): once its units are stored, the task
    stores :func:`consumed_key` and deletes the source chunks wholly inside its block,
    which no other task reads. A local disk then reuses their memory for the target and
    never writes them back. A run that finds its key there (the task ran before, on a
    worker that was lost, or before a resume) only finishes the deleting.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> a = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(4,)))
    >>> b = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,)))
    >>> m = {}
    >>> src = MappingStore({"c/0": a.pipeline.encode(np.array([0, 0, 1, 2], "i1"))})
    >>> rechunk_block(a, src, b, MappingStore(m), (slice(0, 4),), 1)
    array([1])
    >>> sorted(m)
    ['c/1']
    """
    owned = _inside(src, region) if consume else []
    if owned and src_store.exists(consumed_key(region)):
        _delete(src_store, owned)
        return np.zeros((1,) * len(region), np.int64)
    # read_into writes every element. Not the read buffer pool: blocks of max_mem each would stay
    # resident there (the peak memory test measured 20 MiB more on 2 threads).
    block = np.empty(tuple(r.stop - r.start for r in region), src.dtype)
    read_into(src, src_store, region, block, fetch)
    stored = 0
    encoder = dst
    scratch: np.ndarray | None = None  # one contiguous unit, reused: fresh memory costs page faults
    for index in dst.grid.chunks_in(region):
        part = block[overlap(dst.chunk_region(index), region)[1]]
        if scratch is None and not part.flags.c_contiguous and part.shape == dst.chunk_shape_at(index):
            scratch = np.empty(part.shape, dst.dtype)
        data = encode_chunk_at(encoder, index, part, scratch)
        if data is None:
            continue
        if plain is not None:  # the block's first stored unit decides for the others
            nbytes = prod(dst.chunk_shape_at(index)) * dst.dtype.itemsize
            if len(memoryview(data).cast("B")) > (1 - MIN_SAVING) * nbytes:
                encoder = plain
            plain = None
        dst_store.set(dst.chunk_key(index), data)
        stored += 1
    if owned:
        src_store.set(consumed_key(region), b"")  # first: a rerun must not take deleted chunks for fill
        _delete(src_store, owned)
    return np.full((1,) * len(region), stored)


def _delete(store: Store, keys: list[str]) -> None:
    for key in keys:
        store.delete(key)


@task
def copy_chunks(
    src: ArraySpec, src_store: Store, dst: ArraySpec, dst_store: Store, region: Region, fetch: int
) -> np.ndarray:
    """Copy the stored bytes of the chunks of ``region`` undecoded (same grid, codecs that
    read the same bytes); only the keys change (``0.0`` → ``c/0/0``).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> a = ArraySpec.from_metadata(
    ...     new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), zarr_format=2))
    >>> b = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,)))
    >>> m = {}
    >>> copy_chunks(a, MappingStore({"1": b"xy"}), b, MappingStore(m), (slice(0, 4),), 4)
    array([1])
    >>> m
    {'c/1': b'xy'}
    """
    indices = list(src.grid.chunks_in(region))
    if not (src_store.supports_concurrent_requests and dst_store.supports_concurrent_requests):
        return np.full((1,) * len(region), _copy_threaded(src, src_store, dst, dst_store, indices, fetch))
    stored = 0
    for batch in batches(indices, fetch):
        blobs = src_store.get_many([src.chunk_key(i) for i in batch], limit=stored_limit(src, batch))
        found = {dst.chunk_key(i): b for i, b in zip(batch, blobs) if b is not None}
        dst_store.set_many(found)
        stored += len(found)
    return np.full((1,) * len(region), stored)


def _copy_threaded(
    src: ArraySpec, src_store: Store, dst: ArraySpec, dst_store: Store, indices: list[tuple[int, ...]], fetch: int
) -> int:
    """Copy objects one by one on ``fetch`` threads (at most ``fetch`` held at once), for
    stores that answer one request at a time (local files): a copy is system calls, and
    these wait in the kernel without the GIL, so they overlap."""

    def one(index: tuple[int, ...]) -> int:
        return int(dst_store.copy_object(src_store, src.chunk_key(index), dst.chunk_key(index)))

    if fetch <= 1 or len(indices) <= 1:
        return sum(map(one, indices))
    with ThreadPoolExecutor(min(fetch, COPY_THREADS, len(indices))) as pool:
        return sum(pool.map(one, indices))


@task
def assemble_shards(
    src: ArraySpec, src_store: Store, dst: ArraySpec, dst_store: Store, region: Region, fetch: int
) -> np.ndarray:
    """Build each shard of ``region`` from the source's stored chunks (its inner chunks,
    byte for byte) and their index, without decoding; shards with no stored chunk are
    not stored.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> a = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,)))
    >>> b = ArraySpec.from_metadata(
    ...     new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), shard_shape=(4,)))
    >>> chunk = a.pipeline.encode(np.array([1, 2], "i1"))
    >>> m = {}
    >>> assemble_shards(a, MappingStore({"c/1": chunk}), b, MappingStore(m), (slice(0, 4),), 4)
    array([1])
    >>> b.pipeline.decode(m["c/0"])
    array([0, 0, 1, 2], dtype=int8)
    """
    stored = 0
    for shard in dst.grid.chunks_in(region):
        data = _shard_of_chunks(src, src_store, dst, shard, fetch)
        if data is not None:
            dst_store.set(dst.chunk_key(shard), data)
            stored += 1
    return np.full((1,) * len(region), stored)


def _shard_of_chunks(
    src: ArraySpec, src_store: Store, dst: ArraySpec, shard: tuple[int, ...], fetch: int
) -> bytes | None:
    """Shard ``shard`` of ``dst`` made of ``src``'s stored chunks and their index; ``None`` when none is stored.

    The shard's own shape and codec (a rectilinear grid's shards differ); the source's
    grid is regular, its chunks the shard's inner chunks, so the shard's inner chunk
    ``inner`` is the source's chunk ``origin // chunk + inner``.
    """
    codec = dst.pipeline_at(shard).array_bytes  # type: ignore[attr-defined]
    assert isinstance(codec, ShardingCodec)  # the planner chose this path for sharded targets only
    layout = codec.layout(dst.chunk_shape_at(shard), dst.dtype)
    origin = tuple(r.start for r in dst.chunk_region(shard))
    index = np.full((*layout.chunks_per_shard, 2), EMPTY, np.uint64)
    parts: list[bytes] = []
    pos = layout.index_nbytes if layout.index_at_start else 0
    for batch in batches(list(product(*(range(n) for n in layout.chunks_per_shard))), fetch):
        source = [tuple(o // c + i for o, c, i in zip(origin, layout.chunk_shape, inner)) for inner in batch]
        inside = [all(s * c < n for s, c, n in zip(idx, layout.chunk_shape, src.shape)) for idx in source]
        keys = [src.chunk_key(idx) for idx, ok in zip(source, inside) if ok]
        limit = stored_limit(src, [idx for idx, ok in zip(source, inside) if ok]) if keys else None
        blobs = iter(src_store.get_many(keys, limit=limit) if keys else [])
        for inner, ok in zip(batch, inside):
            blob = next(blobs) if ok else None
            if blob is None:
                continue
            data = bytes(memoryview(blob).cast("B"))
            index[inner] = (pos, len(data))
            parts.append(data)
            pos += len(data)
    if not parts:
        return None
    encoded_index = bytes(memoryview(layout.index.encode(index)).cast("B"))
    body = b"".join(parts)
    return encoded_index + body if layout.index_at_start else body + encoded_index
