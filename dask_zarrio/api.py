"""The public calls: :func:`read` and :func:`write`."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from math import prod
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.utils import parse_bytes

from .errors import ArrayNotFoundError, ContainsArrayError, MisalignedWriteError, ZarrioError
from .graph import array_from_metadata, write_array
from .hierarchy import ensure_parent_groups, update_consolidated
from .metadata import ArrayMetadata, ArrayMetadataN5, ArrayMetadataV3, ArraySpec
from .metadata.create import new_array_metadata
from .metadata.node import read_array_metadata
from .planner import misalignments, plan_write
from .store import Store, open_store

__all__ = ["init", "read", "write"]

logger = logging.getLogger("dask_zarrio")



def read(
    url: Any,
    *,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    allow_pickle: bool = False,
) -> da.Array:
    """Open a Zarr v2 or v3 array as a lazy dask array.

    Parameters
    ----------
    url
        Local path, ``file://``, ``memory://``, ``s3://…`` or any (chained) fsspec URL,
        an ``fsspec.FSMap``, or a ``MutableMapping``; it may point at an array inside a
        hierarchy (``root.zarr/group/array``).
    chunks
        Dask chunks: ``None`` (whole stored chunks grouped to about 64 MiB, at least
        16 blocks: :func:`dask_zarrio.graph.default_read_chunks`), a tuple, a dict,
        ``"auto"`` (whole stored chunks grouped to about dask's ``array.chunk-size``)
        or ``-1``.
        Chunks that split stored chunks are read whole and split, so each stored
        chunk is decoded once.
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


#: Inner chunk size chosen for sharded arrays when ``chunks`` is not given.
_INNER_CHUNK_BYTES = 1 << 20


def _as_shape(value: Any, ndim: int, field: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * ndim
    shape = tuple(int(c) for c in value)
    if len(shape) != ndim:
        raise MisalignedWriteError(
            f"{field}={value!r} has {len(shape)} entries but the array has {ndim} "
            "dimensions; give one length per dimension"
        )
    return shape


def _as_chunk_shape(chunks: Any, arr: da.Array, itemsize: int, max_bytes: int) -> tuple[int, ...]:
    if chunks is None:
        return default_chunk_shape(arr.chunks, itemsize, max_bytes)
    return _as_shape(chunks, arr.ndim, "chunks")


def default_chunk_shape(
    dask_chunks: tuple[tuple[int, ...], ...], itemsize: int, max_bytes: int
) -> tuple[int, ...]:
    """Storage chunks for a new array, chosen so that the usual dask layout needs no rechunk.

    The first dask block along each axis (regular dask chunks then align exactly),
    halved along its longest axis, by divisors of the block, while it exceeds
    ``max_bytes``, so that stored objects stay a sensible size.

    Examples
    --------
    >>> default_chunk_shape(((100, 100, 50), (30,)), 8, 2**20)
    (100, 30)
    >>> default_chunk_shape(((4096,), (4096,)), 8, 2**24)
    (1024, 2048)
    """
    shape = [max(c[0], 1) if c else 1 for c in dask_chunks]
    while prod(shape) * itemsize > max_bytes:
        axis = max(range(len(shape)), key=lambda a: shape[a])
        if shape[axis] < 2 or shape[axis] % 2:
            break
        shape[axis] //= 2
    return tuple(shape)


def check_aligned(
    dask_chunks: tuple[tuple[int, ...], ...], unit: tuple[int, ...], offset: tuple[int, ...] | None = None
) -> None:
    """Raise unless every dask block boundary lies on a storage-unit boundary.

    Otherwise two tasks would write the same stored object and one would lose
    (dask/dask#12583). The message names the axis and the boundary.

    Examples
    --------
    >>> check_aligned(((4, 4, 2),), (4,))
    >>> check_aligned(((3, 3),), (4,))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.MisalignedWriteError: axis 0: the dask block boundary at 3 falls inside ...
    """
    for axis, pos in misalignments(dask_chunks, unit, offset):
        c = unit[axis]
        raise MisalignedWriteError(
            f"axis {axis}: the dask block boundary at {pos} falls inside the stored "
            f"chunk [{pos // c * c}, {pos // c * c + c}) (chunks[{axis}]={c}), so two "
            f"tasks would write it. Rechunk first, e.g. arr.rechunk({{{axis}: {c}}}), "
            f"or pass align='auto' to let dz.write rechunk"
        )


def _write_metadata(store: Store, meta: ArrayMetadata) -> None:
    if isinstance(meta, ArrayMetadataN5):
        store.set("attributes.json", json.dumps(meta.to_dict(), indent=2, allow_nan=False).encode())
        return
    if isinstance(meta, ArrayMetadataV3):
        store.set("zarr.json", json.dumps(meta.to_dict(), indent=2, allow_nan=False).encode())
        return
    store.set(".zarray", json.dumps(meta.to_dict(), indent=2, allow_nan=False).encode())
    if meta.attributes:
        store.set(".zattrs", json.dumps(meta.attributes, indent=2, allow_nan=False).encode())


def _normalize_region(region: Any, shape: tuple[int, ...]) -> tuple[slice, ...]:
    if region is None:
        return tuple(slice(0, n) for n in shape)
    if not isinstance(region, tuple):
        region = (region,)
    if len(region) > len(shape):
        raise ZarrioError(f"region={region!r} has more entries than the array's {len(shape)} dimensions")
    out = []
    for axis, n in enumerate(shape):
        r = region[axis] if axis < len(region) else slice(None)
        if not isinstance(r, slice) or r.step not in (None, 1):
            raise ZarrioError(
                f"region[{axis}]={r!r} must be a slice with step 1, such as slice(0, 10)"
            )
        start, stop, _ = r.indices(n)
        if r.stop is not None and r.stop > n or stop < start:
            raise ZarrioError(
                f"region[{axis}]={r!r} lies outside the array's shape {shape}; "
                "use mode='a' with append_dim= to grow the array"
            )
        out.append(slice(start, stop))
    return tuple(out)


def _axis_index(append_dim: Any, meta: ArrayMetadata) -> int:
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


def _on_distributed() -> bool:
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return False
    return dask.config.get("scheduler", None) in (None, "dask.distributed", "distributed")


def _warn_cut_region(target: tuple[slice, ...], unit: tuple[int, ...], shape: tuple[int, ...], where: str, align: str) -> None:
    """A region whose edges cut units makes this write read-merge-write them."""
    for axis, (t, u, n) in enumerate(zip(target, unit, shape)):
        for edge in (t.start, t.stop):
            if edge % u and edge != n and t.start != t.stop:
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
                return


def _rechunk(arr: da.Array, chunks: tuple[tuple[int, ...], ...], where: str, align: str, offset: tuple[int, ...], unit: tuple[int, ...]) -> da.Array:
    if chunks == arr.chunks:
        return arr
    if align == "raise":
        check_aligned(arr.chunks, unit, offset)
    logger.info(
        "%s: rechunking the dask blocks so that every stored chunk has exactly one writer "
        "(from block shape %s to %s)", where, arr.chunksize, tuple(max(c) for c in chunks),
    )
    method = "p2p" if _on_distributed() else None
    return arr.rechunk(chunks, method=method)


def write(
    arr: Any,
    url: Any,
    *,
    chunks: Any = None,
    shards: Any = None,
    compressors: Any = "auto",
    filters: Any = None,
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    mode: str = "w-",
    region: Any = None,
    append_dim: int | str | None = None,
    align: str = "auto",
    max_task_bytes: int | None = None,
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    storage_options: dict[str, Any] | None = None,
    compute: bool = True,
) -> Any:
    """Write a dask (or numpy) array to Zarr, one task per block, no locks.

    Argument names follow zarr-python 3's ``create_array``. The chunk-alignment
    planner (:mod:`dask_zarrio.planner`) makes every stored chunk owned by exactly
    one task: dask blocks that would split a chunk are rechunked to the nearest
    chunk boundary first (logged at INFO; ``align="raise"`` refuses instead).
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
        Shard shape of a new Zarr v3 array: each stored object then holds a shard of
        ``chunks``-shaped inner chunks (``sharding_indexed``), and the planner's unit is
        the shard. A multiple of ``chunks``; with ``chunks=None`` inner chunks of about
        1 MiB are chosen.
    compressors, filters
        numcodecs codec objects, v3 codec dicts (``{"name": "zstd", "configuration":
        {"level": 3}}``) or lists of them. ``"auto"`` is zstd, zarr-python 3's default.
    fill_value
        Value of unwritten chunks; ``None`` takes the dtype's zero.
    zarr_format
        3 (default) or 2.
    order
        "C" or "F" element order inside chunks (v2 ``order``; v3 ``transpose`` codec).
    mode
        ``"w-"`` create, fail if anything exists (nothing is changed); ``"w"`` replace
        whatever is there; ``"r+"`` write into an existing array (``region``);
        ``"a"`` like ``"r+"`` but create the array if missing, and grow it along
        ``append_dim``.
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
    if mode not in ("w", "w-", "r+", "a"):
        raise ZarrioError(f"mode={mode!r} must be 'w-', 'w', 'r+' or 'a'")
    if align not in ("auto", "raise"):
        raise ZarrioError(f"align={align!r} must be 'auto' or 'raise'")
    if region is not None and mode not in ("r+", "a"):
        raise ZarrioError(f"region= needs mode='r+' or 'a', not mode={mode!r}")
    if append_dim is not None and mode != "a":
        raise ZarrioError(f"append_dim= needs mode='a', not mode={mode!r}")
    if not isinstance(arr, da.Array):
        arr = np.asarray(arr)
        arr = da.from_array(arr, chunks=chunks if chunks is not None else "auto", name=False)
    cap = max_task_bytes or parse_bytes(dask.config.get("array.chunk-size"))
    store = open_store(url, storage_options)
    where = store.describe()

    existing = None
    if mode in ("r+", "a"):
        try:
            existing = read_array_metadata(store)
        except ArrayNotFoundError:
            if mode == "r+":
                raise
    if existing is None:
        if append_dim is not None and not isinstance(append_dim, (int, str)):
            raise ZarrioError(f"append_dim={append_dim!r} must be an axis number or a dimension name")
        shard_shape = None if shards is None else _as_shape(shards, arr.ndim, "shards")
        if shard_shape is not None and chunks is None:
            chunk_shape = default_chunk_shape(tuple((s,) for s in shard_shape), arr.dtype.itemsize, _INNER_CHUNK_BYTES)
        else:
            chunk_shape = _as_chunk_shape(chunks, arr, arr.dtype.itemsize, cap)
        meta: ArrayMetadata = new_array_metadata(
            shard_shape=shard_shape,
            shape=arr.shape,
            dtype=arr.dtype,
            chunk_shape=chunk_shape,
            compressors=compressors,
            filters=filters,
            fill_value=fill_value,
            zarr_format=zarr_format,
            order=order,
            attributes=attributes,
            dimension_names=dimension_names,
        )
        target = _normalize_region(None, meta.shape)
        new_shape = None
    else:
        meta = existing
        if not np.can_cast(arr.dtype, meta.dtype, casting="same_kind"):
            raise ZarrioError(
                f"cannot write dtype {arr.dtype.str!r} into the array at {where} of dtype "
                f"{meta.dtype.str!r}; cast first with arr.astype({meta.dtype.str!r})"
            )
        if append_dim is not None:
            axis = _axis_index(append_dim, meta)
            others = [n for a, n in enumerate(meta.shape) if a != axis]
            theirs = [n for a, n in enumerate(arr.shape) if a != axis]
            if arr.ndim != len(meta.shape) or others != theirs:
                raise ZarrioError(
                    f"cannot append shape {arr.shape} along axis {axis} to the array at {where} "
                    f"of shape {meta.shape}: all other dimensions must match"
                )
            new_shape = tuple(n + (arr.shape[a] if a == axis else 0) for a, n in enumerate(meta.shape))
            meta = meta.resized(new_shape) if isinstance(meta, ArrayMetadataN5) else dataclasses.replace(meta, shape=new_shape)
            target = tuple(
                slice(existing.shape[a], new_shape[a]) if a == axis else slice(0, n)
                for a, n in enumerate(new_shape)
            )
        else:
            new_shape = None
            target = _normalize_region(region, meta.shape)
        wanted = tuple(t.stop - t.start for t in target)
        if wanted != arr.shape:
            raise ZarrioError(
                f"the data's shape {arr.shape} does not match the region {target} of the array "
                f"at {where} (shape {wanted}); slice the data or the region to match"
            )
    spec = ArraySpec.from_metadata(meta)
    unit = spec.chunk_shape
    offset = tuple(t.start for t in target)
    if existing is not None:
        _warn_cut_region(target, unit, meta.shape, where, align)
    planned = plan_write(arr.chunks, unit, arr.dtype.itemsize, offset=offset, max_task_bytes=cap)
    # Keep the user's aligned layout when it is already safe: the cap only shapes merges.
    if not any(True for _ in misalignments(arr.chunks, unit, offset)):
        planned = arr.chunks
    arr = _rechunk(arr, planned, where, align, offset, unit)

    if existing is None:
        _create_array(store, meta, mode)
    elif new_shape is not None:
        _write_metadata(store, meta)  # resized once, before any data task
    name = "write-zarr-" + tokenize(arr.name, store.token(), json.dumps(meta.to_dict(), default=str), offset)
    counts = write_array(
        arr, spec, store, name, offset=offset, target=None if existing is None else target,
        delete_empty=existing is not None,
    )
    logger.debug("writing %s: %d blocks", where, int(np.prod(arr.numblocks)))
    # New or resized metadata reaches enclosing consolidated metadata after the data.
    changed = meta if existing is None or new_shape is not None else None
    if compute:
        counts.compute()
        _finish(counts=None, store=store, meta=changed)
        return None
    return dask.delayed(_finish)(counts, store, changed)


def init(
    url: Any,
    *,
    shape: Sequence[int],
    dtype: Any,
    chunks: Sequence[int],
    shards: Any = None,
    compressors: Any = "auto",
    filters: Any = None,
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
    if mode not in ("w", "w-"):
        raise ZarrioError(f"mode={mode!r} must be 'w-' (create) or 'w' (replace) for dz.init")
    meta = new_array_metadata(
        shard_shape=shards,
        shape=shape, dtype=np.dtype(dtype), chunk_shape=chunks, compressors=compressors,
        filters=filters, fill_value=fill_value, zarr_format=zarr_format, order=order,
        attributes=attributes, dimension_names=dimension_names,
    )
    store = open_store(url, storage_options)
    _create_array(store, meta, mode)


def _create_array(store: Store, meta: ArrayMetadata, mode: str) -> None:
    """Write a new array's metadata (and its parent groups); "w-" refuses, "w" replaces."""
    if mode == "w-":
        if not store.is_empty():
            raise ContainsArrayError(
                f"{store.describe()} already exists; pass mode='w' to replace it, mode='r+' "
                "with region= to write into it, or write to another path"
            )
    elif mode == "w":
        store.clear()
    ensure_parent_groups(store, meta.zarr_format)
    _write_metadata(store, meta)


def _finish(counts: np.ndarray | None, store: Store, meta: ArrayMetadata | None) -> int:
    """After the data tasks: refresh consolidated metadata; the number of chunks stored."""
    if meta is not None:
        update_consolidated(store, meta)
    return 0 if counts is None else int(np.sum(counts))
