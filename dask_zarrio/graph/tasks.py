"""What runs on the workers: read one block, write one block.

Plain module-level functions with small picklable arguments: the array's
:class:`~dask_zarrio.metadata.ArraySpec`, its :class:`~dask_zarrio.store.Store`,
and the block's region. Chunk keys are computed here, not stored in the graph.

A chunk is decoded and encoded by its grid index in one place each
(:func:`decode_chunk_at`, :func:`encode_chunk_at`), and a block is read by one loop
(:func:`read_into`): read, write, rechunk, copy and verify all go through them, so a
chunk grid or data type the :class:`~dask_zarrio.metadata.ArraySpec` describes works
in every operation.
"""

from __future__ import annotations

from itertools import islice
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

__all__ = [
    "ArrayReader", "batches", "bounding_box", "chunk_decode_error", "decode_chunk_at", "decode_chunk_into_at",
    "encode_chunk_at",
    "read_chunk_at", "read_into", "read_region", "stored_limit", "write_region",
]

Region = tuple[slice, ...]


def decode_chunk_at(spec: ArraySpec, store: Store, index: tuple[int, ...], data: Any) -> np.ndarray:
    """Decode ``data``, the stored bytes of chunk ``index``, at that chunk's own shape.

    The one decode of a chunk (read, write, rechunk, copy and verify call it): the
    grid gives the chunk's shape and codecs, so any grid or data type works alike.
    Any failure names the chunk's key (:class:`~dask_zarrio.errors.ChunkDecodeError`,
    the codec's own error as its ``__cause__``).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(5,), dtype=np.dtype("u1"), chunk_shape=((3, 2),)))
    >>> decode_chunk_at(spec, MappingStore({}), (1,), spec.pipeline_at((1,)).encode(np.array([7, 8], "u1")))
    array([7, 8], dtype=uint8)
    >>> decode_chunk_at(spec, MappingStore({}), (0,), b"junk")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ChunkDecodeError: chunk <dict>/c/0 does not decode: ...
    """
    try:
        return spec.pipeline_at(index).decode(data)
    except Exception as e:  # noqa: BLE001  (codecs raise many types; all mean corrupt bytes)
        raise chunk_decode_error(store, spec.chunk_key(index), e) from e


def chunk_decode_error(store: Store, key: str, e: Exception) -> ChunkDecodeError:
    """The error for a stored object that does not decode: names it, says what to do."""
    return ChunkDecodeError(
        f"chunk {store.describe(key)} does not decode: {type(e).__name__}: {e}. The object "
        "is corrupt or was written with other metadata; delete it to read the fill value, "
        "or rewrite it"
    )


def decode_chunk_into_at(spec: ArraySpec, store: Store, index: tuple[int, ...], data: Any, out: np.ndarray) -> bool:
    """Decode chunk ``index`` straight into ``out`` where the codecs allow.

    ``False`` when they do not (the caller decodes with :func:`decode_chunk_at` and
    copies); failures name the key.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(4,), dtype=np.dtype("<u2"), chunk_shape=(2,)))
    >>> block = np.zeros(4, "<u2")
    >>> decode_chunk_into_at(spec, MappingStore({}), (1,), spec.pipeline.encode(np.array([7, 8], "<u2")), block[2:])
    True
    >>> block
    array([0, 0, 7, 8], dtype=uint16)
    """
    try:
        return spec.pipeline_at(index).decode_into(data, out)
    except Exception as e:  # noqa: BLE001
        raise chunk_decode_error(store, spec.chunk_key(index), e) from e


def read_chunk_at(spec: ArraySpec, store: Store, index: tuple[int, ...]) -> np.ndarray:
    """Chunk ``index`` decoded (a writable array of its stored shape), the fill value when not stored.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(5,), dtype=np.dtype("i1"), chunk_shape=((3, 2),), fill_value=4)
    >>> spec = ArraySpec.from_metadata(meta)
    >>> read_chunk_at(spec, MappingStore({}), (1,))
    array([4, 4], dtype=int8)
    """
    blob = store.get_chunk(spec.chunk_key(index), limit=stored_limit(spec, [index]))
    if blob is None:
        return spec.fill_chunk(spec.chunk_shape_at(index))
    chunk = decode_chunk_at(spec, store, index, blob)
    return chunk if chunk.flags.writeable else chunk.copy()


