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

import dask.array as da
import numpy as np
from dask.delayed import Delayed

from ..errors import ConcurrentWriteError, ZarrioError
from ..graph.builder import block_layer, refuse_reading_from
from ..graph.progress import compute as compute_with_progress
from ..graph.progress import on_distributed
from ..metadata import ArraySpec
from ..metadata.writer import document_bytes, metadata_key, write_node
from ..store.backends.icechunk_store import (
    IcechunkStore,
    icechunk_module,
    open_repository,
    run,
    session_of,
    version_error,
)
from .destination import NewArray, resolve_destination
from .modes import prepare_node
from .parents import ensure_parent_groups
from .target import Incoming, NodeWrite, WriteTarget

__all__ = ["IcechunkTarget", "Member", "Transaction", "begin", "commit_parts"]

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
        try:
            return target.writable_session(branch or "main"), path, True
        except icechunk_module().IcechunkError as e:
            raise version_error(target, "branch", branch or "main", e) from None
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


def in_fork(region: tuple[slice, ...], block: Any, task: Callable[..., np.ndarray], store: IcechunkStore,
            *args: Any) -> np.ndarray:
    """Run a write task through a private copy of the transaction's fork; return the copy.

    A copy per task: tasks never share a session's change set, on threads or on
    workers; without a fork (in-memory storage) the task writes through the session.
    """
    own = store
    if type(store.session).__name__ == "ForkSession":
        own = IcechunkStore(pickle.loads(pickle.dumps(store.session)), store.root)
    task(region, block, own, *args)
    out = np.empty((1,) * len(region), dtype=object)
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


class IcechunkTarget(WriteTarget):
    """A node inside an Icechunk transaction: metadata into the fork first, data through
    copies of it, then the copies merged and **one commit** (or, for a :class:`Member`,
    the merged fork handed back for :func:`commit_parts`).
    """

    def __init__(self, tx: Transaction, path: str = "", *, member: bool = False) -> None:
        self.tx, self.member = tx, member
        self.store = tx.store.child(path) if path else tx.store

    def prepare(self, data: da.Array | Incoming, mode: str, *, new: NewArray, cap: int, region: Any = None,
                append_dim: Any = None, resume: bool = False) -> NodeWrite:
        if resume:
            raise ZarrioError(
                "resume=True has nothing to resume in icechunk: a failed write committed nothing; "
                "re-run it without resume"
            )
        if self.tx.fork is None and on_distributed():
            raise ZarrioError(
                f"{self.tx.store.describe()}: this session cannot be forked (in-memory storage, or "
                "uncommitted changes), so its writes cannot travel to a distributed cluster; use "
                "file or object storage and a session without uncommitted changes"
            )
        if mode == "w":
            refuse_reading_from(data, self.store)
        dest = resolve_destination(data, self.store, mode, region, append_dim, new, cap, resume=False)
        if not dest.existed and dest.meta.zarr_format != 3:
            raise ZarrioError(
                f"icechunk stores Zarr v3 only, not zarr_format={dest.meta.zarr_format!r}; pass zarr_format=3"
            )
        return NodeWrite(mode, dest, ArraySpec.from_metadata(dest.meta), self.store)

    def begin(self, w: NodeWrite) -> None:
        """The node's documents, into the transaction before any data (the commit publishes both)."""
        if not w.dest.existed:
            prepare_node(self.store, w.mode)
            ensure_parent_groups(self.store, 3, whole_path=True)
            write_node(self.store, w.dest.meta)
        elif w.dest.resized:
            self.store.set(metadata_key(w.dest.meta), document_bytes(w.dest.meta))

    def layer(self, w: NodeWrite, task: Callable[..., np.ndarray], name: str, blocks: tuple[tuple[int, ...], ...],
              args: tuple[Any, ...], *, data: da.Array | None = None, after: Delayed | None = None,
              todo: list[tuple[int, ...]] | None = None) -> Any:
        """A 0-d object dask array: the merged fork of all the blocks' writes (``None`` without forks)."""
        forks = block_layer(in_fork, name, blocks, (task, self.store, *args), data=data, after=after, dtype=object)
        return da.reduction(  # type: ignore[no-untyped-call]
            forks, chunk=_keep, aggregate=merge_forks, combine=merge_forks, concatenate=False,
            dtype=object, meta=np.array([object()], dtype=object), name="merge-forks-" + name,
        )

    def finish(self, w: NodeWrite, gathered: Any) -> str | None:
        return commit(gathered, self.tx)

    def abandon(self) -> None:
        if not self.member:  # a member's transaction is abandoned by whoever began it
            self.tx.abandon()

    def run(self, w: NodeWrite, gathered: Any, *, compute: bool, progress: bool | str = False) -> Any:
        if self.member:
            return gathered  # committed by commit_parts, with its siblings
        return super().run(w, gathered, compute=compute, progress=progress)

    def __repr__(self) -> str:
        return f"IcechunkTarget({self.store.describe()!r}, member={self.member})"
