"""The public calls :func:`read`, :func:`write` and :func:`init`: orchestration only.

``write`` and ``init`` go through the one write lifecycle (:mod:`.writing.target`): the
target resolves where the data goes (a new array's metadata, or a region of an existing
one) without writing, the planner (:mod:`.layout.write_plan`) gives the write plan, the
data is rechunked to it, then the target begins the node, builds the data tasks
(:mod:`.graph.tasks`) and commits; the documents live in :mod:`.metadata`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.utils import parse_bytes

from .errors import MisalignedWriteError, ZarrioError, ZarrioWarning
from .graph.builder import array_from_metadata, write_block
from .graph.progress import on_distributed
from .graph.reread import read_in_blocks
from .layout.write_plan import WritePlan, check_aligned, plan_write
from .metadata.node import read_array_metadata
from .store import Store, open_store
from .store.backends.icechunk_store import is_icechunk, readonly_store
from .typing import (
    ChunkKeyEncodingLike,
    ChunksLike,
    CodecLike,
    CodecsLike,
    DTypeLike,
    RegionLike,
    ShapeLike,
    StoreLike,
)
from .writing.destination import Incoming, NewArray, parse_new_shape
from .writing.incoming import as_dask_array
from .writing.modes import check_mode, default_mode
from .writing.target import PlannedWrite, open_target, refuse_options

__all__ = ["init", "open_array", "prepare_write", "read", "write"]

logger = logging.getLogger("dask_zarrio")


def read(
    url: StoreLike,
    *,
    chunks: ChunksLike = None,
    storage_options: dict[str, Any] | None = None,
    allow_pickle: bool = False,
    branch: str | None = None,
    tag: str | None = None,
    snapshot: str | None = None,
    format: str | None = None,
) -> da.Array:
    """Open a Zarr v2, v3 or N5 array as a lazy dask array.

    Parameters
    ----------
    url
        Local path, ``file://``, ``memory://``, ``s3://…`` or any (chained) fsspec URL,
        an ``fsspec.FSMap``, or a ``MutableMapping``; it may point at an array inside a
        hierarchy (``root.zarr/group/array``). Or an Icechunk ``Repository``, ``Session``,
        its store, or an ``icechunk://folder?path=array`` URL (see :ref:`icechunk`).
    chunks
        Dask chunks: ``None`` (whole stored chunks grouped to about 64 MiB, at least
        16 blocks: :func:`dask_zarrio.layout.write_plan.default_read_chunks`), a tuple, a dict,
        ``"auto"`` (whole stored chunks grouped to about dask's ``array.chunk-size``)
        or ``-1``. Chunks that split stored chunks are read whole and split, so each
        stored chunk is decoded once.
    storage_options
        Options for the fsspec filesystem (credentials, endpoint, ...).
    allow_pickle
        Decode arrays whose codecs unpickle data. This runs code from the store:
        only for stores you trust.
    branch, tag, snapshot
        With an Icechunk repository: the version to read (default the tip of ``"main"``).
        Refused on any other store, where they would mean nothing.
    format
        ``"kerchunk"``: ``url`` is a kerchunk JSON file or Parquet reference folder whose
        root is an array (``storage_options={"remote_options": ...}`` for the files it
        points into), read by byte ranges of those files. An array inside the references:
        ``dz.read("reference://group/array", storage_options={"fo": url})``.

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
    store, meta = open_array(url, storage_options, branch=branch, tag=tag, snapshot=snapshot, format=format)
    return array_from_metadata(store, meta, chunks=chunks, allow_pickle=allow_pickle)


def open_array(url: StoreLike, storage_options: dict[str, Any] | None = None, **versions: Any) -> tuple[Store, Any]:
    """The store and metadata of the array at ``url``, as :func:`read` opens it (``branch``, ``tag``,
    ``snapshot`` of an Icechunk repository, refused elsewhere; ``format``). :func:`dask_zarrio.load` shares it."""
    format = versions.pop("format", None)
    store: Store
    if is_icechunk(url):
        store = readonly_store(url, **versions, storage_options=storage_options)
    else:
        store = open_store(url, storage_options, format=format)
        refuse_options(store.describe(), "not an Icechunk repository", **versions)
    return store, read_array_metadata(store)


def _follow_plan(arr: da.Array, plan: WritePlan, where: str, align: str) -> da.Array:
    """Rechunk ``arr`` to the plan (or refuse with ``align="raise"``); report cut region edges."""
    for axis, edge in plan.cut_edges():
        u, (lo, hi) = plan.unit[axis], plan.unit_around(axis, edge)
        message = (
            f"{where}: the region's edge at {edge} on axis {axis} falls inside stored "
            f"chunk [{lo}, {hi}){f' (chunks[{axis}]={u})' if isinstance(u, int) else ''}; this write "
            "reads, merges and rewrites it, so no other job may write the neighbouring "
            "region at the same time. Align regions to "
            f"{f'multiples of {u}' if isinstance(u, int) else 'stored chunk boundaries'} to write them independently"
        )
        if align == "raise":
            raise MisalignedWriteError(message)
        logger.warning(message)
        warnings.warn(message, ZarrioWarning, stacklevel=4)  # filterable, as xarray's and dask's warnings
        break
    if plan.chunks == arr.chunks:
        return arr
    if align == "raise":
        check_aligned(arr.chunks, plan.unit, plan.offset)
    reread = read_in_blocks(arr, plan.chunks)
    logger.info(
        "%s: %s so that every stored chunk has exactly one writer (from block shape %s to %s)", where,
        "reading the source in other blocks" if reread is not None else "rechunking the dask blocks",
        arr.chunksize, tuple(max(c) for c in plan.chunks),
    )
    if reread is not None:  # each task reads its block itself: no source blocks held for others
        return reread
    return arr.rechunk(plan.chunks, method="p2p" if on_distributed() else None)


def prepare_write(
    arr: da.Array | np.ndarray, url: StoreLike, *, chunks: ChunksLike = None, shards: ShapeLike | None = None,
    compressors: CodecsLike = "auto", filters: CodecsLike = None, serializer: CodecLike | Literal["auto"] = "auto",
    fill_value: Any = None, zarr_format: int | str = 3, order: str = "C",
    chunk_key_encoding: ChunkKeyEncodingLike | None = None,
    mode: str | None = None, region: RegionLike = None, append_dim: int | str | None = None, align: str = "auto",
    max_task_bytes: int | None = None, attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None, storage_options: dict[str, Any] | None = None,
    resume: bool = False, branch: str | None = None, commit: str | None = None, rebase: bool = False,
) -> PlannedWrite:
    """What :func:`write` does before it writes anything, with the same arguments: the
    destination resolved (refused where it cannot be written), the write plan, and the data
    rechunked to it. It reads only; :func:`write` runs the result, :func:`dask_zarrio.plan`
    counts what running it would cost.

    Examples
    --------
    >>> import dask.array as da
    >>> p = prepare_write(da.ones((4, 4), chunks=2), "memory://doc/pw.zarr", chunks=(4, 4), mode="w")
    >>> p.data.chunks, p.requests()  # one chunk, the journal, the metadata; mode="w" checks what it replaces
    (((4,), (4,)), Requests(get=1, put=3, list=3))
    """
    mode = check_mode(default_mode(mode, append_dim=append_dim, region=region), ("w-", "w", "r+", "a"), "dz.write")
    if align not in ("auto", "raise"):
        raise ZarrioError(f"align={align!r} must be 'auto' or 'raise'")
    if region is not None and mode not in ("r+", "a"):
        raise ZarrioError(f"region= needs mode='r+' or 'a', not mode={mode!r}")
    if append_dim is not None and (mode != "a" or not isinstance(append_dim, (int, str))):
        raise ZarrioError(f"append_dim={append_dim!r} needs mode='a' (not {mode!r}) and an axis number or name")
    data = arr if isinstance(arr, da.Array) else as_dask_array(np.asarray(arr), chunks)
    cap = max_task_bytes or parse_bytes(dask.config.get("array.chunk-size"))
    new = NewArray(chunks, shards, compressors, filters, fill_value, zarr_format, order, attributes, dimension_names,
                   serializer, chunk_key_encoding)
    target = open_target(url, storage_options, branch=branch, commit=commit, rebase=rebase)
    try:
        w = target.prepare(data, mode, new=new, cap=cap, region=region, append_dim=append_dim, resume=resume)
        plan = plan_write(data.chunks, w.spec.grid.units, data.dtype.itemsize, target=w.dest.region,
                          shape=w.dest.meta.shape, max_task_bytes=cap)
        data = _follow_plan(data, plan, target.store.describe(), align)
        return PlannedWrite(target, w, plan, data, target.blocks_left(w, plan))
    except BaseException:
        target.abandon()
        raise


def write(
    arr: da.Array | np.ndarray,
    url: StoreLike,
    *,
    chunks: ChunksLike = None,
    shards: ShapeLike | None = None,
    compressors: CodecsLike = "auto",
    filters: CodecsLike = None,
    serializer: CodecLike | Literal["auto"] = "auto",
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    chunk_key_encoding: ChunkKeyEncodingLike | None = None,
    mode: str | None = None,
    region: RegionLike = None,
    append_dim: int | str | None = None,
    align: str = "auto",
    max_task_bytes: int | None = None,
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    storage_options: dict[str, Any] | None = None,
    compute: bool = True,
    resume: bool = False,
    progress: bool = False,
    branch: str | None = None,
    commit: str | None = None,
    rebase: bool = False,
    write_empty_chunks: bool = False,
) -> Delayed | None:
    """Write a dask (or numpy) array to Zarr, one task per block, no locks.

    Argument names follow zarr-python 3's ``create_array``. The chunk-alignment
    planner (:func:`dask_zarrio.layout.write_plan.plan_write`) makes every stored chunk owned by
    exactly one task: dask blocks that would split a chunk are rechunked to the
    nearest chunk boundary first (logged at INFO; ``align="raise"`` refuses instead).
    Re-blocked blocks hold at most the larger of a chunk (or shard) and a source block;
    a ``dz.read`` array (or ``x + 1``, ``np.sqrt(x)``, ``x.astype(...)`` of one) is read
    again in them, so memory grows by at most 4 x threads x that size plus a constant
    (``docs/performance.md``, "Writes that must be re-blocked").

    A new array's metadata is committed once, after all its data: until then the
    node holds a write journal, and ``dz.read`` (and every other reader) finds no
    array there, so a failed or interrupted write never reads as a mix of old, new
    and fill values. Re-run it with ``resume=True`` to write only what is missing.
    An append grows the shape first, by a conditional update: of two concurrent
    appends, the second gets :class:`ConcurrentWriteError` and writes nothing.

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
    serializer
        The array→bytes codec of a new Zarr v3 array, as zarr-python 3's
        ``create_array`` takes it: ``"auto"`` (``bytes``, little-endian; ``vlen-utf8``
        or ``vlen-bytes`` for strings), ``{"name": "bytes", "configuration": {"endian":
        "big"}}``, or a codec that serialises arrays itself such as
        ``{"name": "numcodecs.pcodec", "configuration": {"level": 8}}`` (then usually
        ``compressors=None``). Zarr v2 arrays have none.
    fill_value
        Value of unwritten chunks; ``None`` takes the dtype's zero.
    zarr_format
        3 (default), 2 or ``"n5"``.
    order
        "C" or "F" element order inside chunks (v2 ``order``; v3 ``transpose`` codec).
    chunk_key_encoding
        How chunk indices become store keys, as zarr-python's ``create_array``:
        ``None`` (v3 ``c/0/1``, v2 ``0.1``), ``"default"``, ``"v2"`` or a dict such as
        ``{"name": "default", "separator": "."}``; Zarr v2 takes only ``"v2"``
        (``{"name": "v2", "separator": "/"}`` is v2's ``dimension_separator="/"``).
    mode
        ``"w-"`` create, fail if anything exists (nothing is changed); ``"w"`` replace
        whatever is there; ``"r+"`` write into an existing array (``region``); ``"a"``
        like ``"r+"`` but create the array if missing, and grow it along ``append_dim``.
        ``None`` (default) infers it as xarray's ``to_zarr`` does: ``"a"`` with
        ``append_dim``, ``"r+"`` with ``region``, else ``"w-"``.
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
        write and then commits the metadata; until it is computed, a new array
        reads as incomplete (:class:`IncompleteWriteError`).
    resume
        With ``"w"``/``"w-"``: continue an earlier write of the same array that
        failed or was interrupted (``dz.read`` raises
        :class:`IncompleteWriteError` for it), writing only the blocks whose
        chunks are not all stored yet; the number kept is logged at INFO. The
        arguments must describe the same array (shape, dtype, chunks, codecs),
        else it refuses. Where nothing is there it writes as usual, and an array
        already complete with the same metadata is completed in place.
    progress
        Show a progress bar while writing (with ``compute=True``): dask's
        ``ProgressBar`` on the local schedulers, ``distributed.progress`` when a
        distributed client is active.
    branch, commit, rebase
        With an Icechunk ``url`` (a Repository, a writable Session, ``icechunk://``): the
        branch (default ``"main"``), the commit message (a Repository's write is always
        committed, once, after all its data; a Session's is merged into it, and committed
        only with a message) and whether a concurrent commit is rebased onto
        (:class:`ConcurrentWriteError` otherwise). See :mod:`dask_zarrio.writing.transactions`.
        Refused on any other store: nothing there would be committed or versioned.
    write_empty_chunks
        Store chunks that hold only the fill value too, as zarr-python's option of that name
        (by default they are left out: they read as the fill value anyway).

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
    planned = prepare_write(
        arr, url, chunks=chunks, shards=shards, compressors=compressors, filters=filters, serializer=serializer,
        fill_value=fill_value, zarr_format=zarr_format, order=order, chunk_key_encoding=chunk_key_encoding, mode=mode,
        region=region, append_dim=append_dim, align=align, max_task_bytes=max_task_bytes, attributes=attributes,
        dimension_names=dimension_names, storage_options=storage_options, resume=resume, branch=branch, commit=commit,
        rebase=rebase,
    )
    target, w, data = planned.target, planned.w, planned.data
    if write_empty_chunks:
        w = replace(w, spec=replace(w.spec, write_empty_chunks=True))
    try:
        target.begin(w)
        name = "write-zarr-" + tokenize(data.name, w.sink.token(), json.dumps(w.dest.meta.to_dict(), default=str),
                                        planned.plan.offset)
        logger.debug("writing %s: %d blocks", target.store.describe(), int(np.prod(data.numblocks)))
        done = target.layer(w, write_block, name, data.chunks, (w.spec, planned.plan, w.dest.existed), data=data,
                            todo=planned.todo)
        return target.run(w, done, compute=compute, progress=progress)
    except BaseException:
        target.abandon()
        raise

def init(
    url: StoreLike,
    *,
    shape: ShapeLike,
    dtype: DTypeLike,
    chunks: ShapeLike,
    shards: ShapeLike | None = None,
    compressors: CodecsLike = "auto",
    filters: CodecsLike = None,
    serializer: CodecLike | Literal["auto"] = "auto",
    fill_value: Any = None,
    zarr_format: int | str = 3,
    order: str = "C",
    chunk_key_encoding: ChunkKeyEncodingLike | None = None,
    mode: str = "w-",
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Create an array's metadata only: no data, no graph ("template, then regions").

    Independent jobs then each call ``dz.write(part, url, mode="r+", region=...)``;
    regions aligned to ``chunks`` never share a stored chunk, so they need no
    coordination (a region that cuts chunks is reported: see :func:`write`).
    ``shards``, ``serializer`` and ``chunk_key_encoding`` work as in :func:`write`.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.init("memory://doc/t.zarr", shape=(20,), dtype="f4", chunks=(10,), mode="w")
    >>> dz.write(da.ones(10, chunks=10), "memory://doc/t.zarr", mode="r+", region=(slice(10, 20),))
    >>> dz.read("memory://doc/t.zarr").compute().tolist()[8:12]
    [0.0, 0.0, 1.0, 1.0]
    """
    check_mode(mode, ("w-", "w"), "dz.init")
    new = NewArray(chunks, shards, compressors, filters, fill_value, zarr_format, order, attributes, dimension_names,
                   serializer, chunk_key_encoding)
    shape = parse_new_shape(shape)
    target = open_target(url, storage_options)
    w = target.prepare(Incoming(shape, np.dtype(dtype), ()), mode, new=new, cap=0)
    try:
        target.begin(w)
        target.finish(w, None)  # no data: the metadata alone is committed
    except BaseException:
        target.abandon()
        raise