def encode_chunk_at(
    spec: ArraySpec, index: tuple[int, ...], part: np.ndarray, scratch: np.ndarray | None = None,
    pieces: bool = False,
) -> Any:
    """The stored bytes of chunk ``index`` holding ``part``; ``None`` when it holds only the fill value.

    The one encode of a chunk (write, rechunk and copy call it). ``part`` is the
    chunk's part inside the array (its :meth:`~dask_zarrio.metadata.ArraySpec.chunk_region`,
    or the whole stored chunk); it is cast to the array's dtype, and an edge chunk is
    stored full size, the rest filled. ``scratch``, a C-ordered array of the chunk's
    shape, takes a copy of a strided ``part`` instead of new memory (page faults).
    With ``pieces``, the bytes come as a list of pieces to store in order, unjoined: a
    shard's encoded inner chunks and index (:meth:`~dask_zarrio.store.Store.set_parts`).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> meta = new_array_metadata(shape=(5,), dtype=np.dtype("i1"), chunk_shape=((3, 4),), compressors=None)
    >>> spec = ArraySpec.from_metadata(meta)
    >>> bytes(encode_chunk_at(spec, (1,), np.array([1, 2]))), encode_chunk_at(spec, (0,), np.zeros(3, "i1"))
    (b'\\x01\\x02\\x00\\x00', None)
    """
    if part.dtype != spec.dtype:
        part = part.astype(spec.dtype)
    if spec.is_fill(part):
        return None
    shape = spec.chunk_shape_at(index)
    edge = getattr(spec.pipeline_at(index), "encode_edge_parts", None) if pieces and part.shape != shape else None
    if (data := edge(part) if edge is not None else None) is not None:
        return data  # a shard cut by the array's edge: its inner chunks padded, not the whole shard
    if part.shape != shape:
        full = spec.fill_chunk(shape)
        full[tuple(slice(0, s) for s in part.shape)] = part
        part = full
    elif scratch is not None and not part.flags.c_contiguous and scratch.shape == shape and scratch.dtype == part.dtype:
        np.copyto(scratch, part)
        part = scratch
    pipeline = spec.pipeline_at(index)
    data = pipeline.encode_parts(part) if pieces else [pipeline.encode(part)]
    if part is scratch:  # an uncompressed encoding views the reused scratch: copy it out
        data = [bytes(memoryview(d).cast("B")) if np.may_share_memory(np.frombuffer(d, np.uint8), scratch) else d
                for d in data]
    return data if pieces else data[0]


def stored_limit(spec: ArraySpec, indices: list[tuple[int, ...]]) -> int | None:
    """The most bytes any of the stored chunks ``indices`` can have (``None``: no bound, objects).

    What the read tasks pass to :meth:`~dask_zarrio.store.Store.get_many` as ``limit``: the
    chunk's size through its codecs' worst expansion, the bound the decoders hold to, so a
    store refuses an object too big to be the chunk before reading it, not after.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(8,), dtype=np.dtype("u1"), chunk_shape=(4,)))
    >>> stored_limit(spec, [(0,), (1,)])
    65540
    """
    most, seen = 0, set()
    for index in indices:
        shape = spec.chunk_shape_at(index)
        if shape not in seen:  # one pipeline per chunk shape (rectilinear grids have several)
            seen.add(shape)
            size = spec.pipeline_at(index).max_encoded_size
            if size is None:
                return None
            most = max(most, size)
    return most


