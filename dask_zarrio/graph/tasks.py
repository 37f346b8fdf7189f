"""What runs on the workers: read one block, write one block.

Plain module-level functions with small picklable arguments: the array's
:class:`~dask_zarrio.metadata.ArraySpec`, its :class:`~dask_zarrio.store.Store`,
and the block's region. Chunk keys are computed here, not stored in the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ChunkDecodeError
from ..layout.grid import covers, overlap
from ..memory.allocator import task
from ..memory.buffers import empty_array
from ..metadata import ArraySpec
from ..store import Store

if TYPE_CHECKING:  # the plan arrives as an argument: tasks never import the planner
    from ..layout.write_plan import WritePlan

__all__ = ["ArrayReader", "bounding_box", "decode_chunk", "decode_chunk_into", "read_region", "write_region"]


def decode_chunk(spec: ArraySpec, store: Store, key: str, data: Any, index: tuple[int, ...] | None = None) -> np.ndarray:
    """Decode the bytes of the chunk at ``key`` (grid ``index``: its shape); any failure names the key.

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
        return (spec.pipeline if index is None else spec.pipeline_at(index)).decode(data)
    except Exception as e:  # noqa: BLE001  (codecs raise many types; all mean corrupt bytes)
        raise _decode_error(store, key, e) from e


def _decode_error(store: Store, key: str, e: Exception) -> ChunkDecodeError:
    return ChunkDecodeError(
        f"chunk {store.describe(key)} does not decode: {type(e).__name__}: {e}. The object "
        "is corrupt or was written with other metadata; delete it to read the fill value, "
        "or rewrite it"
    )


def decode_chunk_into(
    spec: ArraySpec, store: Store, key: str, data: Any, out: np.ndarray, index: tuple[int, ...] | None = None
) -> bool:
    """Decode the chunk at ``key`` straight into ``out`` where the codecs allow.

    ``False`` when they do not (the caller decodes and copies); failures name the key.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("<u2"), chunk_shape=(2,)))
    >>> block = np.zeros(4, "<u2")
    >>> decode_chunk_into(spec, MappingStore({}), "c/1", spec.pipeline.encode(np.array([7, 8], "<u2")), block[2:])
    True
    >>> block
    array([0, 0, 7, 8], dtype=uint16)
    """
    try:
        return (spec.pipeline if index is None else spec.pipeline_at(index)).decode_into(data, out)
    except Exception as e:  # noqa: BLE001
        raise _decode_error(store, key, e) from e


def read_region(spec: ArraySpec, store: Store, region: tuple[slice, ...]) -> np.ndarray:
    """Fetch and decode every stored chunk that ``region`` touches; return the block.

    Missing chunks read as the fill value. Chunks are fetched together (concurrently
    where the store supports it) and each is decoded once. A chunk that the block
    needs only part of is read by ranges where the codecs support partial decoding
    (a shard: its index, then the inner chunks needed).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=7))
    >>> read_region(spec, MappingStore({}), (slice(1, 4),))
    array([7, 7, 7], dtype=int8)
    """
    grid = spec.grid
    pipeline = spec.pipeline
    # Part of a shard is read by byte ranges only where both sides declare they can:
    # a store that serves a range by fetching the whole object would fetch it again
    # for the index and for every run of inner chunks.
    by_ranges = pipeline.supports_partial_decode and store.supports_partial_reads
    whole, partial = [], []
    for index in grid.chunks_in(region):
        if by_ranges and not covers(region, grid.chunk_region(index)):
            partial.append(index)
        else:
            whole.append(index)
    keys = [spec.chunk_key(i) for i in whole]
    blobs = store.get_many(keys) if keys else []
    block_shape = tuple(r.stop - r.start for r in region)
    if len(whole) == 1 and not partial and blobs[0] is not None:
        if grid.chunk_region(whole[0]) == region and block_shape == grid.chunk_shape_at(whole[0]):
            # The block is exactly one whole chunk: hand out the decoded array itself.
            arr = decode_chunk(spec, store, keys[0], blobs[0], whole[0])
            return arr if arr.flags.writeable else arr.copy()
    if partial or any(b is None for b in blobs):
        out = spec.fill_chunk(block_shape)
    else:
        out = empty_array(block_shape, spec.dtype)
    for index, key, blob in zip(whole, keys, blobs):
        if blob is None:
            continue
        chunk_region = grid.chunk_region(index)
        src, dst = overlap(chunk_region, region)
        if covers(region, chunk_region) and decode_chunk_into(spec, store, key, blob, out[dst], index):
            continue
        chunk = decode_chunk(spec, store, key, blob, index)
        out[dst] = chunk[src]
    for index in partial:
        key = spec.chunk_key(index)
        src, dst = overlap(grid.chunk_region(index), region)
        spec.pipeline_at(index).decode_partial(store, key, src, out[dst], where=store.describe(key))
    return out


class ArrayReader:
    """An array-like view of a stored array: indexing reads only the chunks involved.

    The read graph's tasks are ``getter(reader, block_region)``, the form dask's
    optimizer fuses with later slicing, so ``dz.read(url)[5, 5].compute()`` asks
    ``reader[5, 5]``: one chunk (or, in a shard, its index and one inner chunk).
    Pickles by its constructor arguments.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(6,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=3))
    >>> ArrayReader(spec, MappingStore({}))[::-2]
    array([3, 3, 3], dtype=int8)
    """

    def __init__(self, spec: ArraySpec, store: Store) -> None:
        self.spec, self.store = spec, store
        self.shape, self.dtype, self.ndim = spec.shape, spec.dtype, len(spec.shape)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArrayReader, (self.spec, self.store))

    def __repr__(self) -> str:
        return f"ArrayReader({self.store!r}, shape={self.shape}, dtype={self.dtype.str!r})"

    @task
    def __getitem__(self, index: Any) -> np.ndarray:
        box, local = bounding_box(index, self.shape)
        block = read_region(self.spec, self.store, box)
        return block if local is None else block[local]


