"""``dz.rechunk``: store to store, in one or two passes, memory bounded by ``max_mem``.

The plan comes from :mod:`dask_zarrio.layout.rechunk_plan` (pure), the target's
description from :mod:`dask_zarrio.rechunking.target`, the tasks from
:mod:`dask_zarrio.rechunking.tasks`. Each pass is written as ``dz.write`` writes an
array (its metadata committed after its data, a journal until then, so
``resume=True`` continues it): the graph is one Blockwise layer of tasks, one per
block, built in O(1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import dask
import numpy as np
from dask.array.core import normalize_chunks
from dask.base import tokenize
from dask.delayed import Delayed
from dask.utils import parse_bytes

from ..errors import ZarrioError
from ..graph.progress import compute as compute_with_progress
from ..layout.align import align_pass
from ..layout.rechunk_plan import Pass, RechunkPlan, plan_copy, plan_rechunk
from ..layout.write_plan import WritePlan
from ..metadata import ArrayMetadata, ArraySpec
from ..metadata.node import read_array_metadata
from ..store import Store, open_store
from ..store.locations import check_locations
from ..typing import StoreLike
from ..writing.destination import Incoming, NewArray
from ..writing.dry_run import DryRun, Requests
from ..writing.modes import check_mode, prepare_node
from ..writing.target import NodeWrite, PlainTarget, WriteTarget, open_target
from .target import KEEP, target_array, undecoded_kind
from .tasks import assemble_shards, copy_chunks, rechunk_block
from .temp import complete, intermediate_array, plain_variant, reusable, temp_store

__all__ = ["Rechunk", "parse_max_mem", "rechunk"]

logger = logging.getLogger("dask_zarrio")

TASKS: dict[str, Callable[..., np.ndarray]] = {"decode": rechunk_block, "copy": copy_chunks, "shards": assemble_shards}

def parse_max_mem(value: int | str) -> int:
    """``max_mem`` in bytes, from an int or a string such as ``"256MiB"``.

    Examples
    --------
    >>> parse_max_mem("64MiB"), parse_max_mem(1000)
    (67108864, 1000)
    """
    try:
        n = parse_bytes(value) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError) as e:  # OverflowError: int(float("inf"))
        raise ZarrioError(f"max_mem={value!r} must be a number of bytes or a string such as '256MiB'") from e
    if n <= 0:
        raise ZarrioError(f"max_mem={value!r} must be positive, e.g. '256MiB'")
    return n


@dataclass
class _Step:
    """One pass to run: read ``source`` (``meta``, else its metadata read when the pass is
    built), write ``new``."""

    pass_: Pass
    source: Store
    target: WriteTarget
    new: NewArray
    dtype: np.dtype[Any]
    mode: str
    resume: bool
    meta: ArrayMetadata | None = None
    #: Into the intermediate array: its chunks are stored uncompressed where compression saves little.
    adaptive: bool = False
    #: Out of the intermediate array: each task deletes the chunks it read for the last time.
    consume: bool = False


@dataclass
class Rechunk:
    """A planned rechunk: ``.plan`` says what it will do, ``.compute()`` does it, and
    ``.to_delayed()`` gives it as one dask ``Delayed`` to compute with others.

    Attributes
    ----------
    plan
        The :class:`~dask_zarrio.layout.rechunk_plan.RechunkPlan`: its ``passes`` (each a
        :class:`~dask_zarrio.layout.rechunk_plan.Pass` with ``kind``, ``tasks``, ``bytes_read``,
        ``bytes_written``, ``task_memory``), ``peak_memory`` and ``intermediate``.
    source, target, temp
        The stores read and written, and where the intermediate array goes (two passes).

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(12, chunks=12).reshape(3, 4), "memory://doc/rc-src.zarr", mode="w", chunks=(1, 4))
    >>> job = dz.rechunk("memory://doc/rc-src.zarr", "memory://doc/rc-dst.zarr", (3, 1), mode="w", compute=False)
    >>> len(job.plan.passes), job.plan.passes[0].kind, job.plan.passes[0].tasks
    (1, 'decode', 1)
    >>> job.compute()
    >>> dz.read("memory://doc/rc-dst.zarr").chunksize
    (3, 1)
    """

    plan: RechunkPlan
    steps: list[_Step]
    source: Store
    target: Store
    progress: bool = False
    cleanup: list[Store] = field(default_factory=list)
    #: Where the intermediate array goes, when there are two passes.
    temp: Store | None = None

    def to_delayed(self) -> Delayed:
        """Every pass as one ``Delayed``: a pass's tasks start once the previous pass's
        metadata is committed, and the intermediate array is deleted at the end.

        Building it writes each new array's journal (as ``dz.write(compute=False)``
        does); computing it returns the number of objects stored.
        """
        after: Delayed | None = None
        meta: ArrayMetadata | None = None
        for step in self.steps:
            after, meta = _pass_graph(step if meta is None else replace(step, meta=meta), after)
        assert after is not None  # a plan has at least one pass
        return dask.delayed(_clean)(after, self.cleanup) if self.cleanup else after

    def compute(self) -> None:
        """Run every pass (one dask computation), then delete the intermediate array."""
        try:
            compute_with_progress(self.to_delayed(), progress=self.progress)
        except BaseException:
            for step in self.steps:
                step.target.abandon()
            raise

    def requests(self, dry: DryRun | None = None) -> Requests:
        """The GET, PUT and LIST requests running this job makes, counted without running it.

        The data tasks' are counted from each pass (:meth:`Pass.requests
        <dask_zarrio.layout.rechunk_plan.Pass.requests>`, and the consumed keys of an
        intermediate array). The rest is counted as it is made: every pass's write lifecycle
        (its source's metadata read, the target prepared, journal, metadata committed) and the
        intermediate array's deletion run, in the order :meth:`to_delayed` and its computation
        run them, on ``dry``'s views of the job's stores, which write nothing. Ask before
        :meth:`to_delayed`: after it, the journals it wrote are there to refuse. A resumed pass's
        data tasks are counted whole (an upper bound: the blocks already stored are skipped).

        Examples
        --------
        >>> import dask.array as da, dask_zarrio as dz
        >>> dz.write(da.ones((4, 4), chunks=(1, 4)), "memory://doc/rq.zarr", mode="w", chunks=(1, 4))
        >>> job = dz.rechunk("memory://doc/rq.zarr", "memory://doc/rq2.zarr", (4, 2), compute=False)
        >>> job.requests()  # 4 chunks, the metadata and the journal read; 2 chunks, journal, metadata stored
        Requests(get=6, put=4, list=1)
        """
        dry = DryRun() if dry is None else dry
        before = dry.requests
        begun: list[_Begun] = []
        meta: ArrayMetadata | None = None
        for step in self.steps:
            if not isinstance(step.target, PlainTarget):
                raise ZarrioError(
                    f"{step.target!r}: the requests of a rechunk are counted on plain stores; an Icechunk "
                    "repository's are its own (plan the rechunk to a folder or bucket of the same layout)"
                )
            dry_step = replace(step, source=dry.view(step.source), target=PlainTarget(dry.view(step.target.store)),
                               meta=step.meta if meta is None else meta)
            begun.append(_begin_pass(dry_step))
            meta = begun[-1].w.dest.meta
        data = Requests()
        for b in begun:
            b.step.target.finish(b.w, None)
            data += _data_requests(b)
        for store in self.cleanup:
            dry.view(store).clear()
        return dry.requests - before + data

    def __repr__(self) -> str:
        return f"Rechunk(\n{self.plan}\n)"


def _clean(count: int, stores: list[Store]) -> int:
    """After the last pass: delete the intermediate arrays."""
    for store in stores:
        store.clear()
    return count


def _rechunk_task(region: tuple[slice, ...], block: None, sink: Store, kind: str, src: ArraySpec, src_store: Store,
                  dst: ArraySpec, fetch: int, *extra: Any) -> np.ndarray:
    """A rechunk task in :func:`~dask_zarrio.graph.builder.block_layer`'s order (it reads its own input)."""
    return TASKS[kind](src, src_store, dst, sink, region, fetch, *extra)


@dataclass(frozen=True)
class _Begun:
    """A pass whose write has begun: its journal stored, its data tasks not built yet."""

    step: _Step
    source: ArrayMetadata
    w: NodeWrite
    blocks: tuple[tuple[int, ...], ...]
    todo: list[tuple[int, ...]] | None


def _begin_pass(step: _Step) -> _Begun:
    """The write lifecycle of one pass up to its data tasks: its source's metadata (unless
    known), the target prepared and, for a resumed write, the blocks left; the journal written."""
    src_meta = step.meta or read_array_metadata(step.source)
    shape = src_meta.shape
    blocks = normalize_chunks(step.pass_.block, shape) if shape else ()
    target = step.target
    w = target.prepare(Incoming(shape, step.dtype, blocks), step.mode, new=step.new, cap=1, resume=step.resume)
    todo = target.blocks_left(w, WritePlan(blocks, w.spec.chunk_shape, tuple(slice(0, n) for n in shape), shape))
    target.begin(w)
    return _Begun(step, src_meta, w, blocks, todo)


def _consumes(step: _Step) -> bool:
    """Whether each task of ``step`` deletes the intermediate chunks it read for the last time."""
    return step.pass_.kind == "decode" and step.consume and step.source.supports_deletes


def _pass_graph(step: _Step, after: Delayed | None) -> tuple[Delayed, ArrayMetadata]:
    """One pass through the write lifecycle, as ``dz.write(compute=False)`` writes an array: its
    journal written now, a ``Delayed`` that runs its data tasks (after ``after``) and then
    commits its metadata."""
    b = _begin_pass(step)
    w, src_meta = b.w, b.source
    name = f"rechunk-{step.pass_.kind}-{step.pass_.into}-" + tokenize(
        step.source.token(), json.dumps(src_meta.to_dict(), default=str), w.sink.token(),
        json.dumps(w.dest.meta.to_dict(), default=str), b.blocks,
    )
    extra: tuple[Any, ...] = ()
    if step.pass_.kind == "decode" and step.adaptive:
        extra = (ArraySpec.from_metadata(plain_variant(w.dest.meta)),)
    elif _consumes(step):
        extra = (None, True)
    args = (step.pass_.kind, ArraySpec.from_metadata(src_meta), step.source, w.spec, step.pass_.fetch, *extra)
    done = step.target.layer(w, _rechunk_task, name, b.blocks, args, after=after, todo=b.todo)
    return dask.delayed(step.target.finish, pure=False)(w, done), w.dest.meta


def _data_requests(b: _Begun) -> Requests:
    """What the data tasks of a begun pass fetch and store (:meth:`Pass.requests`), and the
    :func:`~dask_zarrio.rechunking.tasks.consumed_key` each task owning chunks of the
    intermediate array checks for and stores."""
    spec, p, shape = ArraySpec.from_metadata(b.source), b.step.pass_, b.source.shape
    # a pass that decodes shards' inner chunks reads them by byte ranges, each task the shards' indexes too
    ranged = p.kind == "decode" and spec.reads_by_ranges(b.step.source)
    gets, puts = p.requests(shape, spec.chunk_shape if ranged else None)
    owners = p.owners(shape) if _consumes(b.step) else 0
    return Requests(gets + owners, puts + owners)


def plan_for(
    meta: ArrayMetadata, source: Store, new: NewArray, dtype: np.dtype[Any], max_mem: int,
) -> RechunkPlan:
    """The plan to write ``meta``'s array (at ``source``) as ``new``: undecoded where it can.

    Examples
    --------
    >>> from dask_zarrio.metadata.create import new_array_metadata
    >>> from dask_zarrio.store import MappingStore
    >>> m = new_array_metadata(shape=(8,), dtype=np.dtype("i2"), chunk_shape=(2,), zarr_format=2)
    >>> new = NewArray((2,), None, [m.compressor], None, None, 3, "C", None, None)
    >>> plan_for(m, MappingStore({}), new, m.dtype, 2**20).passes[0].kind
    'copy'
    """
    src = ArraySpec.from_metadata(meta)
    dst = ArraySpec.from_metadata(new.metadata(meta.shape, dtype, (), max_mem))
    itemsize = max(meta.dtype.itemsize, dtype.itemsize)
    kind = undecoded_kind(src, dst) if dtype == meta.dtype else None
    if kind is not None:
        copy = plan_copy(meta.shape, src.chunk_shape, dst.chunk_shape, itemsize, max_mem, kind)
        plan = RechunkPlan(meta.shape, itemsize, max_mem, (copy,))
    else:
        # A rectilinear source is planned on its largest chunks: what a task may have to decode at once
        plan = plan_rechunk(meta.shape, itemsize, src.read_unit(source), dst.chunk_shape, max_mem)
    if dst.grid.is_regular:
        return plan
    # A rectilinear target's units differ in length: the last pass's blocks follow its edges
    return replace(plan, passes=(*plan.passes[:-1], align_pass(plan.passes[-1], dst.grid.units, meta.shape)))


def rechunk(
    source: StoreLike,
    target: StoreLike,
    chunks: Any,
    *,
    max_mem: int | str = "256MiB",
    shards: Any = None,
    compressors: Any = KEEP,
    filters: Any = KEEP,
    zarr_format: int | str | None = None,
    fill_value: Any = KEEP,
    dtype: Any = None,
    chunk_key_encoding: Any = KEEP,
    temp: StoreLike | None = None,
    mode: str = "w-",
    resume: bool = False,
    storage_options: dict[str, Any] | None = None,
    target_options: dict[str, Any] | None = None,
    progress: bool = False,
    compute: bool = True,
) -> Rechunk | None:
    """Copy the array at ``source`` to ``target`` in new chunks, no task holding more than
    ``max_mem`` of decoded data.

    Each task writes a block of whole target chunks (or shards) and decodes the
    source chunks it overlaps, one at a time; where that would decode the source
    many times over, the plan goes through an intermediate array in ``temp``
    (rechunking and copying: docs/rechunking.md). Format, codecs, sharding, fill
    value and dtype may change in the same pass; when only the container changes
    (same grid, codecs that read the same bytes, or chunks regrouped into shards)
    the stored bytes are copied without decoding.

    Parameters
    ----------
    source, target
        Array locations (see :func:`dask_zarrio.read`).
    chunks
        The target's chunks: a tuple, a dict by axis number or dimension name (axes
        left out keep the source's), ``-1`` (whole array), ``"auto"`` or ``"keep"``.
    max_mem
        The most decoded bytes one task may hold (an int or ``"256MiB"``).
    shards
        The target's shard shape (Zarr v3), in the same forms as ``chunks``.
    compressors, filters, zarr_format, fill_value
        As in :func:`dask_zarrio.write`; ``"keep"`` (``None`` for ``zarr_format``) takes the source's.
    dtype
        Cast to this dtype (``None``: the source's).
    chunk_key_encoding
        As in :func:`dask_zarrio.write`. ``"keep"`` keeps the source's chunk keys where
        the target's format can: a v2 array copied to v3 gets the ``v2`` encoding with
        its separator, as zarr-python's ``migrate_to_v3`` gives it, so an undecoded copy
        is a copy of files. Pass ``"default"`` for v3's ``c/0/0`` keys.
    temp
        Where the intermediate array goes when the plan needs one; default: a
        ``.dz-rechunk-*`` folder beside a local target (refused for remote ones).
    mode, resume, target_options, storage_options
        As in :func:`dask_zarrio.write`; ``storage_options`` opens the source,
        ``target_options`` the target and ``temp``.
    progress
        Show a progress bar (distributed's on a client, else dask's).
    compute
        ``False`` returns a :class:`Rechunk`: its ``.plan`` prints passes, tasks,
        bytes read and written and peak memory per task; ``.compute()`` runs it.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> dz.write(da.arange(16, chunks=16).reshape(4, 4), "memory://doc/rk.zarr", mode="w", chunks=(1, 4))
    >>> dz.rechunk("memory://doc/rk.zarr", "memory://doc/rk2.zarr", {1: 1}, max_mem="1MiB", mode="w")
    >>> dz.read("memory://doc/rk2.zarr").chunksize, int(dz.read("memory://doc/rk2.zarr").sum().compute())
    ((1, 1), 120)
    """
    mode = check_mode(mode, ("w-", "w"), "dz.rechunk")
    limit = parse_max_mem(max_mem)
    src_store = open_store(source, storage_options)
    out = open_target(target, target_options)
    store = out.store
    given_temp = None if temp is None else open_store(temp, target_options)
    check_locations("dz.rechunk", source=src_store, target=store, temp=given_temp)
    meta = read_array_metadata(src_store)
    if mode == "w-" and not resume:
        prepare_node(store, mode)  # refuse now, not after a first pass
    out_dtype = meta.dtype if dtype is None else np.dtype(dtype)
    new = target_array(meta, chunks, shards, compressors, filters, zarr_format, fill_value, limit, chunk_key_encoding)
    plan = plan_for(meta, src_store, new, out_dtype, limit)
    steps, cleanup = [], []
    middle_store: Store | None = None
    if len(plan.passes) == 1:
        steps.append(_Step(plan.passes[0], src_store, out, new, out_dtype, mode, resume))
    else:
        first, last = plan.passes
        middle_store = temp_store(given_temp, store, target_options)
        check_locations("dz.rechunk", source=src_store, target=store, temp=middle_store)  # the default one too
        middle = intermediate_array(first.unit, meta)
        if resume and complete(store):  # only the check that it is the same array is left
            steps.append(_Step(last, middle_store, out, new, out_dtype, mode, resume,
                               middle.metadata(meta.shape, meta.dtype, (), limit)))
        else:
            again = resume and reusable(middle_store, store, mode)  # else the first pass starts afresh
            into_middle = PlainTarget(middle_store)
            steps.append(_Step(first, src_store, into_middle, middle, meta.dtype, "w", again, adaptive=True))
            steps.append(_Step(last, middle_store, out, new, out_dtype, mode, resume, consume=True))
            cleanup.append(middle_store)
    job = Rechunk(plan, steps, src_store, store, progress, cleanup, middle_store)
    logger.info("%s", plan)
    if not compute:
        return job
    job.compute()
    return None
