"""The public calls :func:`read`, :func:`write` and :func:`init`: orchestration only.

``write`` resolves where the data goes (a new array's metadata, or a region of an
existing one), asks the planner for a write plan, rechunks the data to it, builds
the graph and commits the metadata; the maths lives in :mod:`.planner`, the
documents in :mod:`.metadata`, the tasks in :mod:`.tasks`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.utils import parse_bytes

from .errors import ArrayNotFoundError, MisalignedWriteError, ZarrioError
from .graph import array_from_metadata, write_array
from .hierarchy import ensure_parent_groups, update_consolidated
from .metadata import ArrayMetadata, ArrayMetadataN5, ArraySpec
from .metadata.create import new_array_metadata
from .metadata.node import read_array_metadata
from .metadata.writer import check_mode, prepare_node, write_node
from .planner import (
    WritePlan,
    append_region,
    check_aligned,
    default_chunk_shape,
    default_inner_chunk_shape,
    normalize_region,
    plan_write,
)
from .store import Store, open_store
from .typing import ChunksLike, CodecsLike, DTypeLike, RegionLike, ShapeLike, StoreLike

__all__ = ["init", "read", "write"]

logger = logging.getLogger("dask_zarrio")


def read(
    url: StoreLike,
    *,
    chunks: ChunksLike = None,
    storage_options: dict[str, Any] | None = None,
    allow_pickle: bool = False,
) -> da.Array:
    """Open a Zarr v2, v3 or N5 array as a lazy dask array.

    Parameters
    ----------
    url
        Local path, ``file://``, ``memory://``, ``s3://…`` or any (chained) fsspec URL,
        an ``fsspec.FSMap``, or a ``MutableMapping``; it may point at an array inside a
        hierarchy (``root.zarr/group/array``).
    chunks
        Dask chunks: ``None`` (whole stored chunks grouped to about 64 MiB, at least
        16 blocks: :func:`dask_zarrio.planner.default_read_chunks`), a tuple, a dict,
        ``"auto"`` (whole stored chunks grouped to about dask's ``array.chunk-size``)
        or ``-1``. Chunks that split stored chunks are read whole and split, so each
        stored chunk is decoded once.
    storage_options
        Options for the fsspec filesystem (credentials, endpoint, ...).
    allow_pickle
        Decode arrays whose codecs unpickle data. This runs code from the store:
        only for stores you trust.

    Returns
    -------
    dask.array.Array
        Each task fetches and decodes its block's chunks; missing chunks are the
        fill value. Building it costs O(1) in the number of chunks.

    Examples
    --------
    >>> import numpy as np, dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(10, chunks=5), "memory://doc/read.zarr", mode="w")
    >>> dz.read("memory://doc/read.zarr").sum().compute()
    np.int64(45)
    """
    store = open_store(url, storage_options)
    meta = read_array_metadata(store)
    return array_from_metadata(store, meta, chunks=chunks, allow_pickle=allow_pickle)


@dataclass(frozen=True)
class _NewArray:
    """What ``dz.write``/``dz.init`` need to describe a new array."""

    chunks: ChunksLike
    shards: ShapeLike | None
    compressors: CodecsLike
    filters: CodecsLike
    fill_value: Any
    zarr_format: int | str
    order: str
    attributes: dict[str, Any] | None
    dimension_names: Sequence[str | None] | None

    def metadata(self, shape: tuple[int, ...], dtype: np.dtype[Any], dask_chunks: tuple[tuple[int, ...], ...], cap: int) -> ArrayMetadata:
        """The new array's metadata; chunks default to what makes ``dask_chunks`` align."""
        shard_shape = None if self.shards is None else _as_shape(self.shards, len(shape), "shards")
        if self.chunks is not None:
            chunk_shape = _as_shape(self.chunks, len(shape), "chunks")
        elif shard_shape is not None:
            chunk_shape = default_inner_chunk_shape(shard_shape, dtype.itemsize)
        else:
            chunk_shape = default_chunk_shape(dask_chunks, dtype.itemsize, cap)
        return new_array_metadata(
            shape=shape, dtype=dtype, chunk_shape=chunk_shape, shard_shape=shard_shape,
            compressors=self.compressors, filters=self.filters, fill_value=self.fill_value,
            zarr_format=self.zarr_format, order=self.order, attributes=self.attributes,
            dimension_names=self.dimension_names,
        )


@dataclass(frozen=True)
class _Destination:
    """Where a write goes: the array's metadata after it, and the region it fills."""

    meta: ArrayMetadata
    region: tuple[slice, ...]
    existed: bool  # the array held data before: chunks emptied by the write are deleted
    resized: bool  # an append grew it: its metadata is rewritten before the data


def _as_shape(value: Any, ndim: int, field: str) -> tuple[int, ...]:
    """One positive length per axis (an int stands for all axes)."""
    values = (value,) * ndim if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != ndim:
        raise MisalignedWriteError(
            f"{field}={value!r} has {len(values)} entries but the array has {ndim} "
            "dimensions; give one length per dimension"
        )
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in values):
        raise ZarrioError(f"{field}={value!r} must hold positive integers, one per dimension")
    return tuple(int(v) for v in values)


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


