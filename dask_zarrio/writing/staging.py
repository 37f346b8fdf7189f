"""The life of a node that ``dz.write`` creates or grows: staged, begun, finished.

A new array's metadata is written after its data, so that a failed write never looks
like an array: :func:`begin_node` writes a journal (or an append's grown shape) before
any data task, :func:`finish_node` the metadata after the last one. With ``mode="w"``
on a store that renames nodes cheaply, :func:`staged_node` says where the replacement
is written beside the old node, which stays readable until the rename.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import config
from ..errors import ConcurrentWriteError, ZarrioError
from ..metadata.journal import JOURNAL_KEY, begin_write, end_write, pending_write
from ..metadata.writer import document_bytes, metadata_key, write_node
from ..store import Store
from ..store.locations import RESERVED_PREFIX
from .consolidated import drop_consolidated, update_consolidated
from .modes import prepare_node
from .parents import ensure_parent_groups

if TYPE_CHECKING:
    from .destination import Destination

__all__ = ["begin_node", "finish_node", "staged_node"]


def staged_node(store: Store, mode: str, resume: bool) -> Store | None:
    """Where ``mode="w"`` writes a replacement beside the old node, or ``None`` (in place).

    Where the store renames nodes cheaply (local folders), the old array stays
    readable and unchanged until the new one is complete, then the new one is renamed
    over it; a failed write leaves both as they were (the staged one for resume).
    ``dask_zarrio.staged-replace = False`` writes in place instead.
    """
    staged_replace = config.get("staged-replace")
    if not isinstance(staged_replace, bool):
        raise ZarrioError(f"dask_zarrio.staged-replace={staged_replace!r} must be true or false")
    if mode != "w" or not staged_replace or not store.supports_node_replace or store.is_empty():
        return None
    parent = store.parent()
    if parent is None:
        return None
    staged = parent.child(".dz-staging-" + store.name)
    journal = pending_write(staged)
    if resume and journal is None:
        return None  # nothing staged: resume (or complete) the node in place
    if journal is None and not staged.is_empty():
        # Not staged by a dz.write (whose journal is there until its rename): a user's node, and
        # staging there would clear it first.
        raise ZarrioError(
            f"mode='w' stages the new {store.name!r} at {staged.describe()}, but something that no dz.write "
            f"staged is there (no {JOURNAL_KEY}); nothing was written or deleted. Move or rename it "
            f"(names starting with {RESERVED_PREFIX!r} are dask_zarrio's own), or delete it if an interrupted "
            "dz.write left it"
        )
    return staged


def begin_node(store: Store, dest: Destination, mode: str, sink: Store) -> None:
    """Before any data task: a new array's journal, or an append's grown shape (conditionally).

    A new array's metadata is written by :func:`_finish`, after its data, so that a
    failed write never looks like an array; the journal says what is under way.
    ``sink`` is where the data goes: ``store``, or a staged node replacing it.
    """
    if not dest.existed:
        if not dest.resuming:
            if sink is store and mode == "w" and not store.is_empty():
                drop_consolidated(store)  # no group may describe the data being replaced
            prepare_node(sink, mode)
        ensure_parent_groups(store, dest.meta.zarr_format)
        begin_write(sink, dest.meta)
    elif dest.resized:
        key = metadata_key(dest.meta)
        if not store.set_if_unchanged(key, document_bytes(dest.meta), dest.before):
            raise ConcurrentWriteError(
                f"{store.describe(key)} changed after this append read it (another append or "
                "write got there first); nothing was written: re-run the append"
            )


def finish_node(count: Any, store: Store, dest: Destination, sink: Store) -> int:
    """After the data tasks: commit a new array's metadata (and swap a staged node in)."""
    if not dest.existed:
        write_node(sink, dest.meta)
        end_write(sink)
        if sink is not store:
            store.replace_node(sink)
    if not dest.existed or dest.resized:
        update_consolidated(store, dest.meta)
    return 0 if count is None else int(np.sum(count))