def bounding_box(index: Any, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[Any, ...] | None]:
    """The smallest step-1 region holding everything ``index`` selects, and ``index`` relative to it.

    ``None`` for the second part when the region is the selection itself.

    Examples
    --------
    >>> bounding_box((slice(2, 8, 3), 4), (10, 10))
    ((slice(2, 6, None), slice(4, 5, None)), (slice(0, 6, 3), 0))
    >>> bounding_box((slice(0, 5),), (10, 3))
    ((slice(0, 5, None), slice(0, 3, None)), None)
    """
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        at = next(n for n, i in enumerate(index) if i is Ellipsis)
        index = index[:at] + (slice(None),) * (len(shape) - len(index) + 1) + index[at + 1 :]
    index = index + (slice(None),) * (len(shape) - len(index))
    box: list[slice] = []
    local: list[Any] = []
    trivial = True
    for i, n in zip(index, shape):
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            i = int(i) + (n if i < 0 else 0)
            box.append(slice(i, i + 1))
            local.append(0)
            trivial = False
        elif isinstance(i, slice):
            r = range(*i.indices(n))
            if len(r) == 0:
                box.append(slice(0, 0))
                local.append(slice(0, 0))
                continue
            lo, hi = min(r[0], r[-1]), max(r[0], r[-1]) + 1
            box.append(slice(lo, hi))
            stop = r.stop - lo
            local.append(slice(r.start - lo, stop if stop >= 0 else None, r.step))
            trivial &= r.step == 1
        else:
            arr = np.asarray(i)
            if arr.dtype == bool:
                arr = np.flatnonzero(arr)
            arr = np.where(arr < 0, arr + n, arr)
            lo, hi = (int(arr.min()), int(arr.max()) + 1) if arr.size else (0, 0)
            box.append(slice(lo, hi))
            local.append(arr - lo)
            trivial = False
    return tuple(box), (None if trivial else tuple(local))


def _pad_to_chunk(spec: ArraySpec, part: np.ndarray, index: tuple[int, ...]) -> np.ndarray:
    """Edge chunks are stored full size, the part outside the array filled."""
    shape = spec.chunk_shape_at(index)
    if part.shape == shape:
        return part
    full = spec.fill_chunk(shape)
    full[tuple(slice(0, s) for s in part.shape)] = part
    return full


def _read_chunk_or_fill(spec: ArraySpec, store: Store, key: str, index: tuple[int, ...]) -> np.ndarray:
    blob = store.get(key)
    if blob is None:
        return spec.fill_chunk(spec.chunk_shape_at(index))
    chunk = decode_chunk(spec, store, key, blob, index)
    return chunk if chunk.flags.writeable else chunk.copy()


@task
def write_region(
    spec: ArraySpec,
    store: Store,
    block: np.ndarray,
    region: tuple[slice, ...],
    plan: WritePlan,
    delete_empty: bool = False,
) -> np.ndarray:
    """Encode and store every chunk that ``block`` touches; return how many were stored.

    ``region`` is the block's place relative to the write's target (``plan``).
    Chunks that the plan covers whole are written blind. A chunk it covers only in
    part (a region or append edge) is read back, merged and rewritten; the plan
    makes this block its only writer. Chunks that end up holding only the fill
    value are not stored, and deleted when ``delete_empty`` (the array may already
    hold data there).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.layout.write_plan import plan_write
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), compressors=None))
    >>> m = {}
    >>> whole = plan_write(((4,),), (2,), 1, target=(slice(0, 4),), shape=(4,))
    >>> write_region(spec, MappingStore(m), np.array([0, 0, 1, 2], "i1"), (slice(0, 4),), whole)
    array([1])
    >>> sorted(m)
    ['c/1']
    >>> part = plan_write(((1,),), (2,), 1, target=(slice(2, 3),), shape=(4,))
    >>> write_region(spec, MappingStore(m), np.array([5], "i1"), (slice(0, 1),), part)
    array([1])
    >>> list(m["c/1"])
    [5, 2]
    """
    block = np.asarray(block)
    if block.dtype != spec.dtype:
        block = block.astype(spec.dtype)
    region = plan.block_region(region)
    grid = spec.grid
    encoded: dict[str, Any] = {}
    for index in grid.chunks_in(region):
        chunk_region = grid.chunk_region(index)
        in_block, in_chunk = overlap(region, chunk_region)
        key = spec.chunk_key(index)
        if plan.covers_unit(chunk_region):
            # A 0-d block is its own single chunk: block[()] would be a scalar, and
            # np.asarray of a bytes scalar shrinks its dtype.
            part = block[in_block] if in_block else block
            full = _pad_to_chunk(spec, part, index)
        else:
            full = _read_chunk_or_fill(spec, store, key, index)
            full[in_chunk] = block[in_block]
            part = full[tuple(slice(0, c.stop - c.start) for c in chunk_region)]
        if spec.is_fill(part):
            if delete_empty:
                store.delete(key)
            continue
        encoded[key] = spec.pipeline_at(index).encode(full)
    # Several chunks of one block go out together (concurrently on object stores).
    store.set_many(encoded)
    return np.full((1,) * block.ndim, len(encoded))
