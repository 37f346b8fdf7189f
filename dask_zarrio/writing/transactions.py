"""Writing into an Icechunk repository as one transaction: fork, write, merge, commit.

The ceremony icechunk's users keep getting wrong (icechunk#1206, #964) is done here once:

1. a writable session on the branch is **forked**; the array's metadata is written into
   that fork by the caller's process (so every task sees the same node, and no task
   writes metadata: forks that each rewrite it lose all but one, icechunk#1206);
2. every write task copies the fork, writes its block's chunks through the copy
   (:func:`dask_zarrio.graph.tasks.write_region`, the planner gives every chunk one writer, so
   the copies' change sets never conflict) and returns the copy;
3. the copies are **merged** by a tree reduction, the result is merged into the
   session, and **one commit** is made when the graph has finished. A graph that
   fails never reaches the commit: the branch's head does not move.

In-memory repositories cannot be forked (a fork is a copy of the session by bytes, and
the memory is not part of them); their tasks write through the session itself, which
works on the local schedulers and is refused on a distributed cluster.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any, NamedTuple

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from .._compat import ArraySliceDep, core_blockwise
from ..errors import ConcurrentWriteError, ContainsArrayError, ZarrioError
from ..graph.builder import refuse_reading_from
from ..graph.progress import compute as compute_with_progress
from ..graph.progress import on_distributed
from ..graph.tasks import write_region
from ..layout.write_plan import WritePlan, plan_write
from ..metadata import ArraySpec
from ..metadata.group import GroupMetadata
from ..metadata.node import read_node
from ..metadata.writer import document_bytes, metadata_key, write_node
from ..store.backends.icechunk_store import (
    IcechunkStore,
    icechunk_module,
    open_repository,
    run,
    session_of,
)
from .destination import Destination, NewArray, resolve_destination
from .modes import prepare_node

__all__ = ["Member", "Transaction", "begin", "commit_parts", "write_transaction"]

logger = logging.getLogger("dask_zarrio")


class Transaction:
    """A writable session, the fork its tasks copy (``None``: they share the session), a node.

    ``message`` is the commit message; ``None`` leaves the changes merged into the
    caller's session, uncommitted.
    """

    def __init__(self, base: Any, fork: Any, path: str, message: str | None, rebase: bool) -> None:
        self.base, self.fork, self.message, self.rebase = base, fork, message, rebase
        self.store = IcechunkStore(fork if fork is not None else base, path)

    def __reduce__(self) -> tuple[Any, ...]:
        # A writable session refuses pickling (its changes would be lost); this one has none
        # of its own when forked (its changes are in the forks), so the commit may run on a
        # worker (``compute=False`` on a cluster) from a copy based on the same snapshot.
        if self.fork is None or (self.message is None):
            raise ZarrioError(
                f"{self.store.describe()}: this transaction's commit must run in this process: "
                "compute it with compute=True, or pass commit= a message"
            )
        return (_restore, (self.base._session.as_bytes(), self.fork, self.store.root, self.message, self.rebase))

    def abandon(self) -> None:
        """Give the session back as it was before :func:`begin`: the fork's changes (the node's
        metadata) dropped and the empty fork merged back, since a session with a fork out
        cannot commit cleanly (icechunk warns, then loses the fork's changes). Nothing else
        reached the session: the tasks' copies are merged only by :func:`commit`."""
        if self.fork is not None:
            self.fork.discard_changes()
            self.base.merge(self.fork)

    def __repr__(self) -> str:
        return f"Transaction({self.store.describe()!r}, forked={self.fork is not None})"


class Member(NamedTuple):
    """A node inside an open :class:`Transaction`: ``dz.write(arr, Member(tx, "var"))`` adds
    the array's writes to the transaction and returns them (a dask array of the merged
    fork) uncomputed; :func:`commit_parts` computes them all and commits once. This is how
    :func:`dask_zarrio.write_dataset` writes a whole Dataset into Icechunk as one commit.
    """

    tx: Transaction
    path: str


def commit_parts(parts: list[Any], tx: Transaction, *, progress: bool | str = False) -> str | None:
    """Compute the writes of several :class:`Member` targets in one graph and commit them once.

    Examples
    --------
    >>> import icechunk, numpy as np, dask_zarrio as dz
    >>> repo = icechunk.Repository.create(icechunk.in_memory_storage())
    >>> tx = begin(repo, message="two arrays")
    >>> parts = [dz.write(np.arange(4), Member(tx, name), chunks=(2,)) for name in ("a", "b")]
    >>> commit_parts(parts, tx) is not None
    True
    """
    try:
        forks = compute_with_progress(*parts, progress=progress) if parts else ()
    except BaseException:
        tx.abandon()
        raise
    return commit(merge_forks(list(forks)), tx)


def _restore(base: bytes, fork: Any, path: str, message: str | None, rebase: bool) -> Transaction:
    ic = icechunk_module()
    return Transaction(ic.Session(ic._icechunk_python.PySession.from_bytes(base)), fork, path, message, rebase)


def _writable_session(target: Any, branch: str | None, storage_options: dict[str, Any] | None) -> tuple[Any, str, bool]:
    """The session to write through, the node path, and whether dz made it (then dz commits)."""
    path = ""
    if isinstance(target, tuple):
        target, path = target
    if isinstance(target, str):
        target, query = open_repository(target, storage_options)
        branch, path = branch or query.get("branch"), query.get("path", "")
    if type(target).__name__ == "Repository":
        return target.writable_session(branch or "main"), path, True
    session = session_of(target)
    if session.read_only:
        raise ZarrioError(
            f"the icechunk session at snapshot {session.snapshot_id!r} is read-only; write to "
            "the Repository (with branch=) or to repo.writable_session(branch)"
        )
    if branch is not None and branch != session.branch:
        raise ZarrioError(f"branch={branch!r}, but the session writes to branch {session.branch!r}; drop branch=")
    return session, path, False


def begin(target: Any, *, branch: str | None = None, path: str = "", message: str | None = None,
          rebase: bool = False, storage_options: dict[str, Any] | None = None) -> Transaction:
    """Open a transaction on ``target`` (a Repository, a writable Session, an ``icechunk://`` URL).

    Examples
    --------
    >>> import icechunk
    >>> repo = icechunk.Repository.create(icechunk.in_memory_storage())
    >>> begin(repo, message="m")
    Transaction('icechunk://main/', forked=False)
    """
    base, where, owned = _writable_session(target, branch, storage_options)
    if owned and message is None:
        message = f"dz.write to /{path or where}"
    fork = None
    if not base.has_uncommitted_changes:
        fork = base.fork()
        try:
            probe = fork.store._store
            run(lambda: probe.exists("zarr.json"))  # reads the fork's snapshot
        except Exception:  # noqa: BLE001 (in-memory storage: the fork sees no snapshot)
            fork = None
            base.merge()  # nothing to merge: only tells the session no fork is out
    return Transaction(base, fork, path or where, message, rebase)


def _ensure_groups(store: IcechunkStore) -> None:
    """Zarr v3 group documents for every missing ancestor of the node (icechunk needs them)."""
    node = store.parent()
    while node is not None:
        try:
            meta = read_node(node)
        except ZarrioError:
            write_node(node, GroupMetadata(3, {}))
        else:
            if not isinstance(meta, GroupMetadata):
                raise ContainsArrayError(f"cannot create an array inside the array at {node.describe()}")
        node = node.parent()


def write_metadata(store: IcechunkStore, dest: Destination, mode: str) -> None:
    """The node's documents, into the transaction before any data (the commit publishes both)."""
    if not dest.existed:
        if dest.meta.zarr_format != 3:
            raise ZarrioError(
                f"icechunk stores Zarr v3 only, not zarr_format={dest.meta.zarr_format!r}; pass zarr_format=3"
            )
        prepare_node(store, mode)
        _ensure_groups(store)
        write_node(store, dest.meta)
    elif dest.resized:
        store.set(metadata_key(dest.meta), document_bytes(dest.meta))


def write_block(spec: ArraySpec, store: IcechunkStore, block: np.ndarray, region: tuple[slice, ...],
                plan: WritePlan, delete_empty: bool = False) -> np.ndarray:
    """Write one block through a private copy of the transaction's fork; return the copy.

    A copy per task: tasks never share a session's change set, on threads or on
    workers; without a fork (in-memory storage) the task writes through the session.
    """
    own = store
    if type(store.session).__name__ == "ForkSession":
        own = IcechunkStore(pickle.loads(pickle.dumps(store.session)), store.root)
    write_region(spec, own, block, region, plan, delete_empty)
    out = np.empty((1,) * np.ndim(block), dtype=object)
    out.flat[0] = own.session if own is not store else None
    return out


def _flatten(parts: Any) -> list[Any]:
    if isinstance(parts, (list, tuple)):
        return [s for p in parts for s in _flatten(p)]
    if isinstance(parts, np.ndarray):
        return [s for p in parts.flat for s in _flatten(p)]
    return [] if parts is None else [parts]


def merge_forks(parts: Any, axis: Any = None, keepdims: Any = None, computing_meta: bool = False) -> Any:
    """One fork holding the change sets of all ``parts`` (nested lists or arrays of forks)."""
    if computing_meta:
        return np.array([object()], dtype=object)
    forks = _flatten(parts)
    if not forks:
        return None
    first, *rest = forks
    first.merge(*rest)
    return first


def _keep(parts: Any, axis: Any = None, keepdims: Any = None, computing_meta: bool = False) -> Any:
    return np.array([object()], dtype=object) if computing_meta else parts


def write_forks(data: da.Array, spec: ArraySpec, store: IcechunkStore, plan: WritePlan, name: str,
                *, delete_empty: bool) -> da.Array:
    """A 0-d object dask array: the merged fork of all the blocks' writes (``None`` without forks)."""
    out_ind = tuple(range(data.ndim))
    layer = core_blockwise(
        write_block, name, out_ind, spec, None, store, None, data.name, out_ind,
        ArraySliceDep(data.chunks), out_ind, plan, None, numblocks={data.name: data.numblocks},
        delete_empty=delete_empty,
    )
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[data])  # type: ignore[list-item]
    forks = da.Array(graph, name, tuple((1,) * len(c) for c in data.chunks), meta=np.empty((0,) * data.ndim, dtype=object))
    return da.reduction(  # type: ignore[no-untyped-call]
        forks, chunk=_keep, aggregate=merge_forks, combine=merge_forks, concatenate=False,
        dtype=object, meta=np.array([object()], dtype=object), name="merge-forks-" + name,
    )


