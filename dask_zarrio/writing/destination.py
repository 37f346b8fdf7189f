"""Where a write goes: a new array's metadata, or a region of an existing one.

:func:`resolve_destination` turns ``dz.write``'s arguments (mode, region,
append_dim, resume) and what the store holds into a :class:`Destination`: the
array's metadata after the write, the region the data fills, and whether the
write creates, grows, fills or resumes the array.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from math import prod
from typing import Any, Literal, NamedTuple

import dask.array as da
import numpy as np

from ..errors import (
    ArgumentTypeError,
    ArrayNotFoundError,
    ConcurrentWriteError,
    IncompleteWriteError,
    ZarrioError,
)
from ..layout.default_chunks import new_chunk_shape
from ..layout.write_plan import (
    Region,
    append_region,
    default_inner_chunk_shape,
    normalize_region,
)
from ..metadata import ArrayMetadata, ArrayMetadataN5
from ..metadata.create import new_array_metadata
from ..metadata.journal import WriteJournal, pending_write
from ..metadata.node import read_array_metadata
from ..metadata.rectilinear import edges_from_blocks, extend_edges
from ..metadata.v3 import MAX_ELEMENTS, ArrayMetadataV3
from ..metadata.writer import metadata_key
from ..store import Store
from ..typing import ChunkKeyEncodingLike, ChunksLike, CodecLike, CodecsLike, RegionLike, ShapeLike

__all__ = [
    "Destination", "Incoming", "NewArray", "as_lengths", "as_shape", "block_lengths", "parse_new_shape",
    "resolve_destination",
]

logger = logging.getLogger("dask_zarrio")


class Incoming(NamedTuple):
    """What is about to be written, where no dask array carries it (a rechunk pass, ``dz.init``).

    Examples
    --------
    >>> Incoming((4, 6), np.dtype("f4"), ((4,), (3, 3))).ndim
    2
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunks: tuple[tuple[int, ...], ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class NewArray:
    """What ``dz.write``/``dz.init`` need to describe a new array.

    Examples
    --------
    >>> new = NewArray((2,), None, None, None, None, 3, "C", None, None)
    >>> new.metadata((4,), np.dtype("i1"), ((4,),), 1 << 20).chunk_shape
    (2,)
    """

    chunks: ChunksLike
    shards: ShapeLike | None
    compressors: CodecsLike
    filters: CodecsLike
    fill_value: Any
    zarr_format: int | str
    order: str
    attributes: dict[str, Any] | None
    dimension_names: Sequence[str | None] | None
    serializer: CodecLike | Literal["auto"] = "auto"
    chunk_key_encoding: ChunkKeyEncodingLike | None = None

    def metadata(
        self, shape: tuple[int, ...], dtype: np.dtype[Any], dask_chunks: tuple[tuple[int, ...], ...], cap: int
    ) -> ArrayMetadata:
        """The new array's metadata; chunks default to what makes ``dask_chunks`` align.

        ``chunks="dask"`` stores one chunk per dask block (a rectilinear grid where
        the blocks are irregular); chunk lengths per axis give one explicitly.
        """
        shard_shape: Any = None if self.shards is None else as_lengths(self.shards, len(shape), "shards")
        chunk_shape: Any
        if isinstance(self.chunks, str) and self.chunks == "dask":
            chunk_shape = edges_from_blocks(dask_chunks)
        elif self.chunks is not None:
            chunk_shape = as_lengths(self.chunks, len(shape), "chunks")
        elif shard_shape is not None:
            if not all(isinstance(s, int) for s in shard_shape):
                raise ZarrioError(
                    f"shards={self.shards!r} has irregular lengths: give the inner chunks too, "
                    f"e.g. chunks={(1,) * len(shape)!r}"
                )
            chunk_shape = default_inner_chunk_shape(shard_shape, dtype.itemsize)
        else:
            chunk_shape = new_chunk_shape(shape, dask_chunks, dtype, cap)
            logger.info("no chunks= given: stored chunks %s chosen for shape %s from dask blocks of %s",
                        chunk_shape, shape, tuple(max(c, default=0) for c in dask_chunks))
        return new_array_metadata(
            shape=shape, dtype=dtype, chunk_shape=chunk_shape, shard_shape=shard_shape,
            compressors=self.compressors, filters=self.filters, fill_value=self.fill_value,
            zarr_format=self.zarr_format, order=self.order, attributes=self.attributes,
            dimension_names=self.dimension_names, serializer=self.serializer,
            chunk_key_encoding=self.chunk_key_encoding,
        )


@dataclass(frozen=True)
class Destination:
    """Where a write goes: the array's metadata after it, and the region it fills.

    ``existed``: the array held data before (chunks emptied by the write are
    deleted). ``resized``: an append grew it (its metadata is rewritten before the
    data, conditionally). ``resuming``: a new array whose earlier write is being
    completed (nothing is cleared; units already stored are skipped).
    """

    meta: ArrayMetadata
    region: Region
    existed: bool
    resized: bool
    resuming: bool = False
    before: bytes | None = None  # the metadata document an append read, for its conditional update


def as_shape(value: Any, ndim: int, field: str) -> tuple[int, ...]:
    """One positive length per axis (an int stands for all axes).

    Examples
    --------
    >>> as_shape(4, 2, "chunks"), as_shape([2, 3], 2, "chunks")
    ((4, 4), (2, 3))
    """
    if isinstance(value, (int, np.integer)):
        values: tuple[Any, ...] = (value,) * ndim
    elif isinstance(value, (list, tuple)):
        values = tuple(value)
    else:
        raise ArgumentTypeError(
            f"{field}={value!r} must be a positive integer or one per dimension, e.g. {(8,) * ndim!r}"
        )
    if len(values) != ndim:
        raise ZarrioError(
            f"{field}={value!r} has {len(values)} entries but the array has {ndim} "
            "dimensions; give one length per dimension"
        )
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in values):
        raise ZarrioError(f"{field}={value!r} must hold positive integers, one per dimension")
    return tuple(int(v) for v in values)


