"""Hierarchies: groups, their attributes and members, trees, consolidated metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import dask.array as da

from .display import group_html
from .errors import ArrayNotFoundError, ContainsArrayError, IncompleteWriteError, MissingDependencyError, ZarrioError
from .graph.builder import array_from_metadata
from .graph.preload import preload_arrays
from .metadata import ArrayMetadataV2
from .metadata.arguments import check_attributes
from .metadata.group import ConsolidatedNode, GroupMetadata
from .metadata.node import consolidated_member, read_members, read_node, resolve_v2_separators
from .metadata.spec import ArrayMetadata
from .metadata.summary import TreeView, array_note, group_note
from .metadata.writer import consolidated_entry, write_node
from .store import Store, open_store
from .store.base import member_path
from .store.support.requests import start_listing
from .typing import StoreLike
from .writing.consolidated import ROOT_SUFFIXES, drop_consolidated, update_consolidated
from .writing.modes import check_mode, prepare_node
from .writing.parents import ensure_parent_groups

__all__ = [
    "ROOT_SUFFIXES", "Group", "consolidate", "create_group", "drop_consolidated", "open_group",
    "tree", "update_consolidated",
]

logger = logging.getLogger("dask_zarrio")
_METADATA_KEYS = {"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"}


class Group:
    """A group of a Zarr hierarchy: attributes, and members that open as dask arrays.

    With consolidated metadata, members open without further requests.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> g = dz.create_group("memory://doc/g.zarr", attributes={"title": "demo"}, mode="w")
    >>> dz.write(da.arange(4, chunks=2), "memory://doc/g.zarr/x")
    >>> g.attrs["title"], list(g.array_keys()), g["x"].sum().compute()
    ('demo', ['x'], np.int64(6))
    """

    def __init__(self, store: Store, meta: GroupMetadata, *, allow_pickle: bool = False) -> None:
        self.store = store
        self.metadata = meta
        self.allow_pickle = allow_pickle
        #: The listing :func:`open_group` started with ``list_members`` (used once, by :meth:`listed_names`).
        self._listing: Future[list[str]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_listing": None}  # a pending listing stays here: the copy lists again

    def without_consolidated(self) -> Group:
        """This group as if it had no consolidated metadata (each member read from its own documents)."""
        meta = self.metadata
        plain = Group(self.store, GroupMetadata(meta.zarr_format, meta.attributes), allow_pickle=self.allow_pickle)
        plain._listing = self._listing
        return plain

    @property
    def attrs(self) -> dict[str, Any]:
        """The group's user attributes (a copy)."""
        return dict(self.metadata.attributes)

    @property
    def zarr_format(self) -> int | str:
        """2, 3 or "n5"."""
        return self.metadata.zarr_format

    def node(self, path: str) -> tuple[Store, ArrayMetadata | GroupMetadata]:
        """The location and metadata of the member at ``path`` (from consolidated metadata if any).

        Raises :class:`ArrayNotFoundError` when nothing is there.
        """
        path = path.strip("/")
        child = self.store.child(path)
        cons = self.metadata.consolidated
        if cons is not None and path in cons:
            return child, self._consolidated(path, child)
        try:
            return child, read_node(child)
        except ArrayNotFoundError:
            # In N5 every folder is a group, attributes.json or not.
            if self.zarr_format == "n5" and child.list_dir():
                return child, GroupMetadata("n5", {})
            raise

    def _consolidated(self, path: str, child: Store, resolve: bool = True) -> ArrayMetadata | GroupMetadata:
        """The member at ``path`` (its store ``child``) as the consolidated metadata describes it (a group
        with its members'); ``resolve=False``: a v2 array's separator not yet checked."""
        cons = self.metadata.consolidated
        assert cons is not None
        meta = consolidated_member(child, cons[path], self.zarr_format, resolve=resolve)
        if isinstance(meta, GroupMetadata):
            prefix = f"{path}/"
            sub = {p[len(prefix):]: n for p, n in cons.items() if p.startswith(prefix)}
            meta = GroupMetadata(meta.zarr_format, meta.attributes, sub)
        return meta

    def nodes(self) -> dict[str, tuple[Store, ArrayMetadata | GroupMetadata]]:
        """Every direct member with its location and metadata, read together: a listing, then
        all members' documents in one or two round trips (:func:`~dask_zarrio.metadata.node.read_members`);
        none with consolidated metadata (but a check of v2 arrays without a ``dimension_separator``).

        Names that are no Zarr node are left out (an unfinished write with a warning).

        Examples
        --------
        >>> import dask.array as da, dask_zarrio as dz
        >>> dz.write(da.arange(4, chunks=2), "memory://doc/nodes.zarr/x", mode="w")
        >>> {name: meta.shape for name, (store, meta) in dz.open_group("memory://doc/nodes.zarr").nodes().items()}
        {'x': (4,)}
        """
        cons = self.metadata.consolidated
        if cons is not None:
            found: dict[str, tuple[Store, ArrayMetadata | GroupMetadata | ZarrioError]] = {}
            for path in sorted(p for p in cons if "/" not in p):
                child = self.store.child(path)
                found[path] = (child, self._consolidated(path, child, resolve=False))
            v2 = {n: (s, m) for n, (s, m) in found.items() if isinstance(m, ArrayMetadataV2)}
            for name, resolved in zip(v2, resolve_v2_separators(list(v2.values()))):
                found[name] = (v2[name][0], resolved)
        else:
            found = read_members(self.store, self.listed_names(), self.zarr_format)
        out: dict[str, tuple[Store, ArrayMetadata | GroupMetadata]] = {}
        for name, (child, meta) in found.items():
            if isinstance(meta, IncompleteWriteError):
                logger.warning("%s; it is not listed as a member until then", meta)
            elif isinstance(meta, ArrayNotFoundError) and self.zarr_format == "n5" and child.list_dir():
                out[name] = (child, GroupMetadata("n5", {}))  # every N5 folder is a group
            elif not isinstance(meta, ZarrioError):
                out[name] = (child, meta)
        return out

    def array_nodes(self, *, preload_indexes: bool = False) -> dict[str, tuple[Store, ArrayMetadata]]:
        """The member arrays' locations and metadata, read together (:meth:`nodes`).

        With ``preload_indexes``, the chunks of the index coordinates (1-D arrays named as their
        dimension, which xarray loads at once) are fetched too, all in one round trip, and
        held by their stores (:func:`~dask_zarrio.graph.preload.preload_arrays`).

        Examples
        --------
        >>> import dask.array as da, dask_zarrio as dz
        >>> dz.write(da.arange(4, chunks=2), "memory://doc/an.zarr/x", mode="w", dimension_names=["x"])
        >>> store, meta = dz.open_group("memory://doc/an.zarr").array_nodes(preload_indexes=True)["x"]
        >>> meta.shape
        (4,)
        """
        arrays = {n: (s, m) for n, (s, m) in self.nodes().items() if not isinstance(m, GroupMetadata)}
        if not preload_indexes:
            return arrays
        indexes = {n: (s, m) for n, (s, m) in arrays.items() if getattr(m, "dimension_names", None) == (n,)}
        stores = preload_arrays(indexes, allow_pickle=self.allow_pickle)
        return {n: (stores.get(n, s), m) for n, (s, m) in arrays.items()}

    def __getitem__(self, path: str) -> da.Array | Group:
        try:
            store, meta = self.node(path)
        except ArrayNotFoundError as e:
            raise KeyError(f"{path!r} is not a member of the group at {self.store.describe()}") from e
        if isinstance(meta, GroupMetadata):
            return Group(store, meta, allow_pickle=self.allow_pickle)
        return array_from_metadata(store, meta, allow_pickle=self.allow_pickle)

    def members(self) -> dict[str, str]:
        """Direct members: name -> "array" or "group"."""
        cons = self.metadata.consolidated
        if cons is not None:
            return {p: n.kind for p, n in sorted(cons.items()) if "/" not in p}
        return {n: "group" if isinstance(m, GroupMetadata) else "array" for n, (_, m) in self.nodes().items()}

    def listed_names(self) -> list[str]:
        """Names listed below the group that may be members (not yet read: a name may be no node,
        or a node whose documents do not parse; :meth:`members` reads them, ``dz.verify`` reports them).
        """
        pending, self._listing = self._listing, None
        names = pending.result() if pending is not None else self.store.list_dir()
        return [n for n in names if n not in _METADATA_KEYS and not n.startswith(".") and n != "attributes.json"]

    def array_keys(self) -> Iterator[str]:
        """Names of member arrays."""
        return (n for n, k in self.members().items() if k == "array")

    def group_keys(self) -> Iterator[str]:
        """Names of member groups."""
        return (n for n, k in self.members().items() if k == "group")

    def array_node(self, path: str) -> tuple[Store, ArrayMetadata]:
        """The location and metadata of the member array at ``path``.

        Raises :class:`ArrayNotFoundError` when there is none, or a group is there.
        """
        store, meta = self.node(path)
        if isinstance(meta, GroupMetadata):
            raise ArrayNotFoundError(f"{store.describe()} is a group, not an array; open it with group[{path!r}]")
        return store, meta

    def group(self, path: str) -> Group:
        """The member group at ``path`` (:class:`ArrayNotFoundError` if none, or an array)."""
        store, meta = self.node(path)
        if not isinstance(meta, GroupMetadata):
            raise ArrayNotFoundError(f"{store.describe()} is an array, not a group; read it with group[{path!r}]")
        return Group(store, meta, allow_pickle=self.allow_pickle)

    def arrays(self) -> Iterator[tuple[str, da.Array]]:
        """(name, dask array) of each member array (their metadata read together, :meth:`nodes`)."""
        for name, (store, meta) in self.array_nodes().items():
            yield name, array_from_metadata(store, meta, allow_pickle=self.allow_pickle)

    def groups(self) -> Iterator[tuple[str, Group]]:
        """(name, Group) of each member group (their metadata read together, :meth:`nodes`)."""
        for name, (store, meta) in self.nodes().items():
            if isinstance(meta, GroupMetadata):
                yield name, Group(store, meta, allow_pickle=self.allow_pickle)

    def __iter__(self) -> Iterator[str]:
        return iter(self.members())

    def __contains__(self, path: object) -> bool:
        try:
            self.node(member_path(path.strip("/") if isinstance(path, str) else path))
        except ArrayNotFoundError:
            return False
        except ZarrioError:
            return False  # a name that could never be a member (not a str, "..", ...)
        return True

    def __len__(self) -> int:
        return len(self.members())

    def __repr__(self) -> str:
        cons = ", consolidated" if self.metadata.consolidated is not None else ""
        return f"<dask_zarrio.Group {self.store.describe()} (v{self.zarr_format}{cons})>"

    def _repr_html_(self) -> str:
        return group_html(self)

    def to_xarray(self, **kwargs: Any) -> Any:
        """This group as a lazy ``xarray.Dataset``: ``xr.open_dataset(engine="dask_zarrio")`` with
        ``kwargs`` (``chunks={}``, the stored chunks, unless given), as :func:`dask_zarrio.open_dataset`.

        Examples
        --------
        >>> import numpy as np, xarray as xr, dask_zarrio as dz
        >>> dz.write_dataset(xr.Dataset({"t": ("x", np.arange(3.0))}), "memory://doc/tox.zarr", mode="w")
        >>> dz.open_group("memory://doc/tox.zarr").to_xarray().t.values
        array([0., 1., 2.])
        """
        try:
            import xarray
        except ImportError as e:
            raise MissingDependencyError("Group.to_xarray needs xarray: pip install 'dask_zarrio[xarray]'") from e
        kwargs = {"allow_pickle": self.allow_pickle, "chunks": {}, **kwargs}
        return xarray.open_dataset(self.store, engine="dask_zarrio", **kwargs)  # type: ignore[arg-type]

    def tree(self) -> TreeView:
        """The hierarchy below this group with shapes, dtypes, chunks and codecs (a pyramid's levels
        on its group's line)."""
        label = "N5" if self.zarr_format == "n5" else f"v{self.zarr_format}"
        members = self.nodes()
        lines = [f"/ (group, {label}){group_note(self.metadata.attributes, _shapes(members))}"]
        _tree_lines(members, "", lines)
        return TreeView("\n".join(lines))