def commit(merged: Any, tx: Transaction) -> str | None:
    """Merge the tasks' forks into the session and commit once; the new snapshot's id.

    A concurrent commit on the branch raises :class:`ConcurrentWriteError` naming the
    branch and both snapshots; with ``rebase=True`` icechunk rebases this transaction
    onto it first (chunks both wrote: this one wins) and fails only on real conflicts.
    """
    ic = icechunk_module()
    if tx.fork is not None:
        tx.base.merge(merged if merged is not None else tx.fork)
    if tx.message is None:
        return None
    branch = tx.base.branch
    try:
        if tx.rebase:
            return str(tx.base.commit(tx.message, rebase_with=ic.BasicConflictSolver(), rebase_tries=10))
        return str(tx.base.commit(tx.message))
    except ic.ConflictError as e:
        raise ConcurrentWriteError(
            f"icechunk branch {branch!r} moved to snapshot {e.actual_parent!r} while this write "
            f"(based on {e.expected_parent!r}) ran; nothing was committed. Pass rebase=True to "
            "rebase onto it (chunks both wrote: this write wins), or re-run the write"
        ) from None
    except ic.RebaseFailedError as e:
        where = sorted({c.path for c in e.conflicts})
        raise ConcurrentWriteError(
            f"icechunk branch {branch!r}: rebasing onto snapshot {e.snapshot!r} failed on {where}; "
            "nothing was committed: re-run the write on the new head"
        ) from None


