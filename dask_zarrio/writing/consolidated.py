"""Keeping enclosing groups' consolidated metadata true when a node is written or replaced."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ArrayNotFoundError
from ..metadata.group import ConsolidatedNode, GroupMetadata
from ..metadata.node import read_node
from ..metadata.spec import ArrayMetadata
from ..metadata.writer import consolidated_entry, write_node
from ..store import Store

__all__ = ["ROOT_SUFFIXES", "drop_consolidated", "update_consolidated"]

#: Folder names that mark the root of a hierarchy: groups are created up to there, no further.
ROOT_SUFFIXES = (".zarr", ".zr3", ".zarr3")


def update_consolidated(store: Store, meta: ArrayMetadata | GroupMetadata) -> None:
    """After a write, bring the consolidated metadata of every enclosing group up to date.

    Walks up while the parents are groups; each one with consolidated metadata gets
    the node's new entry (and entries for groups created in between), so it never
    goes stale.
    """

    def add(entries: dict[str, ConsolidatedNode], path: str, zarr_format: int | str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            sub = "/".join(parts[:i])
            if sub not in entries:
                entries[sub] = consolidated_entry(GroupMetadata(zarr_format, {}))
        entries[path] = consolidated_entry(meta)

    _edit_consolidated(store, add)


def drop_consolidated(store: Store) -> None:
    """Before a node is replaced: no enclosing consolidated metadata may still describe it.

    Else a group opened through it would read old metadata over new (or missing)
    chunks. :func:`update_consolidated` adds the new node after its data.
    """

    def drop(entries: dict[str, ConsolidatedNode], path: str, zarr_format: int | str) -> None:
        for key in [k for k in entries if k == path or k.startswith(path + "/")]:
            del entries[key]

    _edit_consolidated(store, drop)


def _edit_consolidated(store: Store, edit: Callable[[dict[str, ConsolidatedNode], str, int | str], None]) -> None:
    """Apply ``edit(entries, path of the node, format)`` to every enclosing consolidated metadata."""
    if store.name.endswith(ROOT_SUFFIXES):
        return  # a hierarchy's root: nothing above it holds its metadata
    rel = [store.name]
    node = store.parent()
    while node is not None:
        try:
            parent = read_node(node)
        except ArrayNotFoundError:
            return
        if not isinstance(parent, GroupMetadata):
            return
        if parent.consolidated is not None:
            entries = dict(parent.consolidated)
            edit(entries, "/".join(reversed(rel)), parent.zarr_format)
            if entries != parent.consolidated:
                write_node(node, GroupMetadata(parent.zarr_format, parent.attributes, entries))
        if node.name.endswith(ROOT_SUFFIXES):
            return
        rel.append(node.name)
        node = node.parent()