def _shapes(members: dict[str, tuple[Store, ArrayMetadata | GroupMetadata]]) -> Any:
    """A member's shape by name (``None``: a group, or no such member)."""
    return lambda name: getattr(members.get(name, (None, None))[1], "shape", None)


def _tree_lines(members: dict[str, tuple[Store, ArrayMetadata | GroupMetadata]], indent: str,
                lines: list[str]) -> None:
    for i, (name, (store, meta)) in enumerate(members.items()):
        last = i == len(members) - 1
        branch, extension = ("└── ", "    ") if last else ("├── ", "│   ")
        if isinstance(meta, GroupMetadata):
            below = Group(store, meta).nodes()
            lines.append(f"{indent}{branch}{name} (group){group_note(meta.attributes, _shapes(below))}")
            _tree_lines(below, indent + extension, lines)
        else:  # from the metadata alone: no codec is built, so a pickle codec is named, never opted into
            lines.append(f"{indent}{branch}{name} {array_note(meta)}")


def open_group(url: StoreLike, *, storage_options: dict[str, Any] | None = None, allow_pickle: bool = False,
               format: str | None = None, list_members: bool = False) -> Group:
    """Open the group at ``url`` (its consolidated metadata, when present, in the same request).

    ``format="kerchunk"``: ``url`` is a kerchunk JSON file or Parquet reference folder.
    ``list_members``: list the members while the group's documents are read, where the store
    overlaps requests (an object store): the next read of the members (:meth:`Group.nodes`,
    ``arrays()`` ...) then needs no round trip of its own for the listing. Without consolidated
    metadata that is one round trip less; with it, one listing request unused.

    Examples
    --------
    >>> import dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/og.zarr", mode="w")
    >>> dz.open_group("memory://doc/og.zarr")
    <dask_zarrio.Group memory://doc/og.zarr (v3)>
    """
    store = open_store(url, storage_options, format=format)
    listing = start_listing(store) if list_members else None
    meta = read_node(store, expect_group=True)
    if not isinstance(meta, GroupMetadata):
        raise ArrayNotFoundError(
            f"no group at {store.describe()}: it is a Zarr v{meta.zarr_format} array; read it with dz.read(url)"
        )
    group = Group(store, meta, allow_pickle=allow_pickle)
    group._listing = listing
    return group



