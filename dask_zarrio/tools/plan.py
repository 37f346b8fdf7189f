"""``dz.plan``: a dry run of a copy, a rechunk or a write — what it would do and cost.

Nothing is written and no chunk is read: the plan comes from the source's metadata
(and, for a group, the listing of its members), the planner of the operation
itself (:func:`dask_zarrio.rechunking.rechunk.plan_for`, :func:`dask_zarrio.layout.write_plan.plan_write`)
and counting, per pass, which stored objects each task fetches and stores. Request
counts are what the tasks ask the store for: a chunk that is not stored still costs
its GET, and a chunk equal to the fill value is counted as a PUT although it is not
written, so the PUT count (and bytes written, decoded) is an upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.array.core import normalize_chunks
from dask.system import CPU_COUNT

from ..api import read
from ..errors import ContainsArrayError, ZarrioError
from ..hierarchy import Group
from ..layout.rechunk_plan import Pass, size_text
from ..layout.write_plan import plan_write
from ..metadata import ArrayMetadata, ArraySpec
from ..metadata.group import GroupMetadata
from ..metadata.node import read_array_metadata, read_node, with_v2_attributes
from ..rechunking.copy import _array_chunks
from ..rechunking.rechunk import _read_unit, parse_max_mem, plan_for
from ..rechunking.target import KEEP, target_array
from ..rechunking.temp import temp_store
from ..store import Store, open_store
from ..typing import StoreLike
from ..writing.destination import NewArray

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
            f"peak memory: {size_text(self.peak_task_memory)} per task, {size_text(self.peak_worker_memory)} per worker of {self.threads} threads",
            f"request cost: ${c['total']:.6f} (GET ${c['get']:.6f}, PUT ${c['put']:.6f}, LIST ${c['list']:.6f})",
        ]
        return "\n".join(lines)


def _overlaps(blocks: Sequence[Sequence[int]], chunks: Sequence[Sequence[int]]) -> int:
    """(block, chunk) pairs that overlap: the objects every task of ``blocks`` fetches, summed.

    Examples
    --------
    >>> _overlaps(((5, 5),), ((4, 4, 2),))  # blocks [0, 5) and [5, 10) touch chunks 0-1 and 1-2
    4
    """
    total = 1
    for b, c in zip(blocks, chunks):
        sizes = np.asarray(b, dtype=np.int64)
        lo = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        stops = np.cumsum(np.asarray(c, dtype=np.int64))
        keep = sizes > 0
        first = np.searchsorted(stops, lo[keep], side="right")
        last = np.searchsorted(stops, (lo + sizes - 1)[keep], side="right")
        total *= int((last - first + 1).sum())
    return total


def _objects(shape: tuple[int, ...], unit: tuple[int, ...]) -> int:
    return prod(-(-n // u) for n, u in zip(shape, unit)) if 0 not in shape else 0


def _pass_requests(p: Pass, shape: tuple[int, ...], stored: tuple[int, ...] | None) -> tuple[int, int]:
    """GETs and PUTs of one pass's data; ``stored``: the source's shard shape when its inner
    chunks are read by byte ranges (each task also reads each shard's index)."""
    if p.kind in ("copy", "shards"):
        return _objects(shape, p.source), _objects(shape, p.unit)
    if not shape:
        return 1, 1
    blocks = normalize_chunks(p.block, shape)
    gets = _overlaps(blocks, normalize_chunks(p.source, shape))
    if stored is not None:
        gets += _overlaps(blocks, normalize_chunks(stored, shape))
    return gets, _objects(shape, p.unit)


def _owners(p: Pass, shape: tuple[int, ...]) -> int:
    """Tasks of a pass out of an intermediate array that own chunks of it (wholly inside
    their block): each checks for and stores its :func:`~dask_zarrio.rechunking.tasks.consumed_key`.

    Examples
    --------
    >>> _owners(Pass("decode", (2, 3), (4, 1), (4, 3), 2, 0, 0, 0, 1), (4, 6))
    2
    """
    total = 1
    for b, c in zip(normalize_chunks(p.block, shape), normalize_chunks(p.source, shape)):
        starts, stops = np.cumsum((0, *c))[:-1], np.cumsum(c)
        lo = np.cumsum((0, *b))[:-1]
        hi = lo + np.asarray(b)
        # a block owns a chunk along this axis when one starts and stops inside it
        first = np.searchsorted(starts, lo, side="left")
        last = np.searchsorted(stops, hi, side="right")
        total *= int((last > first).sum())
    return total


def _rechunk_plan(
    path: str, src_store: Store, meta: ArrayMetadata, store: Store, chunks: Any, options: dict[str, Any], limit: int,
) -> ArrayPlan:
    new = target_array(meta, chunks, options["shards"], options["compressors"], options["filters"],
                       options["zarr_format"], KEEP, limit)
    rplan = plan_for(meta, src_store, new, meta.dtype, limit)
    spec = ArraySpec.from_metadata(meta)
    ranged = spec.chunk_shape if _read_unit(spec, src_store) != spec.chunk_shape else None
    gets = puts = 0
    for i, p in enumerate(rplan.passes):
        g, u = _pass_requests(p, meta.shape, ranged if i == 0 else None)
        gets, puts = gets + g + (_META_GETS if i == 0 else _META_GETS_LATER), puts + u + _META_PUTS + int(new.zarr_format == 2)
    temp = None
    lists = (1 + int(options["resume"])) * len(rplan.passes) + 1  # emptiness checks, resume's listing
    if len(rplan.passes) > 1:
        t = options["temp"]
        middle = temp_store(None if t is None else f"{t}/{path}" if path else t, store, options["target_options"])
        temp = middle.describe()
        lists += 1 + int(options["resume"])  # the intermediate array is listed to delete it (and to resume)
        if middle.supports_deletes:  # second-pass tasks check for their key and store it
            owners = _owners(rplan.passes[1], meta.shape)
            gets, puts = gets + owners, puts + owners
    return ArrayPlan(path, src_store.describe(), store.describe(), rplan.passes, gets, puts, lists, temp)


def _write_plan(data: da.Array, source: str, store: Store, options: dict[str, Any], cap: int, gets: int) -> ArrayPlan:
    new = NewArray(options["chunks"], options["shards"], options["compressors"], options["filters"], None,
                   options["zarr_format"], "C", None, None)
    meta = new.metadata(data.shape, data.dtype, data.chunks, cap)
    spec = ArraySpec.from_metadata(meta)
    full = tuple(slice(0, n) for n in data.shape)
    wplan = plan_write(data.chunks, spec.grid.units, data.dtype.itemsize, target=full, shape=data.shape, max_task_bytes=cap)
    itemsize = data.dtype.itemsize
    block = tuple(max(c, default=0) for c in wplan.chunks)
    unit = tuple(spec.grid.chunk_shape)
    written = itemsize * prod(len(c) * u for c, u in zip(spec.grid.axis_chunks(), unit))
    p = Pass("write", tuple(int(c) for c in data.chunksize), unit, block, prod(len(c) for c in wplan.chunks), int(data.nbytes),
             written, itemsize * (prod(block) + 2 * prod(unit)), 1)
    puts = spec.grid.nchunks + _META_PUTS + int(meta.zarr_format == 2)
    return ArrayPlan("", source, store.describe(), (p,), gets + 1, puts, 1)


def _check_absent(store: Store, mode: str, resume: bool) -> None:
    """What the operation would refuse first: a target that exists with ``mode="w-"``."""
    if mode == "w-" and not resume and not store.is_empty():
        raise ContainsArrayError(
            f"{store.describe()} already exists; pass mode='w' (dz: --overwrite) to replace it, or choose another path"
        )


def _walk(group: Group, store: Store, prefix: str, options: dict[str, Any], limit: int, out: list[ArrayPlan]) -> int:
    """Plan every array below ``group``; return the number of groups (``group`` included)."""
    n = 1
    for name in group.group_keys():
        n += _walk(group.group(name), store.child(name), f"{prefix}{name}/", options, limit, out)
    for name in group.array_keys():
        src, meta = group.array_node(name)
        chunks = _array_chunks(options["chunks"], prefix + name, meta.dimension_names)
        out.append(_rechunk_plan(prefix + name, src, meta, store.child(name), chunks, options, limit))
    return n


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

    The plan is the operation's own (the same passes, blocks and memory bound), with
    the requests its tasks would make counted: GETs of source objects (a shard's index
    too, where inner chunks are read by byte ranges), PUTs of target objects (an upper
    bound: chunks equal to the fill value are not written), LISTs of groups and
    intermediate arrays, and metadata documents. Nothing is written; only the source's
    metadata is read, and the target is checked to be absent (``mode="w-"``).

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
    store = open_store(target, target_options)
    _check_absent(store, mode, resume)
    workers = threads or dask.config.get("num_workers", None) or CPU_COUNT
    options = {"chunks": chunks, "shards": shards, "compressors": compressors, "filters": filters, "zarr_format": zarr_format,
               "temp": temp, "resume": resume, "target_options": target_options}
    if operation == "write":
        return _plan_write(source, store, options, limit, storage_options, workers, price)
    if not isinstance(source, (str, Store)) and not hasattr(source, "__fspath__") and not isinstance(source, Mapping):
        raise ZarrioError(f"dz.plan({operation!r}) takes a source URL or store, not {type(source).__name__}; write a dask array with operation='write'")
    src_store = open_store(source, storage_options)
    node = with_v2_attributes(src_store, read_node(src_store))
    if isinstance(node, GroupMetadata):
        if operation == "rechunk":
            raise ZarrioError(f"{src_store.describe()} is a group: dz.rechunk takes an array; plan 'copy' for a group")
        arrays: list[ArrayPlan] = []
        groups = _walk(Group(src_store, node), store, "", options, limit, arrays)
        listed = 0 if node.consolidated is not None else groups
        meta_puts = groups * (1 if (zarr_format or node.zarr_format) == 3 else 2) + int(node.consolidated is not None)
        return Plan(operation, src_store.describe(), store.describe(), tuple(arrays), workers, price, groups,
                    (groups, meta_puts, listed))
    if operation == "rechunk" and isinstance(shards, str) and shards == KEEP:
        options["shards"] = None  # dz.rechunk's default: no shards unless asked
    one = _rechunk_plan("", src_store, node, store, chunks, options, limit)
    return Plan(operation, src_store.describe(), store.describe(), (one,), workers, price)


def _plan_write(
    source: Any, store: Store, options: dict[str, Any], limit: int, storage_options: dict[str, Any] | None,
    workers: int, price: dict[str, float],
) -> Plan:
    defaults = {"chunks": None, "shards": None, "compressors": "auto", "filters": None, "zarr_format": 3}
    opts = {k: defaults[k] if (isinstance(v, str) and v == KEEP) or (k == "zarr_format" and v is None) else v
            for k, v in options.items() if k in defaults}
    if isinstance(source, da.Array):
        return Plan("write", f"dask array {source.name}", store.describe(), (_write_plan(source, "dask array", store, opts, limit, 0),), workers, price)
    if isinstance(source, np.ndarray):
        data = da.from_array(source, chunks=opts["chunks"] or "auto", name=False)
        return Plan("write", "numpy array", store.describe(), (_write_plan(data, "numpy array", store, opts, limit, 0),), workers, price)
    src_store = open_store(source, storage_options)
    data = read(src_store)
    stored = ArraySpec.from_metadata(read_array_metadata(src_store)).grid.axis_chunks()
    gets = _overlaps(data.chunks, stored) + _META_GETS
    return Plan("write", src_store.describe(), store.describe(), (_write_plan(data, src_store.describe(), store, opts, limit, gets),), workers, price)


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

