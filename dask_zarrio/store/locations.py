"""Where a store's node is, compared across spellings: the one overlap check of every operation.

Two locations are the same, or nested, after the path is normalised (``.``, ``..``, ``//``, a
trailing ``/``, ``file://``), symlinks resolved for local paths (``realpath``), the same file
for ZIP, SQLite and LMDB stores, the same server and database for Redis and MongoDB. Every
entry point that reads one location and writes another (``dz.write`` under ``mode="w"``,
``dz.copy``, ``dz.rechunk``, ``write_dataset``, ``dz.plan``, the CLI) asks
:func:`check_locations` before it creates or deletes anything: a target that is, holds or
lies inside its source (or a ``temp=`` that overlaps either) would delete data the operation
still reads.

Each store says where it is with :meth:`Store.location <dask_zarrio.store.base.Store.location>`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ZarrioError

if TYPE_CHECKING:
    from .base import Store

__all__ = ["RESERVED_PREFIX", "Location", "check_locations", "lexical_path", "local_path", "overlaps",
           "refuse_reserved"]

#: Names dask_zarrio gives its own nodes and objects (staged replacements, intermediate arrays,
#: journals, lock files): a user's node may not be named so, and dask_zarrio deletes such a
#: node only where it proves to be its own.
RESERVED_PREFIX = ".dz-"


@dataclass(frozen=True)
class Location:
    """A node's place, comparable across spellings: which key space, and the path inside it.

    ``space`` names the key space (``("file",)`` for the local file system, ``("memory",)``,
    ``("s3", endpoint)``, ``("redis", host, port, db)``, ``("mapping", id)``); ``path`` is the
    node's normalised path in it, one segment each; ``shown`` the credential-free location
    for messages.

    Examples
    --------
    >>> a = Location(("memory",), ("x", "g.zarr"), "memory://x/g.zarr")
    >>> b = Location(("memory",), ("x", "g.zarr", "a"), "memory://x/g.zarr/a")
    >>> a.contains(b), b.contains(a), overlaps(a, b)
    (True, False, True)
    """

    space: tuple[Any, ...]
    path: tuple[str, ...]
    #: How messages show it; not compared (two spellings of one place are equal).
    shown: str = field(compare=False)

    def contains(self, other: Location) -> bool:
        """Whether ``other`` is this node or lies below it."""
        return self.space == other.space and other.path[: len(self.path)] == self.path


def overlaps(a: Location, b: Location) -> bool:
    """Whether ``a`` and ``b`` are the same node, or one lies inside the other.

    Examples
    --------
    >>> src = Location(("file",), ("d", "src.zarr"), "file:///d/src.zarr")
    >>> overlaps(src, Location(("file",), ("d", "src.zarr2"), "file:///d/src.zarr2"))
    False
    """
    return a.contains(b) or b.contains(a)


def lexical_path(path: str) -> str:
    """``path`` without ``.``, empty segments, a trailing ``/`` and ``..`` (which drops the segment
    before it; above the root it stays at the root), keeping a leading ``/``.

    Examples
    --------
    >>> lexical_path("/d/./src.zarr//"), lexical_path("bucket/a.zarr/../b.zarr"), lexical_path("/../x")
    ('/d/src.zarr', 'bucket/b.zarr', '/x')
    """
    parts: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if parts:
                parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def local_path(path: str) -> str:
    """A local folder's path as the operating system resolves ``..`` (after the symlinks before
    it), with ``.``, ``//`` and a trailing ``/`` dropped; symlinks elsewhere are kept as spelled.

    Examples
    --------
    >>> local_path("/d/./x.zarr//"), local_path("/")
    ('/d/x.zarr', '/')
    """
    segments = path.split("/")
    if ".." in segments:
        cut = len(segments) - segments[::-1].index("..")
        head = os.path.realpath("/".join(segments[:cut]) or "/")
        path = posixpath.join(head.replace(os.sep, "/"), "/".join(segments[cut:]))
    return lexical_path(path) or path


def file_segments(path: str) -> tuple[str, ...]:
    """The segments of a local path with every symlink resolved (``realpath``)."""
    real = os.path.realpath(os.path.abspath(os.path.expanduser(path))).replace(os.sep, "/")
    return tuple(s for s in real.split("/") if s)


def path_segments(path: str) -> tuple[str, ...]:
    """The segments of a path inside a key space, normalised (:func:`lexical_path`)."""
    return tuple(s for s in lexical_path(path).split("/") if s)


def refuse_reserved(store: Store, role: str = "target") -> None:
    """Refuse a user's node named with :data:`RESERVED_PREFIX`: dask_zarrio's own nodes are
    named so (``.dz-staging-a`` is where ``mode="w"`` stages a new ``a``), and a user's would
    be taken for one.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> refuse_reserved(MappingStore({}, "g/.dz-staging-a"))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: the target <dict>/g/.dz-staging-a is named '.dz-staging-a'; ...
    """
    if store.name.startswith(RESERVED_PREFIX):
        raise ZarrioError(
            f"the {role} {store.describe()} is named {store.name!r}; names starting with "
            f"{RESERVED_PREFIX!r} are dask_zarrio's own (staged replacements, intermediate arrays) "
            "and may be deleted by its writes. Nothing was written: choose another name"
        )


def _relation(a: Location, b: Location) -> str:
    if a.path == b.path and a.space == b.space:
        return "is"
    return "lies inside" if b.contains(a) else "contains"


#: How to fix each kind of overlap, by the pair of roles.
_FIXES = {
    ("target", "source"): "choose a target outside the source that does not contain it either",
    ("temp", "source"): "the intermediate array there is deleted at the end: pass a temp= outside the "
                        "source and the target (or leave it out: a local target puts it beside itself)",
    ("temp", "target"): "the intermediate array there is deleted at the end: pass a temp= outside the "
                        "target and the source (or leave it out: a local target puts it beside itself)",
}


def check_locations(call: str, *, source: Store | Sequence[Store], target: Store, temp: Store | None = None,
                    fix: str | None = None) -> None:
    """Refuse, before anything is written, a target or temp that overlaps the source or each other.

    ``source`` is every store the operation reads (one, or a list: a ``dz.write``'s data may
    read several arrays). A :class:`~dask_zarrio.errors.ZarrioError` names both locations
    and how to fix it; ``fix`` replaces the advice for a target overlapping a source.

    Examples
    --------
    >>> from dask_zarrio.store import open_store
    >>> check_locations("dz.copy", source=open_store("memory://d/g.zarr"), target=open_store("memory://d/g.zarr/../b"))
    >>> check_locations("dz.copy", source=open_store("memory://d/g.zarr"), target=open_store("memory://d/g.zarr/bak"))
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ZarrioError: dz.copy: the target memory://d/g.zarr/bak lies inside the source ...
    """
    sources = [source] if not isinstance(source, Sequence) else list(source)
    pairs: list[tuple[str, Store, str, Store]] = [("target", target, "source", s) for s in sources]
    if temp is not None:
        pairs += [("temp", temp, "source", s) for s in sources] + [("temp", temp, "target", target)]
    for role, store, other_role, other in _overlapping(pairs):
        a, b = store.location(), other.location()
        advice = fix if fix is not None and (role, other_role) == ("target", "source") else _FIXES[role, other_role]
        raise ZarrioError(
            f"{call}: the {role} {a.shown} {_relation(a, b)} the {other_role} {b.shown}; writing there would "
            f"overwrite or delete what the {other_role} holds. Nothing was written or deleted: {advice}"
        )


def _overlapping(pairs: Iterable[tuple[str, Store, str, Store]]) -> Iterable[tuple[str, Store, str, Store]]:
    for pair in pairs:
        if overlaps(pair[1].location(), pair[3].location()):
            yield pair