def write_transaction(
    data: da.Array, target: Any, new: NewArray, *, mode: str, region: Any, append_dim: Any, cap: int,
    follow: Callable[[da.Array, WritePlan], da.Array], branch: str | None, message: str | None,
    rebase: bool, compute: bool, progress: bool, storage_options: dict[str, Any] | None, resume: bool = False,
) -> Delayed | None:
    """``dz.write`` into Icechunk: metadata into the fork, blocks through copies, one commit.

    With a :class:`Member` target the writes join that member's transaction: the merged
    fork comes back as a dask array, for :func:`commit_parts`.
    """
    if resume:
        raise ZarrioError(
            "resume=True has nothing to resume in icechunk: a failed write committed nothing; re-run it without resume"
        )
    member = isinstance(target, Member)
    tx = target.tx if member else begin(target, branch=branch, message=message, rebase=rebase, storage_options=storage_options)
    if tx.fork is None and on_distributed():
        raise ZarrioError(
            f"{tx.store.describe()}: this session cannot be forked (in-memory storage, or "
            "uncommitted changes), so its writes cannot travel to a distributed cluster; use "
            "file or object storage and a session without uncommitted changes"
        )
    store = tx.store.child(target.path) if member else tx.store
    try:
        if mode == "w":
            refuse_reading_from(data, store)
        dest = resolve_destination(data, store, mode, region, append_dim, new, cap, resume=False)
        spec = ArraySpec.from_metadata(dest.meta)
        plan = plan_write(data.chunks, spec.grid.units, data.dtype.itemsize, target=dest.region, shape=dest.meta.shape, max_task_bytes=cap)
        data = follow(data, plan)
        write_metadata(store, dest, mode)
        name = "write-icechunk-" + tokenize(data.name, store.token(), str(dest.meta.to_dict()), plan.offset)
        merged = write_forks(data, spec, store, plan, name, delete_empty=dest.existed)
        if member:
            return merged  # type: ignore[return-value]  # committed by commit_parts, with its siblings
        forks = compute_with_progress(merged, progress=progress)[0] if compute else None
    except BaseException:
        if not member:  # a member's transaction is abandoned by whoever began it
            tx.abandon()
        raise
    if compute:
        commit(forks, tx)
        return None
    return dask.delayed(commit)(merged, tx)


