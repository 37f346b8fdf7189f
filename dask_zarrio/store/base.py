"""The abstract :class:`Store`: byte objects under string keys, and what a store can do.

A store is rooted at one node (array or group) and addresses objects by keys
relative to it (``"zarr.json"``, ``"c/0/1"``). Stores travel to workers inside
tasks, so every implementation pickles by constructor arguments (``__reduce__``)
and shows no credentials in ``repr``, :meth:`Store.describe` or :meth:`Store.token`.

What a store can do is **declared** by the ``supports_*`` properties, not found
out by failing (zarr-python's ``zarr/abc/store.py`` is the model). Each default
is the cautious answer, so a new store that forgets to declare a capability is
only slower, never wrong. Every store must pass the contract in
:class:`dask_zarrio.testing.store_tests.StoreTests`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..errors import redact_url
from .limits import MAX_METADATA_BYTES, TooLarge, too_large, within_limit
from .locations import Location, path_segments
from .names import FORBIDDEN_CHARACTERS, member_path, node_path

__all__ = [
    "FORBIDDEN_CHARACTERS", "MAX_METADATA_BYTES", "Buffer", "Location", "Store", "TooLarge", "join_key",
    "member_path", "node_path", "redact_url", "slice_bytes", "too_large", "within_limit",
]

#: A bytes-like object: ``bytes``, ``bytearray``, ``memoryview`` or a contiguous numpy
#: array (a local store hands out big files as page-aligned ``uint8`` arrays). ``Any``
#: because numpy arrays and the buffer protocol have no common static type on Python 3.10.
Buffer = Any


class Store(ABC):
    """Byte objects under string keys, relative to one node of a hierarchy.

    Subclasses implement the abstract methods; the others have correct but
    unoptimised defaults (``get_range`` fetches the whole object and slices it,
    ``get_many`` asks one key after the other).

    Examples
    --------
    >>> from dask_zarrio.store import MappingStore
    >>> s = MappingStore({}, "a.zarr")
    >>> s.set("c/0", b"abc"); s.get_range("c/0", 1), s.supports_partial_reads
    (b'bc', False)
    """

    @property
    def supports_partial_reads(self) -> bool:
        """Whether ``get_range`` reads only the bytes asked for.

        Cautious default: no, the base class fetches the whole object and slices
        it, so callers that could fetch whole objects instead should.
        """
        return False

    @property
    def supports_concurrent_requests(self) -> bool:
        """Whether ``get_many``/``set_many``/``get_ranges`` overlap their requests.

        Cautious default: no, a plain mapping answers one key after the other, so
        batching keys into one call buys nothing but memory.
        """
        return False

    @property
    def supports_listing(self) -> bool:
        """Whether ``list_dir`` and ``is_empty`` see every object (groups, ``tree``).

        Cautious default: no, some stores (HTTP) can fetch keys they are told but
        cannot enumerate them; code that needs a listing must check this first.
        """
        return False

    @property
    def supports_deletes(self) -> bool:
        """Whether ``delete`` and ``clear`` remove objects (``mode="w"`` overwrites).

        Cautious default: no, read-only stores exist, and a write that assumes it
        removed stale chunks would leave old data behind.
        """
        return False

    @property
    def supports_node_replace(self) -> bool:
        """Whether :meth:`replace_node` swaps a fully written sibling node in by renames.

        Cautious default: no; object stores have no rename (copying a node is no
        cheaper than writing it), so ``mode="w"`` writes in place there.
        """
        return False

    def replace_node(self, staged: Store) -> None:
        """Make ``staged`` (a sibling node, written in full) this node; then delete the old one.

        Only where :attr:`supports_node_replace`: readers see the old node until the
        rename, then the new one.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot rename nodes (supports_node_replace is False)")

    @property
    def supports_multiprocess_writes(self) -> bool:
        """Whether tasks in several processes (worker processes, other hosts) may write it at once.

        Default: yes. Unlike the other capabilities, the cautious answer would refuse
        every distributed write; folders, object stores and databases take writers from
        anywhere, so a store that cannot (one ZIP archive has one central directory)
        must declare ``False``, and ``dz.write`` then refuses such a scheduler up front.
        """
        return True

    @property
    def supports_conditional_writes(self) -> bool:
        """Whether :meth:`set_if_unchanged` compares and stores in one atomic step.

        Cautious default: no, the base class compares, then stores; another writer
        may store in between, and both would be told they won.
        """
        return False

    @abstractmethod
    def get(self, key: str, limit: int | None = None) -> bytes | None:
        """The object under ``key``, or ``None`` when it does not exist.

        With ``limit``, an object of more than ``limit`` bytes is refused with a
        :class:`~dask_zarrio.errors.StoreError` naming the key (:func:`too_large`), and
        never held whole in memory: stores that can tell an object's size cheaply (a
        file's ``stat``, a database's value length, a ZIP member's header) refuse it
        before reading it, the others read at most ``limit + 1`` bytes or check what
        they got (:func:`within_limit`). The read path gives the most bytes a stored
        chunk can have (its codecs' worst expansion of its size), and metadata reads
        :data:`MAX_METADATA_BYTES`.
        """

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        """Objects under ``keys`` (``None`` for missing ones), in order; ``limit`` as :meth:`get`'s.

        Meant for chunk data: each object is ``bytes`` or another bytes-like buffer (a
        local store hands out big files as page-aligned ``uint8`` arrays).
        """
        return [self.get(k, limit=limit) for k in keys]

    def get_chunk(self, key: str, limit: int | None = None) -> Buffer | None:
        """One chunk's stored bytes as :meth:`get_many` gives them: any bytes-like buffer (a local
        store reuses page-aligned buffers for big files). :meth:`get`, which metadata reads use,
        gives ``bytes``. The default asks :meth:`get`, so wrappers that count or serve gets see it.
        """
        return self.get(key, limit=limit)

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists (a metadata-only request where the store has one)."""
        return self.get(key) is not None

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        """Bytes ``[start, start + length)`` of ``key``, as Python slicing would cut them.

        A negative ``start`` counts from the end; a range past the end is cut short
        (possibly to ``b""``). ``None`` when the object does not exist.
        """
        data = self.get(key)
        if data is None:
            return None
        return slice_bytes(data, start, length)

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        """Several ``(start, length)`` ranges of ``key`` (``None`` when it does not exist)."""
        out = []
        for start, length in ranges:
            part = self.get_range(key, start, length)
            if part is None:
                return None
            out.append(part)
        return out

    @abstractmethod
    def set(self, key: str, value: Buffer) -> None:
        """Write ``value`` under ``key``, whole or not at all."""

    def set_many(self, items: dict[str, Buffer]) -> None:
        """Write several objects (concurrently where the store supports it)."""
        for key, value in items.items():
            self.set(key, value)

    def set_parts(self, items: dict[str, list[Buffer]]) -> None:
        """:meth:`set_many` of objects given as their bytes in pieces, in order (a shard's encoded
        inner chunks and index). Here each is joined once, for one body per object (an S3 PUT);
        a store that can write pieces (local files) never joins them, a second copy in memory."""
        self.set_many({k: v[0] if len(v) == 1 else b"".join(v) for k, v in items.items()})

    def copy_object(self, source: Store, source_key: str, key: str) -> bool:
        """Store ``source``'s object ``source_key`` here as ``key``, its bytes unchanged;
        ``False`` when there is none. A GET and a PUT here; stores that can copy without
        passing the bytes through Python (local folders: the kernel) do so."""
        blob = source.get(source_key)
        if blob is None:
            return False
        self.set(key, blob)
        return True

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        """Store ``value`` under ``key`` only if the object there still equals ``expected``
        (``None``: no object there). ``True`` if stored, ``False`` if another writer changed it
        first (nothing stored then). Atomic where ``supports_conditional_writes``; the base
        class compares then sets (a race window remains: documented).

        Meant for small metadata documents that several writers update (appends): read
        the document, compute the new one, ``set_if_unchanged``; on ``False`` read again.

        Examples
        --------
        >>> from dask_zarrio.store import MappingStore
        >>> s = MappingStore({})
        >>> s.set_if_unchanged("zarr.json", b"v1", None), s.set_if_unchanged("zarr.json", b"v2", None)
        (True, False)
        >>> s.set_if_unchanged("zarr.json", b"v2", b"v1"), s.get("zarr.json")
        (True, b'v2')
        """
        if not same_bytes(self.get(key), expected):
            return False
        self.set(key, value)
        return True

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every object under this node (and nothing beside it)."""

    @abstractmethod
    def is_empty(self) -> bool:
        """Whether no object exists under this node."""

    @abstractmethod
    def list_dir(self) -> list[str]:
        """Names directly below this node (children and metadata keys), sorted."""

    def list_keys(self) -> list[str]:
        """Every object below this node, as keys relative to it (any depth), sorted.

        Only meaningful where ``supports_listing``. The default walks :meth:`list_dir`
        level by level (a name may be an object and a prefix at once in object stores);
        stores with a recursive listing override it.
        """
        keys: list[str] = []
        for name in self.list_dir():
            if self.exists(name):
                keys.append(name)
            keys.extend(f"{name}/{k}" for k in self.child(name).list_keys())
        return sorted(keys)

    def list_sizes(self) -> dict[str, int | None]:
        """Every object below this node with its size in bytes (``None``: not known), by key.

        From the listing alone, never by reading objects. The default knows no sizes;
        stores whose listing carries them (folders, object stores, mappings) override it.
        """
        return dict.fromkeys(self.list_keys())

    @abstractmethod
    def child(self, path: str) -> Store:
        """The store rooted at ``path`` below this node.

        Implementations pass ``path`` through :func:`member_path` first: every member
        name, whether a user, a store's consolidated metadata or a dataset's variable
        gave it, reaches a store here, so none can point outside the node.
        """

    @abstractmethod
    def parent(self) -> Store | None:
        """The store rooted one level up, or ``None`` at the top."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The last component of this node's path."""

    @abstractmethod
    def describe(self, key: str = "") -> str:
        """A credential-free location for messages: ``s3://bucket/a.zarr/c/0``."""

    def location(self) -> Location:
        """Where this node is, comparable across spellings (:mod:`dask_zarrio.store.locations`).

        The default compares :meth:`describe`'s normalised path among stores of the same class;
        stores that know more (a resolved local path, a server's address, a mapping object)
        override it, so that every spelling of one node compares equal.

        Examples
        --------
        >>> from dask_zarrio.store import MappingStore
        >>> m = {}
        >>> MappingStore(m, "g.zarr").location().contains(MappingStore(m, "g.zarr/x").location())
        True
        """
        shown = self.describe()
        scheme, sep, rest = shown.partition("://")
        return Location((type(self).__name__, scheme if sep else ""), path_segments(rest if sep else shown), shown)

    @abstractmethod
    def token(self) -> str:
        """A deterministic hash naming this location (for dask keys), without secrets in clear."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def same_bytes(current: Buffer | None, expected: Buffer | None) -> bool:
    """Whether an object (``None``: absent) equals what a conditional write expects."""
    if current is None or expected is None:
        return current is None and expected is None
    return bytes(memoryview(current).cast("B")) == bytes(memoryview(expected).cast("B"))


def join_key(root: str, key: str) -> str:
    """The full path of ``key`` below ``root`` (either may be empty).

    Examples
    --------
    >>> join_key("a.zarr", "c/0"), join_key("", "zarr.json"), join_key("a.zarr", "")
    ('a.zarr/c/0', 'zarr.json', 'a.zarr')
    """
    if not key:
        return root
    return f"{root}/{key}" if root else key


def slice_bytes(data: Buffer, start: int, length: int | None) -> Buffer:
    """``data[start:start + length]`` with a negative ``start`` counted from the end.

    Examples
    --------
    >>> slice_bytes(b"0123456789", -3, 2), slice_bytes(b"0123", 2, None), slice_bytes(b"01", 5, 1)
    (b'78', b'23', b'')
    """
    if start < 0:
        start = max(0, len(data) + start)
    return data[start:] if length is None else data[start : start + length]