def batches(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in lists of ``size`` (at least one each): what a task fetches at once.

    Examples
    --------
    >>> batches([1, 2, 3], 2), batches([], 2)
    ([[1, 2], [3]], [])
    """
    it = iter(items)
    out = []
    while batch := list(islice(it, max(1, size))):
        out.append(batch)
    return out


def read_into(spec: ArraySpec, store: Store, region: Region, out: np.ndarray, fetch: int | None = None) -> None:
    """Decode the stored chunks that ``region`` touches into ``out``; the fill value where none is stored.

    The one chunk read loop (dask reads and rechunk tasks): every element of ``out``
    is written. Whole chunks are fetched together (concurrently where the store
    supports it), at most ``fetch`` at a time (``None``: all at once), and each is
    decoded once, straight into ``out`` where the codecs allow. A chunk that
    ``region`` needs only part of is read by ranges where the codecs support partial
    decoding (a shard: its index, then the inner chunks needed).

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=9)
    >>> spec = ArraySpec.from_metadata(meta)
    >>> out = np.empty(3, "i1")
    >>> read_into(spec, MappingStore({"c/1": spec.pipeline.encode(np.array([5, 6], "i1"))}), (slice(1, 4),), out, 1)
    >>> out
    array([9, 5, 6], dtype=int8)
    """
    by_ranges = spec.reads_by_ranges(store)
    fill = spec.fill_chunk(())
    whole: list[tuple[int, ...]] = []
    for index in spec.grid.chunks_in(region):
        chunk_region = spec.chunk_region(index)
        if not by_ranges or covers(region, chunk_region):
            whole.append(index)
            continue
        src, dst = overlap(chunk_region, region)
        out[dst] = fill  # what the inner chunks not stored leave
        key = spec.chunk_key(index)
        spec.pipeline_at(index).decode_partial(store, key, src, out[dst], where=store.describe(key))
    for batch in batches(whole, fetch or len(whole)):
        blobs = store.get_many([spec.chunk_key(i) for i in batch], limit=stored_limit(spec, batch))
        for index, blob in zip(batch, blobs):
            chunk_region = spec.chunk_region(index)
            src, dst = overlap(chunk_region, region)
            if blob is None:
                out[dst] = fill
            elif not (covers(region, chunk_region) and decode_chunk_into_at(spec, store, index, blob, out[dst])):
                out[dst] = decode_chunk_at(spec, store, index, blob)[src]


def read_region(spec: ArraySpec, store: Store, region: Region) -> np.ndarray:
    """Fetch and decode every stored chunk that ``region`` touches; return the block.

    Missing chunks read as the fill value (:func:`read_into`). A block that is exactly
    one stored chunk is that chunk's decoded array itself, not a copy.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> meta = new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=7)
    >>> spec = ArraySpec.from_metadata(meta)
    >>> read_region(spec, MappingStore({}), (slice(1, 4),))
    array([7, 7, 7], dtype=int8)
    """
    block_shape = tuple(r.stop - r.start for r in region)
    indices = list(islice(spec.grid.chunks_in(region), 2))
    if len(indices) == 1 and spec.chunk_region(indices[0]) == region and spec.chunk_shape_at(indices[0]) == block_shape:
        blob = store.get_chunk(spec.chunk_key(indices[0]), limit=stored_limit(spec, indices))
        if blob is None:
            return spec.fill_chunk(block_shape)
        arr = decode_chunk_at(spec, store, indices[0], blob)
        return arr if arr.flags.writeable else arr.copy()
    out = empty_array(block_shape, spec.dtype)
    read_into(spec, store, region, out)
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
    >>> meta = new_array_metadata(shape=(6,), dtype=np.dtype("i1"), chunk_shape=(2,), fill_value=3)
    >>> spec = ArraySpec.from_metadata(meta)
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
    >>> meta = new_array_metadata(shape=(4,), dtype=np.dtype("i1"), chunk_shape=(2,), compressors=None)
    >>> spec = ArraySpec.from_metadata(meta)
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
    encoded: dict[str, list[Any]] = {}
    for index in spec.grid.chunks_in(region):
        chunk_region = spec.chunk_region(index)
        in_block, in_chunk = overlap(region, chunk_region)
        if plan.covers_unit(chunk_region):
            # A 0-d block is its own single chunk: block[()] would be a scalar (bytes ones shrink their dtype).
            part = block[in_block] if in_block else block
        else:
            full = read_chunk_at(spec, store, index)
            full[in_chunk] = block[in_block]
            part = full[tuple(slice(0, c.stop - c.start) for c in chunk_region)]
        data = encode_chunk_at(spec, index, part, pieces=True)
        if data is not None:
            encoded[spec.chunk_key(index)] = data
        elif delete_empty:
            store.delete(spec.chunk_key(index))
    # Several chunks of one block go out together (concurrently on object stores); a shard's
    # pieces are never joined where the store writes pieces (local files): no second copy of it.
    store.set_parts(encoded)
    return np.full((1,) * block.ndim, len(encoded))