def as_lengths(value: Any, ndim: int, field: str) -> tuple[int | tuple[int, ...], ...]:
    """:func:`as_shape`, where an entry may also list one axis's chunk lengths (a rectilinear grid).

    Examples
    --------
    >>> as_lengths(((3, 5, 2), 4), 2, "chunks")
    ((3, 5, 2), 4)
    """
    if isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple)) for v in value):
        if len(value) != ndim:
            raise ZarrioError(f"{field}={value!r} has {len(value)} entries but the array has {ndim} dimensions")
        return tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value)  # create.grid_lengths checks them
    return as_shape(value, ndim, field)


def block_lengths(chunks: Any, shape: tuple[int, ...]) -> Any:
    """Dask blocks that follow the stored chunks given per axis: explicit lengths are clipped to ``shape``.

    Examples
    --------
    >>> block_lengths(((4, 4, 4), 3), (10, 6))
    ((4, 4, 2), 3)
    """
    if not isinstance(chunks, (list, tuple)) or len(chunks) != len(shape):
        return chunks
    out: list[Any] = []
    for lengths, n in zip(chunks, shape):
        if not isinstance(lengths, (list, tuple)):
            out.append(lengths)
            continue
        starts = [0, *accumulate(lengths)]
        out.append(tuple(min(b, n) - a for a, b in zip(starts, starts[1:]) if a < n) or (0,))
    return tuple(out)


def parse_new_shape(shape: Any) -> tuple[int, ...]:
    """A new array's shape: non-negative integers whose product numpy and dask can count.

    Examples
    --------
    >>> parse_new_shape(4), parse_new_shape([2, 0])
    ((4,), (2, 0))
    >>> parse_new_shape((2**40, 2**40))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: shape=(1099511627776, 1099511627776) must hold non-negative ...
    """
    full: tuple[Any, ...] = (shape,) if isinstance(shape, (int, np.integer)) else ()
    if isinstance(shape, (list, tuple)):
        full = tuple(shape)
    counts = bool(full) or isinstance(shape, (list, tuple))
    counts = counts and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in full)
    if not counts or prod(int(n) for n in full) > MAX_ELEMENTS or any(int(n) > MAX_ELEMENTS for n in full):
        raise ZarrioError(
            f"shape={shape!r} must hold non-negative integers, one per dimension, whose product is "
            "below 2**63 (what numpy and dask can count)"
        )
    return tuple(int(n) for n in full)


def _axis_index(append_dim: Any, meta: ArrayMetadata) -> int:
    """The axis number of ``append_dim`` (a number, or a name from ``dimension_names``)."""
    if isinstance(append_dim, str):
        names = meta.dimension_names or ()
        if append_dim not in names:
            raise ZarrioError(
                f"append_dim={append_dim!r} is not one of the array's dimension_names {list(names)!r}"
            )
        return names.index(append_dim)
    if not isinstance(append_dim, int) or not -len(meta.shape) <= append_dim < len(meta.shape):
        raise ZarrioError(
            f"append_dim={append_dim!r} must be an axis number below {len(meta.shape)} or a dimension name"
        )
    return append_dim % len(meta.shape)


