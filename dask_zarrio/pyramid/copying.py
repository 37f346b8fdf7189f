"""Level 0 copied from a source stored exactly as it is: objects stored as fetched, decoded only
to make level 1, one inner chunk at a time.

Where the source has level 0's shape, type, fill value, grid and codecs (:func:`same_encoding`),
its stored objects are level 0's: a stage task fetches each, stores it unchanged and reduces
its values for the next level. A shard is decoded one inner chunk at a time and each is reduced
at once, so a task holds one object encoded and one inner chunk decoded, never its block of
level 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..graph.tasks import ArrayReader, chunk_decode_error, decode_chunk_at, decode_chunk_into_at, stored_limit
from ..layout.grid import covers, overlap
from ..memory.buffers import empty_array
from ..store import Store
from .reduce import downsample

__all__ = ["copy_reduced", "read_copying", "same_encoding"]


def same_encoding(reader: ArrayReader | None, level0: dict[str, Any] | None) -> bool:
    """Whether level 0 stores exactly what the source stores (a Zarr v3 array of the same shape,
    type, fill value, grid and codecs, as :func:`dask_zarrio.write` names them): its objects are
    then copied as fetched instead of decoded and encoded again.

    Examples
    --------
    >>> same_encoding(None, {"zarr_format": 3})
    False
    """
    if reader is None or level0 is None or level0.get("zarr_format") != 3:
        return False
    try:
        raw = reader.store.get("zarr.json")
        source = json.loads(raw) if raw is not None else {}
    except (OSError, ValueError):
        return False
    fields = ("zarr_format", "shape", "data_type", "chunk_grid", "codecs", "fill_value")
    return all(source.get(f) == level0.get(f) for f in fields)


def read_copying(reader: ArrayReader, region: tuple[slice, ...], sink: Store) -> tuple[np.ndarray, int]:
    """The task's block, each stored object fetched, decoded into it and stored unchanged as level
    0's (whose encoding is the source's): level 0 is never encoded, and only one object is held
    encoded at a time. Returns the block and how many objects it stored."""
    spec = reader.spec
    out = empty_array(tuple(r.stop - r.start for r in region), spec.dtype)
    stored = 0
    for index in spec.grid.chunks_in(region):
        key = spec.chunk_key(index)
        blob = reader.store.get_many([key], limit=stored_limit(spec, [index]))[0]
        src, dst = overlap(spec.chunk_region(index), region)
        if blob is None:
            out[dst] = spec.fill_chunk(())
            continue
        if not (covers(region, spec.chunk_region(index)) and decode_chunk_into_at(spec, reader.store, index, blob,
                                                                                   out[dst])):
            out[dst] = decode_chunk_at(spec, reader.store, index, blob)[src]
        sink.set(key, blob)
        stored += 1
        del blob  # let the encoded object go before the next one is fetched
    return out, stored


def _pieces(reader: ArrayReader, index: tuple[int, ...], blob: Any, factors: tuple[int, ...]
            ) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
    """The values of stored object ``index`` (``blob``; ``None``: not stored), each with the part of
    the array it holds: a shard's inner chunks one by one where the factors divide them, else the
    whole object."""
    spec = reader.spec
    region = spec.chunk_region(index)
    extent = tuple(r.stop - r.start for r in region)
    pipeline = spec.pipeline_at(index)
    shard = getattr(pipeline, "array_bytes", None)
    inner = getattr(shard, "chunk_shape", None)
    decode_pieces = getattr(shard, "decode_pieces", None)  # sharding's; not part of the codec contract
    if blob is None:
        yield region, np.broadcast_to(spec.fill_chunk(()), extent)
        return
    if (inner is None or decode_pieces is None or getattr(pipeline, "array_array", True)
            or getattr(pipeline, "bytes_bytes", True) or any(c % f for c, f in zip(inner, factors))):
        yield region, decode_chunk_at(spec, reader.store, index, blob)[tuple(slice(0, n) for n in extent)]
        return
    try:
        for at, values in decode_pieces(blob, spec.grid.chunk_shape_at(index), spec.dtype):
            stops = [min(a.stop, n) for a, n in zip(at, extent)]
            if all(s > a.start for a, s in zip(at, stops)):
                yield (tuple(slice(r.start + a.start, r.start + s) for r, a, s in zip(region, at, stops)),
                       values[tuple(slice(0, s - a.start) for a, s in zip(at, stops))])
    except Exception as e:  # noqa: BLE001  (codecs raise many types; all mean corrupt bytes)
        raise chunk_decode_error(reader.store, spec.chunk_key(index), e) from e


def copy_reduced(reader: ArrayReader, region: tuple[slice, ...], sink: Store, factors: tuple[int, ...],
                 method: str) -> tuple[np.ndarray, int]:
    """Store the source's objects in ``region`` (whole ones) unchanged in ``sink``, one fetched at a
    time; return ``region`` reduced by ``factors`` (the next level's part) and how many were stored.

    Examples
    --------
    >>> from dask_zarrio.graph.tasks import ArrayReader
    >>> from dask_zarrio.metadata import ArraySpec
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> spec = ArraySpec.from_metadata(new_array_metadata(shape=(6,), dtype=np.dtype("u1"), chunk_shape=(4,)))
    >>> src, dst = MappingStore({"c/0": spec.pipeline.encode(np.array([1, 3, 5, 7], "u1"))}), MappingStore({})
    >>> part, stored = copy_reduced(ArrayReader(spec, src), (slice(0, 6),), dst, (2,), "mean")
    >>> part.tolist(), stored, dst.list_keys()
    ([2, 6, 0], 1, ['c/0'])
    """
    spec = reader.spec
    if not spec.grid.is_regular or any(c % f for c, f in zip(spec.grid.chunk_shape, factors)):
        block, stored = read_copying(reader, region, sink)  # objects the factors do not divide: reduce them together
        return downsample(block, factors, method), stored
    out = empty_array(tuple(-(-(r.stop - r.start) // f) for r, f in zip(region, factors)), spec.dtype)
    stored = 0
    for index in spec.grid.chunks_in(region):
        key = spec.chunk_key(index)
        blob = reader.store.get_many([key], limit=stored_limit(spec, [index]))[0]
        if blob is not None:
            sink.set(key, blob)
            stored += 1
        for at, values in _pieces(reader, index, blob, factors):
            part = downsample(values, factors, method)
            out[tuple(slice((a.start - r.start) // f, (a.start - r.start) // f + n)
                      for a, r, f, n in zip(at, region, factors, part.shape))] = part
        del blob  # let the encoded object go before the next one is fetched
    return out, stored
