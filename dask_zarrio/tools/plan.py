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
from dataclasses import dataclass, field
from math import prod
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.system import CPU_COUNT

from ..api import prepare_write
from ..errors import ZarrioError
from ..graph.builder import array_from_metadata
from ..layout.rechunk_plan import Pass, size_text
from ..layout.requests import overlaps
from ..metadata import ArraySpec
from ..metadata.node import read_array_metadata
from ..rechunking.copy import copy
from ..rechunking.rechunk import Rechunk, parse_max_mem, rechunk
from ..rechunking.target import KEEP
from ..store import Store, open_store
from ..typing import StoreLike
from ..writing.dry_run import DryRun, Requests

__all__ = ["OPERATIONS", "S3_STANDARD_PRICES", "ArrayPlan", "Plan", "plan", "price_per_1000"]

OPERATIONS = ("copy", "rechunk", "write")
#: US dollars per 1000 requests, AWS S3 Standard (us-east-1): GET $0.0004, PUT and LIST $0.005.
S3_STANDARD_PRICES: dict[str, float] = {"get": 0.0004, "put": 0.005, "list": 0.005}
#: Metadata requests of a pass: the source's document read twice (plan, pass) and the journal
#: once; with an intermediate, one more: the check that nothing but Zarr sits where it is
#: written (a HEAD, priced as a GET; its metadata is known from the first pass); the journal
#: and the target's document written (v2: ``.zattrs`` too).
_META_GETS, _META_GETS_LATER, _META_PUTS = 3, 1, 2


@dataclass(frozen=True)
class ArrayPlan:
    """The plan for one array: its passes and the requests they make."""

    path: str
    source: str
    target: str
    passes: tuple[Pass, ...]
    gets: int
    puts: int
    lists: int
    temp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (one entry of ``dz plan --json``'s ``arrays``)."""
        return {
            "path": self.path, "source": self.source, "target": self.target, "temp": self.temp,
            "get_requests": self.gets, "put_requests": self.puts, "list_requests": self.lists,
            "passes": [
                {"kind": p.kind, "source_chunks": list(p.source), "target_chunks": list(p.unit), "into": p.into,
                 "block": list(p.block), "tasks": p.tasks, "bytes_read": p.bytes_read,
                 "bytes_written": p.bytes_written, "task_memory": p.task_memory}
                for p in self.passes
            ],
        }


@dataclass(frozen=True)
class Plan:
    """What ``dz.copy``/``dz.rechunk``/``dz.write`` would do: passes, tasks, requests, bytes,
    peak memory and the requests' cost. Printing it gives the ``dz plan`` text; :meth:`to_dict`
    the ``dz plan --json`` document.
    """

    operation: str
    source: str
    target: str
    arrays: tuple[ArrayPlan, ...]
    threads: int
    prices: Mapping[str, float] = field(default_factory=lambda: dict(S3_STANDARD_PRICES))
    groups: int = 0
    group_requests: tuple[int, int, int] = (0, 0, 0)

    @property
    def passes(self) -> int:
        """Passes of the array that needs the most (1, or 2 through an intermediate array)."""
        return max((len(a.passes) for a in self.arrays), default=0)

    @property
    def tasks(self) -> int:
        """Tasks of every pass of every array."""
        return sum(p.tasks for a in self.arrays for p in a.passes)

    def _requests(self, i: int, name: str) -> int:
        return self.group_requests[i] + sum(getattr(a, name) for a in self.arrays)

    @property
    def requests(self) -> dict[str, int]:
        """GET, PUT and LIST requests (metadata and group documents included)."""
        return {"get": self._requests(0, "gets"), "put": self._requests(1, "puts"), "list": self._requests(2, "lists")}

    @property
    def bytes_read(self) -> int:
        """Bytes read by all tasks (decoded; stored bytes for undecoded copies, counted decoded)."""
        return sum(p.bytes_read for a in self.arrays for p in a.passes)

    @property
    def bytes_written(self) -> int:
        """Bytes written by all tasks (decoded size: an upper bound of what is stored)."""
        return sum(p.bytes_written for a in self.arrays for p in a.passes)

    @property
    def peak_task_memory(self) -> int:
        """The most decoded bytes one task holds."""
        return max((p.task_memory for a in self.arrays for p in a.passes), default=0)

    @property
    def peak_worker_memory(self) -> int:
        """``peak_task_memory`` times the threads of a worker."""
        return self.peak_task_memory * self.threads

    @property
    def cost(self) -> dict[str, float]:
        """Request cost in US dollars at ``prices`` (per 1000 requests), and the total."""
        out = {k: n * self.prices[k] / 1000 for k, n in self.requests.items()}
        return {**out, "total": sum(out.values())}

    def to_dict(self) -> dict[str, Any]:
        """The ``dz plan --json`` document (schema in docs/cli.md)."""
        return {
            "operation": self.operation, "source": self.source, "target": self.target,
            "passes": self.passes, "tasks": self.tasks,
            "requests": self.requests, "bytes_read": self.bytes_read, "bytes_written": self.bytes_written,
            "peak_task_memory": self.peak_task_memory, "threads": self.threads,
            "peak_worker_memory": self.peak_worker_memory, "prices_per_1000": dict(self.prices),
            "cost": self.cost, "arrays": [a.to_dict() for a in self.arrays],
        }

    def __str__(self) -> str:
        r, c = self.requests, self.cost
        lines = [f"{self.operation} {self.source} -> {self.target}"]
        for a in self.arrays:
            lines.append(f"  {a.path or '/'}: {len(a.passes)} pass{'es' if len(a.passes) > 1 else ''}"
                         + (f" through {a.temp}" if a.temp else ""))
            lines += [f"    pass {i + 1} {p.describe()}" for i, p in enumerate(a.passes)]
        lines += [
            f"arrays {len(self.arrays)}, groups {self.groups}, passes {self.passes}, tasks {self.tasks}",
            f"requests: GET {r['get']}, PUT {r['put']}, LIST {r['list']}",
            f"bytes: read {size_text(self.bytes_read)}, write {size_text(self.bytes_written)} (decoded)",
            f"peak memory: {size_text(self.peak_task_memory)} per task, {size_text(self.peak_worker_memory)} "
            f"per worker of {self.threads} threads",
            f"request cost: ${c['total']:.6f} (GET ${c['get']:.6f}, PUT ${c['put']:.6f}, LIST ${c['list']:.6f})",
        ]
        return "\n".join(lines)


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
        raise ZarrioError(f"dz.plan({operation!r}) takes a source URL or store, not {type(source).__name__}; write a dask array with operation='write'")
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


def price_per_1000(text: str) -> float:
    """A price option: ``"0.0004"`` or ``"$0.0004"`` dollars per 1000 requests.

    Examples
    --------
    >>> price_per_1000("$0.005")
    0.005
    """
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError as e:
        raise ZarrioError(f"price {text!r} must be US dollars per 1000 requests, e.g. 0.0004") from e
    if value < 0:
        raise ZarrioError(f"price {text!r} must not be negative")
    return value