def _into_existing(
    arr: da.Array | Incoming, meta: ArrayMetadata, region: RegionLike, append_dim: Any, where: str
) -> Destination:
    """The destination of a write into (or an append to) the array described by ``meta``."""
    if not np.can_cast(arr.dtype, meta.dtype, casting="same_kind"):
        raise ZarrioError(
            f"cannot write dtype {arr.dtype.str!r} into the array at {where} of dtype "
            f"{meta.dtype.str!r}; cast first with arr.astype({meta.dtype.str!r})"
        )
    if append_dim is None:
        target = normalize_region(region, meta.shape)
        wanted = tuple(t.stop - t.start for t in target)
        if wanted != arr.shape:
            raise ZarrioError(
                f"the data's shape {arr.shape} does not match the region {target} of the array "
                f"at {where} (shape {wanted}); slice the data or the region to match"
            )
        return Destination(meta, target, existed=True, resized=False)
    axis = _axis_index(append_dim, meta)
    if arr.ndim != len(meta.shape) or any(
        a != b for i, (a, b) in enumerate(zip(arr.shape, meta.shape)) if i != axis
    ):
        raise ZarrioError(
            f"cannot append shape {arr.shape} along axis {axis} to the array at {where} "
            f"of shape {meta.shape}: all other dimensions must match"
        )
    grown, target = append_region(meta.shape, axis, arr.shape[axis])
    resized = meta.resized(grown) if isinstance(meta, ArrayMetadataN5) else replace(meta, shape=grown)
    if isinstance(resized, ArrayMetadataV3) and resized.chunk_edges is not None:
        # A rectilinear axis grows by chunks that follow the appended data's blocks.
        edges, old = list(resized.chunk_edges), resized.chunk_edges[axis]
        if not isinstance(old, int):
            edges[axis] = new = extend_edges(old, meta.shape[axis], grown[axis], arr.chunks[axis])
            chunk = max(new)
            resized = replace(resized, chunk_edges=tuple(edges), chunk_shape=tuple(
                chunk if a == axis else c for a, c in enumerate(resized.chunk_shape)))
    return Destination(resized, target, existed=True, resized=True)


def _document_read(store: Store, meta: ArrayMetadata) -> bytes | None:
    """The stored bytes of the metadata ``meta`` was read from: an append's expected value.

    Fetched after ``meta``; a document whose shape differs already changed under
    us (another append won), so the write stops before it writes anything.
    """
    key = metadata_key(meta)
    raw = store.get(key)
    shape: tuple[Any, ...] | None = None
    try:
        doc = json.loads(raw) if raw is not None else None
        listed = doc.get("shape", doc.get("dimensions")) if isinstance(doc, dict) else None
        if isinstance(listed, list):
            shape = tuple(reversed(listed)) if isinstance(meta, ArrayMetadataN5) else tuple(listed)
    except ValueError:
        pass
    if shape != meta.shape:
        raise ConcurrentWriteError(
            f"{store.describe(key)} changed while this append read it (another write resized the "
            "array); re-run the append"
        )
    return raw


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A metadata document as JSON would give it back, user attributes aside."""
    out: dict[str, Any] = json.loads(json.dumps(doc, default=str))
    out.pop("attributes", None)
    return out


def _resumed(store: Store, meta: ArrayMetadata, journal: WriteJournal | None) -> Destination:
    """Resume the write ``journal`` records (or complete an array already there) with ``meta``."""
    if journal is not None:
        before, what = journal.metadata, f"the unfinished write begun at {journal.started}"
    else:
        try:
            before, what = read_array_metadata(store).to_dict(), "the array there"
        except ArrayNotFoundError:
            return Destination(meta, normalize_region(None, meta.shape), existed=False, resized=False)
    old, new = _comparable(before), _comparable(meta.to_dict())
    if old != new:
        fields = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        raise ZarrioError(
            f"resume=True: {what} at {store.describe()} differs from this write in {fields!r} "
            f"({ {k: old.get(k) for k in fields}!r} there); resume with the same arguments, "
            "or pass mode='w' without resume to start over"
        )
    return Destination(meta, normalize_region(None, meta.shape), existed=False, resized=False, resuming=True)


def resolve_destination(
    arr: da.Array | Incoming, store: Store, mode: str, region: RegionLike, append_dim: Any, new: NewArray, cap: int,
    *, resume: bool = False,
) -> Destination:
    """Resolve where the data goes: an existing array (r+/a) or a new one (w-/w/a).

    With ``resume``, a new array continues an unfinished write of the same metadata
    (or completes an array already there) instead of replacing it.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> new = NewArray(None, None, None, None, None, 3, "C", None, None)
    >>> d = resolve_destination(da.ones(4, chunks=2), MappingStore({}), "w", None, None, new, 1 << 20)
    >>> d.meta.shape, d.region, d.existed
    ((4,), (slice(0, 4, None),), False)
    """
    if resume and mode not in ("w", "w-"):
        raise ZarrioError(
            f"resume=True completes a write that creates or replaces an array (mode='w' or 'w-'), "
            f"not mode={mode!r}: re-run a region write or an append as it was"
        )
    if mode in ("r+", "a"):
        try:
            meta = read_array_metadata(store)
        except ArrayNotFoundError:
            if mode == "r+":
                raise
        else:
            dest = _into_existing(arr, meta, region, append_dim, store.describe())
            return replace(dest, before=_document_read(store, meta)) if dest.resized else dest
    meta = new.metadata(arr.shape, arr.dtype, arr.chunks, cap)
    journal = pending_write(store) if mode != "w" or resume else None
    if resume:
        return _resumed(store, meta, journal)
    if journal is not None:
        raise IncompleteWriteError(journal.message(store))
    return Destination(meta, normalize_region(None, meta.shape), existed=False, resized=False)