def create_group(
    url: StoreLike,
    *,
    attributes: dict[str, Any] | None = None,
    zarr_format: int = 3,
    mode: str = "w-",
    storage_options: dict[str, Any] | None = None,
) -> Group:
    """Create a group (and its parent groups up to the hierarchy root).

    ``mode``: "w-" fails if anything exists there; "w" replaces it; "a" opens an
    existing group unchanged or creates it.

    Examples
    --------
    >>> import dask_zarrio as dz
    >>> dz.create_group("memory://doc/cg.zarr", attributes={"a": 1}, zarr_format=2, mode="w").attrs
    {'a': 1}
    """
    check_mode(mode, ("w-", "w", "a"), "dz.create_group")
    if zarr_format not in (2, 3):
        raise ZarrioError(f"zarr_format={zarr_format!r} must be 2 or 3")
    attributes = check_attributes(attributes)  # before mode="w" clears what is there
    store = open_store(url, storage_options)
    if mode == "a":
        try:
            existing = read_node(store)
        except ArrayNotFoundError:
            existing = None
        if isinstance(existing, GroupMetadata):
            return Group(store, existing)
        if existing is not None:
            raise ContainsArrayError(f"{store.describe()} holds an array, not a group")
    else:
        prepare_node(store, mode)
    ensure_parent_groups(store, zarr_format)
    meta = GroupMetadata(zarr_format, attributes)
    write_node(store, meta)
    update_consolidated(store, meta)
    return Group(store, meta)


