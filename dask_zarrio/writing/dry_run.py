"""A dry run of a write: stores that count every request and keep what would be written.

``dz.plan`` builds an operation's job on :meth:`DryRun.view` of its stores and runs the
job's own steps that are not data tasks on them (prepare, begin, commit; groups created,
consolidated metadata, an intermediate array deleted). Every request those steps make is
counted as it is made, by the same code that makes it when the job runs: reads go to the
real store, while writes, deletes and renames only change the dry run's copy, which later
reads see. Nothing reaches the real store but reads.

A request is counted as an S3 client pays for it: GET (``get``, each key of ``get_many``,
each range, and ``exists``, a HEAD priced as a GET), PUT (``set``, each key of
``set_many``, ``set_if_unchanged``, ``copy_object``) and LIST (``is_empty``, ``list_dir``,
``list_keys``, ``list_sizes``, and ``clear``, which lists what it deletes). Deletes are free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import Buffer, Store, locations
from ..store.base import same_bytes, slice_bytes, within_limit
from ..store.support.wrapping import WrappingStore

__all__ = ["DryRun", "DryStore", "Requests"]


@dataclass(frozen=True)
class Requests:
    """GET, PUT and LIST requests.

    Examples
    --------
    >>> Requests(3, 2, 1) + Requests(1, 0, 0) - Requests(0, 1, 0)
    Requests(get=4, put=1, list=1)
    """

    get: int = 0
    put: int = 0
    list: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.get + other.get, self.put + other.put, self.list + other.list)

    def __sub__(self, other: Requests) -> Requests:
        return Requests(self.get - other.get, self.put - other.put, self.list - other.list)


#: Where an object is: the mapping behind the store (``0`` for file systems), and its location.
Location = tuple[int, str]


class DryRun:
    """One dry run: the objects written (``None``: deleted) and nodes cleared, by location,
    shared by every store it views, and the requests they were asked.

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> real = {"a/x": b"1", "a/b/z": b"3"}
    >>> dry = DryRun()
    >>> store = dry.view(MappingStore(real, "a"))
    >>> store.set("y", b"2"); store.child("b").clear()
    >>> store.list_keys(), store.get("b/z"), len(real), dry.requests
    (['x', 'y'], None, 2, Requests(get=1, put=1, list=2))
    """

    def __init__(self) -> None:
        self.objects: dict[Location, bytes | None] = {}
        self.cleared: set[Location] = set()
        self.gets = self.puts = self.lists = 0

    @property
    def requests(self) -> Requests:
        """The requests counted so far."""
        return Requests(self.gets, self.puts, self.lists)

    def view(self, store: Store) -> Store:
        """``store`` as this dry run sees it (``store`` itself when it is one of its views)."""
        if isinstance(store, DryStore) and store.run is self:
            return store
        return DryStore(store, self)


def _backing(store: Store) -> int:
    """Tells apart stores over different mappings that describe themselves alike (``<dict>/a``)."""
    while isinstance(getattr(store, "inner", None), Store):
        store = store.inner  # type: ignore[attr-defined]
    mapping = getattr(store, "mapping", None)
    return 0 if mapping is None else id(mapping)


class DryStore(WrappingStore):
    """``inner`` as :class:`DryRun` ``run`` sees it: reads counted and passed on (unless the
    dry run wrote, deleted or cleared the object), writes counted and kept in ``run``."""

    def __init__(self, inner: Store, run: DryRun, backing: int | None = None) -> None:
        self.inner = inner
        self.run = run
        self.backing = _backing(inner) if backing is None else backing

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.inner, self.run, self.backing))

    # -- where objects are ---------------------------------------------------------------
    def _loc(self, key: str) -> Location:
        return (self.backing, self.inner.describe(key))

    def _prefix(self) -> str:
        return self.inner.describe("").rstrip("/") + "/"

    def _hidden(self, key: str) -> bool:
        """Whether a :meth:`clear` of the dry run removed ``key`` (or the node it is in)."""
        path = self.inner.describe(key).rstrip("/") + "/"
        return any(b == self.backing and path.startswith(p) for b, p in self.run.cleared)

    def _read(self, key: str) -> bytes | None:
        loc = self._loc(key)
        if loc in self.run.objects:
            return self.run.objects[loc]
        return None if self._hidden(key) else self.inner.get(key)

    def _mine(self) -> dict[str, bytes | None]:
        """The dry run's objects (``None``: deleted) below this node, by key."""
        prefix = self._prefix()
        mine = self.run.objects.items()
        return {p[len(prefix):]: v for (b, p), v in mine if b == self.backing and p.startswith(prefix)}

    def _live(self) -> list[str]:
        """Every key below this node after the dry run's changes (the real ones listed, uncounted)."""
        mine = self._mine()
        real = [] if self._hidden("") else [k for k in self.inner.list_keys() if k not in mine and not self._hidden(k)]
        return sorted(real + [k for k, v in mine.items() if v is not None])

    # -- reads ---------------------------------------------------------------------------
    def get(self, key: str, limit: int | None = None) -> bytes | None:
        self.run.gets += 1
        return within_limit(self, key, self._read(key), limit)

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        self.run.gets += len(keys)
        return [within_limit(self, k, self._read(k), limit) for k in keys]

    def exists(self, key: str) -> bool:
        self.run.gets += 1
        loc = self._loc(key)
        if loc in self.run.objects:
            return self.run.objects[loc] is not None
        return not self._hidden(key) and self.inner.exists(key)

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        self.run.gets += 1
        if self._loc(key) in self.run.objects or self._hidden(key):
            data = self._read(key)
            return None if data is None else slice_bytes(data, start, length)
        return self.inner.get_range(key, start, length)

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        self.run.gets += len(ranges)
        if self._loc(key) in self.run.objects or self._hidden(key):
            data = self._read(key)
            return None if data is None else [slice_bytes(data, s, n) for s, n in ranges]
        return self.inner.get_ranges(key, ranges)

    # -- writes: kept in the dry run -----------------------------------------------------
    def set(self, key: str, value: Buffer) -> None:
        self.run.puts += 1
        self.run.objects[self._loc(key)] = bytes(memoryview(value).cast("B"))

    def set_many(self, items: dict[str, Buffer]) -> None:
        for key, value in items.items():
            self.set(key, value)

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        self.run.puts += 1
        if not same_bytes(self._read(key), expected):
            return False
        self.run.objects[self._loc(key)] = bytes(memoryview(value).cast("B"))
        return True

    def copy_object(self, source: Store, source_key: str, key: str) -> bool:
        blob = source.get(source_key)
        if blob is None:
            return False
        self.set(key, blob)
        return True

    def delete(self, key: str) -> None:
        self.run.objects[self._loc(key)] = None

    def _drop(self) -> None:
        for key in self._mine():
            del self.run.objects[self._loc(key)]
        self.run.cleared.add((self.backing, self._prefix()))

    def clear(self) -> None:
        self.run.lists += 1
        self._drop()

    def replace_node(self, staged: Store) -> None:
        """As the rename does: ``staged``'s objects become this node's, and ``staged`` is gone (no request counted)."""
        assert isinstance(staged, DryStore) and staged.run is self.run, "a dry run replaces with its own nodes"
        moved = {k: staged._read(k) for k in staged._live()}
        self._drop()
        for key, value in moved.items():
            self.run.objects[self._loc(key)] = value
        staged._drop()

    # -- listings ------------------------------------------------------------------------
    def is_empty(self) -> bool:
        self.run.lists += 1
        mine = self._mine()
        if any(v is not None for v in mine.values()):
            return False
        if self._hidden("") or self.inner.is_empty():
            return True
        return not self._live()  # real objects, unless the dry run deleted them all

    def list_keys(self) -> list[str]:
        self.run.lists += 1
        return self._live()

    def list_sizes(self) -> dict[str, int | None]:
        self.run.lists += 1
        mine = self._mine()
        listed = {} if self._hidden("") else self.inner.list_sizes()
        real = {k: n for k, n in listed.items() if k not in mine and not self._hidden(k)}
        return dict(sorted({**real, **{k: len(v) for k, v in mine.items() if v is not None}}.items()))

    def list_dir(self) -> list[str]:
        self.run.lists += 1
        mine = self._mine()
        listed = [] if self._hidden("") else self.inner.list_dir()
        real = [n for n in listed if mine.get(n, b"") is not None and not self._hidden(n)]
        return sorted(set(real) | {k.split("/", 1)[0] for k, v in mine.items() if v is not None})

    # -- the rest is the real store's ----------------------------------------------------
    def child(self, path: str) -> DryStore:
        return DryStore(self.inner.child(path), self.run, self.backing)

    def parent(self) -> DryStore | None:
        up = self.inner.parent()
        return None if up is None else DryStore(up, self.run, self.backing)

    @property
    def mapping(self) -> Any:
        """The real store's mapping, if any."""
        return getattr(self.inner, "mapping", None)

    def location(self) -> locations.Location:
        return self.inner.location()

    @property
    def supports_node_replace(self) -> bool:
        return self.inner.supports_node_replace

    def __repr__(self) -> str:
        return f"DryStore({self.describe()!r})"