def _into_existing(arr: da.Array, meta: ArrayMetadata, region: RegionLike, append_dim: Any, where: str) -> _Destination:
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
        return _Destination(meta, target, existed=True, resized=False)
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
    return _Destination(resized, target, existed=True, resized=True)


def _destination(arr: da.Array, store: Store, mode: str, region: RegionLike, append_dim: Any, new: _NewArray, cap: int) -> _Destination:
    """Resolve where the data goes: an existing array (r+/a) or a new one (w-/w/a)."""
    if mode in ("r+", "a"):
        try:
            return _into_existing(arr, read_array_metadata(store), region, append_dim, store.describe())
        except ArrayNotFoundError:
            if mode == "r+":
                raise
    meta = new.metadata(arr.shape, arr.dtype, arr.chunks, cap)
    return _Destination(meta, normalize_region(None, meta.shape), existed=False, resized=False)


def _on_distributed() -> bool:
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return False
    return dask.config.get("scheduler", None) in (None, "dask.distributed", "distributed")


def _follow_plan(arr: da.Array, plan: WritePlan, where: str, align: str) -> da.Array:
    """Rechunk ``arr`` to the plan (or refuse with ``align="raise"``); report cut region edges."""
    for axis, edge in plan.cut_edges():
        u = plan.unit[axis]
        message = (
            f"{where}: the region's edge at {edge} on axis {axis} falls inside stored "
            f"chunk [{edge // u * u}, {edge // u * u + u}) (chunks[{axis}]={u}); this write "
            "reads, merges and rewrites it, so no other job may write the neighbouring "
            f"region at the same time. Align regions to multiples of {u} to write them "
            "independently"
        )
        if align == "raise":
            raise MisalignedWriteError(message)
        logger.warning(message)
        break
    if plan.chunks == arr.chunks:
        return arr
    if align == "raise":
        check_aligned(arr.chunks, plan.unit, plan.offset)
    logger.info(
        "%s: rechunking the dask blocks so that every stored chunk has exactly one writer "
        "(from block shape %s to %s)", where, arr.chunksize, tuple(max(c) for c in plan.chunks),
    )
    return arr.rechunk(plan.chunks, method="p2p" if _on_distributed() else None)


def _commit_metadata(store: Store, dest: _Destination, mode: str) -> None:
    """Metadata first, before any data task: a new array's documents, or the grown shape."""
    if not dest.existed:
        prepare_node(store, mode)
        ensure_parent_groups(store, dest.meta.zarr_format)
        write_node(store, dest.meta)
    elif dest.resized:
        write_node(store, dest.meta)


def _finish(counts: np.ndarray | None, store: Store, meta: ArrayMetadata | None) -> int:
    """After the data tasks: refresh consolidated metadata; the number of chunks stored."""
    if meta is not None:
        update_consolidated(store, meta)
    return 0 if counts is None else int(np.sum(counts))


