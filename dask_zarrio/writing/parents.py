"""The groups above a node being written: created up to the hierarchy's root."""

from __future__ import annotations

from ..errors import ArrayNotFoundError, ContainsArrayError
from ..metadata.group import GroupMetadata
from ..metadata.n5 import N5_VERSION
from ..metadata.node import load_json, read_node
from ..metadata.writer import write_node
from ..store import Store
from .consolidated import ROOT_SUFFIXES

__all__ = ["ensure_parent_groups"]


def _ensure_n5_root(store: Store) -> None:
    """Record the N5 version in the container root's attributes.json (the ``.n5`` folder)."""
    node: Store | None = store
    while node is not None and not node.name.endswith(".n5"):
        node = node.parent()
    if node is None or node is store:
        return  # a dataset at the root records the version in its own attributes
    raw = node.get("attributes.json")
    if raw is None or "n5" not in load_json(node, "attributes.json", raw):
        write_node(node, GroupMetadata("n5", {"n5": N5_VERSION}))


def ensure_parent_groups(store: Store, zarr_format: int | str, *, whole_path: bool = False) -> None:
    """Create group metadata above the array, up to the hierarchy's root.

    The root is the nearest ancestor that is already a group, or whose name ends
    in ``.zarr``; without either, the array is a root of its own and nothing is
    created (a plain folder above an array is not made a group by surprise).
    With ``whole_path`` (an Icechunk repository, whose root is a group) every missing
    ancestor up to the store's root is made a group.
    In N5 every folder is a group; only the root's version is recorded.
    """
    if zarr_format == "n5":
        _ensure_n5_root(store)
        return
    chain: list[Store] = []
    node = store.parent()
    while node is not None:
        chain.append(node)
        if not whole_path and node.name.endswith(ROOT_SUFFIXES):
            break
        node = node.parent()
    else:
        if not whole_path:
            return
    for parent in chain:
        try:
            node_meta = read_node(parent)
        except ArrayNotFoundError:
            write_node(parent, GroupMetadata(zarr_format, {}))
            continue
        if not isinstance(node_meta, GroupMetadata):
            raise ContainsArrayError(
                f"cannot create an array inside the array at {parent.describe()}; choose a "
                "path outside it"
            )
        return