def _walk(group: Group, prefix: str, out: dict[str, ConsolidatedNode]) -> None:
    for name, (store, meta) in group.nodes().items():
        path = f"{prefix}{name}"
        out[path] = consolidated_entry(meta)
        if isinstance(meta, GroupMetadata):
            _walk(Group(store, GroupMetadata(meta.zarr_format, meta.attributes)), f"{path}/", out)


def consolidate(url: StoreLike, *, storage_options: dict[str, Any] | None = None) -> Group:
    """Write consolidated metadata for the whole hierarchy below the group at ``url``.

    v3: inline ``consolidated_metadata`` in the group's ``zarr.json``; v2:
    ``.zmetadata``. Both are what ``zarr.open_consolidated`` reads.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/cons.zarr", mode="w")
    >>> dz.write(da.ones(3, chunks=3), "memory://doc/cons.zarr/sub/x")
    >>> sorted(dz.consolidate("memory://doc/cons.zarr").metadata.consolidated)
    ['sub', 'sub/x']
    """
    store = open_store(url, storage_options)
    group = open_group(store)
    plain = Group(store, GroupMetadata(group.zarr_format, group.metadata.attributes))
    nodes: dict[str, ConsolidatedNode] = {}
    _walk(plain, "", nodes)
    meta = GroupMetadata(group.zarr_format, group.metadata.attributes, nodes)
    write_node(store, meta)
    return Group(store, meta)


def tree(url: StoreLike, *, storage_options: dict[str, Any] | None = None) -> TreeView:
    """The hierarchy at ``url`` as text: groups, arrays with shape, dtype, chunks, codecs.

    Examples
    --------
    >>> import dask.array as da, dask_zarrio as dz
    >>> _ = dz.create_group("memory://doc/tree.zarr", mode="w", attributes={"title": "t"})
    >>> dz.write(da.ones((4, 4), chunks=2), "memory://doc/tree.zarr/grp/temp")
    >>> dz.tree("memory://doc/tree.zarr")
    / (group, v3) attrs: title
    └── grp (group)
        └── temp (4, 4) float64 chunks=(2, 2) codecs=[bytes, zstd]
    """
    return open_group(url, storage_options=storage_options).tree()