def write(
    arr: da.Array | np.ndarray,
    url: StoreLike,
    *,
    chunks: ChunksLike = None,
    shards: ShapeLike | None = None,
    compressors: CodecsLike = "auto",
    filters: CodecsLike = None,
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    mode: str = "w-",
    region: RegionLike = None,
    append_dim: int | str | None = None,
    align: str = "auto",
    max_task_bytes: int | None = None,
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    storage_options: dict[str, Any] | None = None,
    compute: bool = True,
) -> Delayed | None:
    """Write a dask (or numpy) array to Zarr, one task per block, no locks.

    Argument names follow zarr-python 3's ``create_array``. The chunk-alignment
    planner (:func:`dask_zarrio.planner.plan_write`) makes every stored chunk owned by
    exactly one task: dask blocks that would split a chunk are rechunked to the
    nearest chunk boundary first (logged at INFO; ``align="raise"`` refuses instead).
    Metadata is written once, before any data task runs.

    Parameters
    ----------
    arr
        A ``dask.array.Array`` (a numpy array is wrapped with one block per chunk).
    url
        Where to write (see :func:`read`). Parent groups are created up to the
        hierarchy root: the nearest ancestor that is a group or ends in ``.zarr``.
    chunks
        Stored chunk shape of a new array; ``None`` takes the first dask block along
        each axis (halved while over ``max_task_bytes``).
    shards
        Shard shape of a new Zarr v3 array (``sharding_indexed``): the planner's unit
        is then the shard. A multiple of ``chunks``; with ``chunks=None`` inner chunks
        of about 1 MiB are chosen.
    compressors, filters
        numcodecs codec objects, v3 codec dicts (``{"name": "zstd", "configuration":
        {"level": 3}}``) or lists of them. ``"auto"`` is zstd, zarr-python 3's default.
    fill_value
        Value of unwritten chunks; ``None`` takes the dtype's zero.
    zarr_format
        3 (default), 2 or ``"n5"``.
    order
        "C" or "F" element order inside chunks (v2 ``order``; v3 ``transpose`` codec).
    mode
        ``"w-"`` create, fail if anything exists (nothing is changed); ``"w"`` replace
        whatever is there; ``"r+"`` write into an existing array (``region``); ``"a"``
        like ``"r+"`` but create the array if missing, and grow it along ``append_dim``.
    region
        With ``"r+"``/``"a"``: a tuple of slices (step 1) where ``arr`` goes; missing
        trailing axes are whole. Chunks cut by the region's edges are read, merged
        and rewritten by one task; data outside the region never changes.
    append_dim
        With ``"a"``: the axis (number, or name from ``dimension_names``) to grow.
    align
        ``"auto"`` rechunks misaligned blocks; ``"raise"`` raises
        :class:`MisalignedWriteError` instead (also for regions that cut chunks).
    max_task_bytes
        Memory cap for one planned block; default dask's ``array.chunk-size``.
    attributes, dimension_names
        User attributes and per-dimension names (v2: ``_ARRAY_DIMENSIONS``).
    storage_options
        Options for the fsspec filesystem.
    compute
        When ``False``, return a ``dask.delayed.Delayed`` that performs the data
        write; only metadata is written before it is computed.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> x = da.ones((100, 100), chunks=25)
    >>> dz.write(x * 2, "memory://doc/w.zarr", chunks=(40, 40), mode="w")  # rechunked, not corrupted
    >>> float(dz.read("memory://doc/w.zarr").mean().compute())
    2.0
    >>> dz.write(da.zeros((10, 100), chunks=10), "memory://doc/w.zarr", mode="a", append_dim=0)
    >>> dz.read("memory://doc/w.zarr").shape
    (110, 100)
    """
    check_mode(mode, ("w-", "w", "r+", "a"), "dz.write")
    if align not in ("auto", "raise"):
        raise ZarrioError(f"align={align!r} must be 'auto' or 'raise'")
    if region is not None and mode not in ("r+", "a"):
        raise ZarrioError(f"region= needs mode='r+' or 'a', not mode={mode!r}")
    if append_dim is not None and (mode != "a" or not isinstance(append_dim, (int, str))):
        raise ZarrioError(f"append_dim={append_dim!r} needs mode='a' (not {mode!r}) and an axis number or name")
    data = arr if isinstance(arr, da.Array) else da.from_array(
        np.asarray(arr), chunks=chunks if chunks is not None else "auto", name=False
    )
    cap = max_task_bytes or parse_bytes(dask.config.get("array.chunk-size"))
    new = _NewArray(chunks, shards, compressors, filters, fill_value, zarr_format, order, attributes, dimension_names)
    store = open_store(url, storage_options)
    dest = _destination(data, store, mode, region, append_dim, new, cap)
    spec = ArraySpec.from_metadata(dest.meta)
    plan = plan_write(data.chunks, spec.chunk_shape, data.dtype.itemsize, target=dest.region, shape=dest.meta.shape, max_task_bytes=cap)
    data = _follow_plan(data, plan, store.describe(), align)
    _commit_metadata(store, dest, mode)
    name = "write-zarr-" + tokenize(data.name, store.token(), json.dumps(dest.meta.to_dict(), default=str), plan.offset)
    counts = write_array(data, spec, store, plan, name, delete_empty=dest.existed)
    logger.debug("writing %s: %d blocks", store.describe(), int(np.prod(data.numblocks)))
    # New or resized metadata reaches enclosing consolidated metadata after the data.
    changed = dest.meta if not dest.existed or dest.resized else None
    if compute:
        counts.compute()
        _finish(counts=None, store=store, meta=changed)
        return None
    return dask.delayed(_finish)(counts, store, changed)


def init(
    url: StoreLike,
    *,
    shape: ShapeLike,
    dtype: DTypeLike,
    chunks: ShapeLike,
    shards: ShapeLike | None = None,
    compressors: CodecsLike = "auto",
    filters: CodecsLike = None,
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    mode: str = "w-",
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Create an array's metadata only: no data, no graph ("template, then regions").

    Independent jobs then each call ``dz.write(part, url, mode="r+", region=...)``;
    regions aligned to ``chunks`` never share a stored chunk, so they need no
    coordination (a region that cuts chunks is reported: see :func:`write`).
    ``shards`` works as in :func:`write`.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.init("memory://doc/t.zarr", shape=(20,), dtype="f4", chunks=(10,), mode="w")
    >>> dz.write(da.ones(10, chunks=10), "memory://doc/t.zarr", mode="r+", region=(slice(10, 20),))
    >>> dz.read("memory://doc/t.zarr").compute().tolist()[8:12]
    [0.0, 0.0, 1.0, 1.0]
    """
    check_mode(mode, ("w-", "w"), "dz.init")
    new = _NewArray(chunks, shards, compressors, filters, fill_value, zarr_format, order, attributes, dimension_names)
    full_shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in full_shape):
        raise ZarrioError(f"shape={shape!r} must hold non-negative integers, one per dimension")
    meta = new.metadata(tuple(int(n) for n in full_shape), np.dtype(dtype), (), 0)
    store = open_store(url, storage_options)
    _commit_metadata(store, _Destination(meta, (), existed=False, resized=False), mode)
