"""``dz.plan``: a dry run of a copy, a rechunk or a write — what it would do and cost.

The plan is the operation's own job, built as ``compute=False`` builds it
(:func:`dask_zarrio.copy`, :func:`dask_zarrio.rechunk`, :func:`dask_zarrio.api.prepare_write`),
on a :class:`~dask_zarrio.writing.dry_run.DryRun` of the stores: building it reads what the
operation reads (the source's metadata, a group's listing), and the job counts what running
it would request (``requests()``): its data tasks' from its passes, and its lifecycle (journals,
metadata, groups, an intermediate array) by running those steps on the dry run, which writes
nothing. So the counts are the operation's by construction. A chunk that is not stored still
costs its GET, and a chunk equal to the fill value is counted as a PUT although it is not
written, so the PUT count (and bytes written, decoded) is an upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.system import CPU_COUNT

from ..api import prepare_write
from ..errors import ZarrioError
from ..graph.builder import array_from_metadata
from ..layout.rechunk_plan import Pass
from ..layout.requests import overlaps
from ..metadata import ArraySpec
from ..metadata.node import read_array_metadata
from ..rechunking.copy import copy
from ..rechunking.rechunk import Rechunk, parse_max_mem, rechunk
from ..rechunking.target import KEEP
from ..store import Store, open_store
from ..typing import StoreLike
from ..writing.dry_run import DryRun, Requests
from .plan_report import S3_STANDARD_PRICES, ArrayPlan, Plan, price_per_1000

__all__ = ["OPERATIONS", "S3_STANDARD_PRICES", "ArrayPlan", "Plan", "plan", "price_per_1000"]

OPERATIONS = ("copy", "rechunk", "write")
#: Metadata requests of a pass: the source's document read twice (plan, pass) and the journal
#: once; with an intermediate, one more: the check that nothing but Zarr sits where it is
#: written (a HEAD, priced as a GET; its metadata is known from the first pass); the journal
#: and the target's document written (v2: ``.zattrs`` too).
_META_GETS, _META_GETS_LATER, _META_PUTS = 3, 1, 2


def _array_plan(path: str, job: Rechunk, spent: Requests) -> ArrayPlan:
    temp = None if job.temp is None else job.temp.describe()
    return ArrayPlan(path, job.source.describe(), job.target.describe(), job.plan.passes, spent.get, spent.put,
                     spent.list, temp)


def plan(
    operation: str,
    source: StoreLike | da.Array | np.ndarray,
    target: StoreLike,
    *,
    chunks: Any = KEEP,
    shards: Any = KEEP,
    compressors: Any = KEEP,
    filters: Any = KEEP,
    zarr_format: int | str | None = None,
    max_mem: int | str = "256MiB",
    temp: str | None = None,
    mode: str = "w-",
    resume: bool = False,
    threads: int | None = None,
    prices: Mapping[str, float] | None = None,
    storage_options: dict[str, Any] | None = None,
    target_options: dict[str, Any] | None = None,
) -> Plan:
    """What ``dz.copy``, ``dz.rechunk`` or ``dz.write`` would do, without doing it.

    The plan is the job ``compute=False`` gives (the same passes, blocks and memory
    bound), with the requests running it would make: GETs of source objects (a shard's
    index too, where inner chunks are read by byte ranges), PUTs of target objects (an
    upper bound: chunks equal to the fill value are not written), the metadata documents,
    journals and groups, and LISTs. Nothing is written; what the operation reads before it
    writes (the source's metadata, a group's members, the target) is read, and what it
    would refuse (a target that exists with ``mode="w-"``) is refused.

    Parameters
    ----------
    operation
        ``"copy"`` (an array or a group), ``"rechunk"`` (an array) or ``"write"``.
    source
        What to read: a URL for copy/rechunk; for write also a dask or numpy array.
    target
        Where it would go.
    chunks, shards, compressors, filters, zarr_format, max_mem, temp, mode, resume
        As :func:`dask_zarrio.copy`, :func:`dask_zarrio.rechunk` and :func:`dask_zarrio.write`
        take them. For write, ``max_mem`` caps a planned block, ``"keep"`` means the defaults.
    threads
        Threads per worker, for the peak memory per worker (default: dask's, the CPU count).
    prices
        US dollars per 1000 requests by ``"get"``, ``"put"``, ``"list"``; default
        :data:`S3_STANDARD_PRICES` (AWS S3 Standard: GET 0.0004, PUT and LIST 0.005).
    storage_options, target_options
        Options for the source's and the target's filesystems.

    Returns
    -------
    Plan

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.ones((4, 4), chunks=(1, 4)), "memory://doc/plan.zarr", mode="w", chunks=(1, 4))
    >>> p = dz.plan("rechunk", "memory://doc/plan.zarr", "memory://doc/plan2.zarr", chunks=(4, 1), threads=2)
    >>> p.passes, p.tasks, p.requests["put"], p.peak_worker_memory == 2 * p.peak_task_memory
    (1, 1, 6, True)
    >>> dz.plan("copy", "memory://doc/plan.zarr", "memory://doc/plan3.zarr", zarr_format=2).arrays[0].passes[0].kind
    'copy'
    """
    if operation not in OPERATIONS:
        raise ZarrioError(f"operation={operation!r} must be one of {OPERATIONS!r}")
    price = dict(S3_STANDARD_PRICES if prices is None else prices)
    if set(price) != set(S3_STANDARD_PRICES) or any(not isinstance(v, (int, float)) or v < 0 for v in price.values()):
        raise ZarrioError(f"prices={prices!r} must give a non-negative number for each of 'get', 'put' and 'list'")
    limit = parse_max_mem(max_mem)
    workers = threads or dask.config.get("num_workers", None) or CPU_COUNT
    dry = DryRun()
    dst = dry.view(open_store(target, target_options))
    layout: dict[str, Any] = {"shards": shards, "compressors": compressors, "filters": filters,
                              "zarr_format": zarr_format}
    if operation == "write":
        one = _write_plan(source, dst, dry, chunks, layout, limit, mode, resume, storage_options)
        label = f"dask array {source.name}" if isinstance(source, da.Array) else one.source
        return Plan(operation, label, dst.describe(), (one,), workers, price)
    if not isinstance(source, (str, Store)) and not hasattr(source, "__fspath__") and not isinstance(source, Mapping):
        raise ZarrioError(
            f"dz.plan({operation!r}) takes a source URL or store, not {type(source).__name__}; "
            "write a dask array with operation='write'"
        )
    src = dry.view(open_store(source, storage_options))
    into: dict[str, Any] = {"temp": None if temp is None else dry.view(open_store(temp, target_options)), "mode": mode,
                            "resume": resume, "max_mem": max_mem, "target_options": target_options}
    if operation == "rechunk":
        if isinstance(shards, str) and shards == KEEP:
            layout["shards"] = None  # dz.rechunk's default: no shards unless asked
        job = rechunk(src, dst, chunks, **layout, **into, compute=False)
        assert job is not None  # compute=False returns the job
        one = _array_plan("", job, dry.requests + job.requests(dry))
        return Plan(operation, src.describe(), dst.describe(), (one,), workers, price)
    copied = copy(src, dst, chunks=chunks, **layout, **into, compute=False)
    assert copied is not None  # compute=False returns the job
    built = dry.requests  # the source's metadata and listings, read to build the job
    own, members = copied.requests(dry)
    if not copied.groups:  # a lone array: what building its job read is its own
        one = _array_plan("", copied.members[""], built + members[""])
        return Plan(operation, src.describe(), dst.describe(), (one,), workers, price)
    arrays = tuple(_array_plan(path, copied.members[path], spent) for path, spent in members.items())
    spent = built + own
    return Plan(operation, src.describe(), dst.describe(), arrays, workers, price, len(copied.groups),
                (spent.get, spent.put, spent.list))


def _write_plan(
    source: Any, dst: Store, dry: DryRun, chunks: Any, layout: dict[str, Any], limit: int, mode: str, resume: bool,
    storage_options: dict[str, Any] | None,
) -> ArrayPlan:
    """The plan of ``dz.write(source, dst, ...)``, from :func:`~dask_zarrio.api.prepare_write`."""
    defaults = {"chunks": None, "shards": None, "compressors": "auto", "filters": None, "zarr_format": 3}
    given = {"chunks": chunks, **layout}
    kept = [k for k, v in given.items() if (isinstance(v, str) and v == KEEP) or (k == "zarr_format" and v is None)]
    opts: dict[str, Any] = {**given, **{k: defaults[k] for k in kept}}
    reads = 0
    data: da.Array | np.ndarray
    if isinstance(source, (da.Array, np.ndarray)):  # a numpy array is wrapped as dz.write wraps it
        data, described = source, "dask array" if isinstance(source, da.Array) else "numpy array"
    else:
        src = dry.view(open_store(source, storage_options))
        meta = read_array_metadata(src)  # as dz.read opens it
        data, described = array_from_metadata(src, meta), src.describe()
        # each read task fetches the stored chunks its block overlaps
        reads = overlaps(data.chunks, ArraySpec.from_metadata(meta).grid.axis_chunks())
    planned = prepare_write(data, dst, mode=mode, resume=resume, max_task_bytes=limit, **opts)
    spent = dry.requests + planned.requests(dry) + Requests(reads)
    data = data if isinstance(data, da.Array) else planned.data
    itemsize, spec = data.dtype.itemsize, planned.w.spec
    block = tuple(max(c, default=0) for c in planned.plan.chunks)
    unit = tuple(spec.grid.chunk_shape)
    written = itemsize * prod(len(c) * u for c, u in zip(spec.grid.axis_chunks(), unit))
    p = Pass("write", tuple(int(c) for c in data.chunksize), unit, block, prod(len(c) for c in planned.plan.chunks),
             int(data.nbytes), written, itemsize * (prod(block) + 2 * prod(unit)), 1)
    return ArrayPlan("", described, dst.describe(), (p,), spent.get, spent.put, spent.list)


