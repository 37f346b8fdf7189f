"""The one write lifecycle: every node dask_zarrio writes goes through a :class:`WriteTarget`.

``dz.write``, ``dz.init``, region and append writes, ``write_dataset``, both passes of
``dz.rechunk`` (and so ``dz.copy``) and Icechunk commits all run the same five steps::

    target = open_target(url, ...)        # a plain store, or an Icechunk transaction
    w = target.prepare(data, mode, ...)   # reads only: destination, staging, checks
    target.begin(w)                       # before any data: journal, grown shape, fork metadata
    done = target.layer(w, task, ...)     # the data tasks (graph.builder.block_layer)
    target.run(w, done, compute=...)      # after them: metadata committed / one Icechunk commit

:meth:`WriteTarget.prepare` writes nothing, so a dry run (``dz.plan``) asks the same
questions a write does. A failure anywhere before the commit goes through
:meth:`WriteTarget.abandon`: a plain store keeps its journal (``resume=True`` continues),
an Icechunk transaction gives the caller's session back as it was.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from ..errors import StoreError, ZarrioError
from ..graph.builder import block_layer, refuse_reading_from, sum_of_blocks
from ..graph.progress import compute as compute_with_progress
from ..graph.progress import runs_in_this_process
from ..layout.requests import region_requests
from ..layout.write_plan import WritePlan
from ..metadata import ArraySpec
from ..metadata.journal import pending_write
from ..store import Store, open_store
from ..store.backends.icechunk_store import is_icechunk
from ..store.locations import refuse_reserved
from .destination import Destination, Incoming, NewArray, resolve_destination
from .dry_run import DryRun, Requests
from .modes import check_replaceable
from .resume import blocks_to_write
from .staging import begin_node, finish_node, staged_node

__all__ = ["Incoming", "NodeWrite", "PlainTarget", "PlannedWrite", "WriteTarget", "open_target"]

logger = logging.getLogger("dask_zarrio")


@dataclass(frozen=True)
class NodeWrite:
    """One node's write as :meth:`WriteTarget.prepare` resolved it; nothing is written yet.

    ``sink`` is where the data tasks write: the node itself, a staged node beside it
    (``mode="w"`` on a local folder) or the Icechunk transaction's fork.
    """

    mode: str
    dest: Destination
    spec: ArraySpec
    sink: Store


@dataclass(frozen=True)
class PlannedWrite:
    """A write resolved and planned (:func:`dask_zarrio.api.prepare_write`); nothing is written yet.

    ``data`` is the dask array rechunked to ``plan`` (every stored unit has one writer);
    ``todo`` the plan's blocks a resumed write still writes (``None``: all of them).
    """

    target: WriteTarget
    w: NodeWrite
    plan: WritePlan
    data: da.Array
    todo: list[tuple[int, ...]] | None

    def requests(self, dry: DryRun | None = None) -> Requests:
        """The GET, PUT and LIST requests running this write makes, counted without running it.

        The data tasks': a PUT per stored unit the region touches (an upper bound: units equal
        to the fill value are not stored), a GET per unit it cuts (read to be merged). The
        rest is counted as it is made: :meth:`WriteTarget.begin` and :meth:`WriteTarget.finish`
        run on ``dry``'s views of the stores, which write nothing. What computing ``data``
        reads (a ``dz.read`` array's chunks) is its source's, not counted here.
        """
        if not isinstance(self.target, PlainTarget):
            raise ZarrioError(f"{self.target!r}: the requests of a write are counted on plain stores, not on "
                              "Icechunk repositories; plan the write to a folder or bucket of the same layout")
        dry = DryRun() if dry is None else dry
        before = dry.requests
        store = dry.view(self.target.store)
        sink = store if self.w.sink is self.target.store else dry.view(self.w.sink)  # in place: the same node
        target, w = PlainTarget(store), replace(self.w, sink=sink)
        target.begin(w)
        target.finish(w, None)
        gets, puts = region_requests(self.w.spec.grid.axis_chunks(), self.w.dest.region)
        return dry.requests - before + Requests(gets, puts)


class WriteTarget(ABC):
    """The life of a node being written: prepare, begin, data tasks, commit (or abandon).

    ``store`` is the node as readers see it. Subclasses: :class:`PlainTarget` (any store)
    and :class:`~dask_zarrio.writing.transactions.IcechunkTarget`.
    """

    store: Store

    @abstractmethod
    def prepare(self, data: da.Array | Incoming, mode: str, *, new: NewArray, cap: int, region: Any = None,
                append_dim: Any = None, resume: bool = False) -> NodeWrite:
        """Resolve the destination of ``data`` (metadata, region, staging) and refuse what cannot be done.

        Reads only: nothing is written, deleted or committed.
        """

    def blocks_left(self, w: NodeWrite, plan: WritePlan) -> list[tuple[int, ...]] | None:
        """The plan's blocks a resumed write still has to write (``None``: all of them)."""
        return None

    @abstractmethod
    def begin(self, w: NodeWrite) -> None:
        """What must be stored before any data task (a journal, a grown shape, the fork's metadata)."""

    @abstractmethod
    def layer(self, w: NodeWrite, task: Callable[..., np.ndarray], name: str, blocks: tuple[tuple[int, ...], ...],
              args: tuple[Any, ...], *, data: da.Array | None = None, after: Delayed | None = None,
              todo: list[tuple[int, ...]] | None = None) -> Any:
        """The data tasks: ``task(region, block, sink, *args)`` per block, gathered for :meth:`finish`.

        ``todo`` restricts a resumed write to those blocks (the others are culled).
        """

    @abstractmethod
    def finish(self, w: NodeWrite, gathered: Any) -> Any:
        """After every data task: commit the node (metadata last, or one Icechunk commit)."""

    def abandon(self) -> None:  # noqa: B027 (a hook: most targets have nothing to undo)
        """Called when the write fails before its commit (the default keeps what is stored)."""
        return None

    def run(self, w: NodeWrite, gathered: Any, *, compute: bool, progress: bool | str = False) -> Delayed | None:
        """Compute the data tasks and commit (``compute=True``), or a ``Delayed`` doing both."""
        if compute:
            self.finish(w, compute_with_progress(gathered, progress=progress)[0])
            return None
        out: Delayed = dask.delayed(self.finish, pure=False)(w, gathered)
        return out


class PlainTarget(WriteTarget):
    """A node of any store: its metadata is committed after its data, a journal until then.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> new = NewArray((2,), None, None, None, None, 3, "C", None, None)
    >>> target = PlainTarget(MappingStore({}, "a.zarr"))
    >>> w = target.prepare(Incoming((4,), np.dtype("i1"), ((4,),)), "w-", new=new, cap=1 << 20)
    >>> w.dest.meta.shape, w.sink is target.store
    ((4,), True)
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def prepare(self, data: da.Array | Incoming, mode: str, *, new: NewArray, cap: int, region: Any = None,
                append_dim: Any = None, resume: bool = False) -> NodeWrite:
        _refuse_other_process_writers(self.store)
        if mode == "w":
            refuse_reading_from(data, self.store)
        staged = staged_node(self.store, mode, resume)
        if staged is not None:
            check_replaceable(self.store)  # replaced at the end: refused now if it is not all Zarr
        sink = staged or self.store
        dest = resolve_destination(data, sink, mode, region, append_dim, new, cap, resume=resume)
        return NodeWrite(mode, dest, ArraySpec.from_metadata(dest.meta), sink)

    def blocks_left(self, w: NodeWrite, plan: WritePlan) -> list[tuple[int, ...]] | None:
        if not w.dest.resuming:
            return None
        if pending_write(w.sink) is None:  # complete already (metadata is committed last): nothing to redo
            logger.info("%s: resuming: complete already, nothing to redo", w.sink.describe())
            return []
        todo, done = blocks_to_write(w.spec, w.sink, plan)
        sharded = w.spec.pipeline.partial_chunk_shape != w.spec.chunk_shape
        logger.info(
            "%s: resuming: %d stored chunks%s kept, %d of %d blocks left to write",
            w.sink.describe(), done, "/shards" if sharded else "", len(todo),
            int(np.prod([len(c) for c in plan.chunks])),
        )
        return todo

    def begin(self, w: NodeWrite) -> None:
        begin_node(self.store, w.dest, w.mode, w.sink)

    def layer(self, w: NodeWrite, task: Callable[..., np.ndarray], name: str, blocks: tuple[tuple[int, ...], ...],
              args: tuple[Any, ...], *, data: da.Array | None = None, after: Delayed | None = None,
              todo: list[tuple[int, ...]] | None = None) -> Any:
        counts = block_layer(task, name, blocks, (w.sink, *args), data=data, after=after)
        return counts if todo is None else sum_of_blocks(counts, todo)

    def finish(self, w: NodeWrite, gathered: Any) -> int:
        return finish_node(gathered, self.store, w.dest, w.sink)

    def __repr__(self) -> str:
        return f"PlainTarget({self.store.describe()!r})"


def _refuse_other_process_writers(store: Store) -> None:
    """Refuse, before anything is written, a scheduler whose tasks cannot write ``store``.

    Checked against the scheduler in effect when the write is prepared (also for
    ``compute=False``); the store still refuses a write from another process itself.
    """
    if store.supports_multiprocess_writes or runs_in_this_process():
        return
    raise StoreError(
        f"{store.describe()} is written by one process only, and the active dask scheduler "
        f"({dask.config.get('scheduler', None) or 'a distributed client'!r}) runs tasks in other "
        "processes; nothing was written. Write with dask.config.set(scheduler='threads'), or "
        "(a ZIP archive) write a folder in parallel and pack it: "
        "dask_zarrio.store.backends.zip_store.pack('data.zarr', 'data.zip')"
    )


#: The options that only an Icechunk target understands, and what each means there.
ICECHUNK_OPTIONS = {"branch": "the branch written", "commit": "the commit message", "rebase": "rebase on conflict"}


def open_target(url: Any, storage_options: dict[str, Any] | None = None, *, branch: str | None = None,
                commit: str | None = None, rebase: bool = False) -> WriteTarget:
    """The write target of ``url``: an Icechunk transaction, or a :class:`PlainTarget`.

    ``branch``, ``commit`` and ``rebase`` belong to Icechunk targets (a ``Repository``, a
    writable ``Session``, an ``icechunk://`` URL): on any other store they would mean
    nothing, so they are refused rather than ignored.

    Examples
    --------
    >>> open_target("memory://doc/target.zarr")
    PlainTarget('memory://doc/target.zarr')
    >>> open_target("memory://doc/target.zarr", commit="v2")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: commit='v2' applies to Icechunk targets only ...
    """
    from .transactions import (  # Icechunk is optional: imported when used
        IcechunkTarget,
        Member,
        begin,
    )

    if isinstance(url, Member):
        refuse_options(url, "a member of an open transaction (set them on dask_zarrio.writing.transactions.begin)",
                       branch=branch, commit=commit, rebase=rebase)
        return IcechunkTarget(url.tx, url.path, member=True)
    if is_icechunk(url):
        return IcechunkTarget(begin(url, branch=branch, message=commit, rebase=rebase, storage_options=storage_options))
    store = open_store(url, storage_options)
    refuse_options(store.describe(), "not an Icechunk repository", branch=branch, commit=commit, rebase=rebase)
    refuse_reserved(store)
    return PlainTarget(store)


def refuse_options(where: Any, why: str, **options: Any) -> None:
    """Refuse Icechunk-only options given for a target that is not an Icechunk repository.

    Examples
    --------
    >>> refuse_options("data.zarr", "a folder", branch=None, tag="v1")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: tag='v1' applies to Icechunk targets only ...
    """
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    if given:
        spelled = ", ".join(f"{k}={v!r}" for k, v in given.items())
        raise ZarrioError(
            f"{spelled} applies to Icechunk targets only (a Repository, a writable Session or an "
            f"icechunk:// URL), and {where} is {why}: nothing would be committed or versioned. "
            f"Drop {'it' if len(given) == 1 else 'them'}, or write to an Icechunk repository"
        )
