"""What the stores of one local file share (SQLite, ZIP, LMDB): URLs, node paths, handles.

These stores keep every object of a hierarchy under a flat key (``grp/arr/c/0``) in
one file or folder. A store is the file plus a node path inside it; the URL names the
file and, optionally, the node::

    sqlite:///abs/data.db            zip:///abs/data.zip            lmdb:///abs/env-folder
    sqlite:///abs/data.db?path=grp/arr&table=zarr

Everything after ``scheme://`` up to ``?`` is the file's path (``sqlite:///abs`` is
absolute, ``sqlite://rel.db`` relative, ``~`` expanded). For a file that exists, the
node may also follow its path (``zip:///abs/data.zip/grp/arr``), which is how
:meth:`KeyValueStore.describe` writes locations.

Handles (connections, open archives, environments) never travel: a store pickles by
its constructor arguments and each process, each thread where the library wants it,
opens its own on first use (:class:`PerProcess`).
"""

from __future__ import annotations

import os
import posixpath
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote

from dask.base import tokenize

from ...errors import StoreError
from ..base import Buffer, Store, TooLarge, join_key, member_path, node_path, too_large
from ..locations import Location, file_segments, path_segments

__all__ = ["KeyValueStore", "PerProcess", "TooLarge", "parse_file_url", "to_bytes"]

H = TypeVar("H")
T = TypeVar("T")


def to_bytes(value: Buffer) -> bytes:
    """``value`` (bytes, bytearray, memoryview, numpy buffer) as ``bytes``."""
    return value if isinstance(value, bytes) else bytes(memoryview(value).cast("B"))


def parse_file_url(url: str, scheme: str, exists: Callable[[str], bool]) -> tuple[str, str, dict[str, str]]:
    """``(file path, node path, query options)`` of ``scheme://path[?path=node&k=v]``.

    ``exists(prefix)`` says whether a prefix of the path is the store's file; the first
    one that is takes the rest of the path as the node (``zip:///d/a.zip/grp/arr``).

    Examples
    --------
    >>> parse_file_url("sqlite:///d/a.db?table=t&path=g/x", "sqlite", lambda p: False)
    ('/d/a.db', 'g/x', {'table': 't'})
    >>> parse_file_url("zip:///d/a.zip/g/x", "zip", lambda p: p == "/d/a.zip")
    ('/d/a.zip', 'g/x', {})
    """
    rest = url[len(scheme) + 3 :] if url.startswith(f"{scheme}://") else url
    rest, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    node = options.pop("path", "")
    path = os.path.expanduser(unquote(rest))
    if not path:
        raise StoreError(f"{url!r} names no file: write {scheme}:///absolute/path or {scheme}://relative/path")
    if not node and not exists(path):
        parts = path.split("/")
        for cut in range(len(parts) - 1, 0, -1):
            head = "/".join(parts[:cut])
            if head and exists(head):
                path, node = head, "/".join(parts[cut:])
                break
    return path, node_path(node), options


class PerProcess(Generic[H]):
    """Handles of one kind, one per file and process (per thread too with ``per_thread``).

    A process forked from one that held handles must not use them (SQLite connections,
    LMDB environments and file offsets are not fork-safe): handles are keyed by the
    process id, so a child opens its own and never touches (nor closes) its parent's.

    Examples
    --------
    >>> handles = PerProcess(lambda path: object())
    >>> handles.get("/a") is handles.get("/a"), handles.get("/a") is handles.get("/b")
    (True, False)
    """

    def __init__(self, opener: Callable[[str], H], per_thread: bool = False) -> None:
        self.opener = opener
        self.per_thread = per_thread
        self.lock = threading.Lock()
        self._handles: dict[tuple[str, int, int], H] = {}

    def _key(self, path: str) -> tuple[str, int, int]:
        return path, os.getpid(), threading.get_ident() if self.per_thread else 0

    def get(self, path: str) -> H:
        """The handle of this process (thread) for ``path``, opened on first use."""
        key = self._key(path)
        handle = self._handles.get(key)
        if handle is None:
            with self.lock:
                handle = self._handles.get(key)
                if handle is None:
                    pid = os.getpid()
                    # Handles inherited through fork are dropped unclosed: closing them
                    # here could flush or unlock on behalf of the parent.
                    self._handles = {k: v for k, v in self._handles.items() if k[1] == pid}
                    handle = self._handles[key] = self.opener(path)
        return handle

    def forget(self, path: str) -> H | None:
        """Drop (and return, for closing) this process's (thread's) handle of ``path``."""
        with self.lock:
            return self._handles.pop(self._key(path), None)


class KeyValueStore(Store):
    """A node of a flat key space kept in one local file or folder (SQLite, ZIP, LMDB).

    Subclasses implement the primitives on full keys (``_get``, ``_get_range``,
    ``_keys``, ``_write``, ``_set_if_unchanged``) and :attr:`scheme`; navigation,
    names, tokens, listings and pickling are shared here.
    """

    scheme: str = ""
    #: What marks an existing store at a path: ``"file"`` (the path is a file) or the
    #: name of a file inside the folder (LMDB's ``data.mdb``).
    marker: str = "file"

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any] | None = None) -> KeyValueStore:
        """The store of ``scheme:///path/file?path=node`` (or the node after the file's path).

        Examples
        --------
        >>> from dask_zarrio.store.backends.sqlite import SQLiteStore
        >>> SQLiteStore.from_url("sqlite:///tmp/never-created.db?path=g/a").root
        'g/a'
        """

        def exists(path: str) -> bool:
            return os.path.isfile(path) if cls.marker == "file" else os.path.isfile(os.path.join(path, cls.marker))

        path, node, options = parse_file_url(url, cls.scheme, exists)
        return cls(path, node, **{**options, **(storage_options or {})})

    def __init__(self, path: str, root: str = "", **options: Any) -> None:
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.root = node_path(root)
        self.options = options

    def __reduce__(self) -> tuple[Any, ...]:
        # Constructor arguments only: no connection, archive or environment travels.
        return (_rebuild, (type(self), self.path, self.root, self.options))

    def _with_root(self, root: str) -> KeyValueStore:
        return type(self)(self.path, root, **self.options)

    # -- primitives on full keys (subclasses) ----------------------------------------------

    @abstractmethod
    def _get(self, full: str, limit: int | None = None) -> Buffer | None:
        """The object under the full key ``full``, ``None`` if absent.

        With ``limit``, an object over it raises :class:`TooLarge`, checked before the
        object is read where the backend knows its size.
        """

    @abstractmethod
    def _get_range(self, full: str, start: int, length: int | None) -> bytes | None:
        """Bytes of ``full`` cut like Python slicing (``start`` may be negative)."""

    @abstractmethod
    def _keys(self, prefix: str) -> list[str]:
        """Every full key starting with ``prefix`` (all keys for ``""``)."""

    @abstractmethod
    def _write(self, puts: dict[str, bytes], deletes: Iterable[str]) -> None:
        """Store ``puts`` and remove ``deletes`` (full keys), all in one go."""

    @abstractmethod
    def _set_if_unchanged(self, full: str, value: bytes, expected: bytes | None) -> bool:
        """Compare and store in one atomic step."""

    # -- the Store contract -----------------------------------------------------------------

    @property
    def supports_partial_reads(self) -> bool:
        # Each backend reads only the asked-for bytes of a stored object.
        return True

    @property
    def supports_listing(self) -> bool:
        # The whole key space is in the file.
        return True

    @property
    def supports_deletes(self) -> bool:
        return True

    @property
    def supports_conditional_writes(self) -> bool:
        # Each backend compares and stores under one transaction or lock.
        return True

    def _full(self, key: str) -> str:
        return join_key(self.root, key)

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        full = self._full(key)
        if not full:  # the root of the database itself is never an object (LMDB refuses the empty key)
            return None
        data = self._bounded(key, limit, lambda: self._get(full, limit))
        return None if data is None else to_bytes(data)

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        return [self._bounded(k, limit, partial(self._get, self._full(k), limit)) for k in keys]

    def _bounded(self, key: str, limit: int | None, read: Callable[[], T]) -> T:
        """``read()``, its :class:`TooLarge` turned into the error naming ``key``."""
        try:
            return read()
        except TooLarge as exc:
            assert limit is not None
            raise too_large(self, key, exc.size, limit) from None

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        return self._get_range(self._full(key), start, length)

    def set(self, key: str, value: Buffer) -> None:
        self._write({self._full(key): to_bytes(value)}, ())

    def set_many(self, items: dict[str, Buffer]) -> None:
        if items:
            self._write({self._full(k): to_bytes(v) for k, v in items.items()}, ())

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        return self._set_if_unchanged(self._full(key), to_bytes(value), expected)

    def delete(self, key: str) -> None:
        self._write({}, [self._full(key)])

    def _below(self) -> list[str]:
        """Full keys of every object under this node."""
        prefix = f"{self.root}/" if self.root else ""
        return [k for k in self._keys(prefix) if k.startswith(prefix)]

    def clear(self) -> None:
        keys = self._below()
        if keys:
            self._write({}, keys)

    def is_empty(self) -> bool:
        return not self._below()

    def list_keys(self) -> list[str]:
        cut = len(self.root) + 1 if self.root else 0
        return sorted(k[cut:] for k in self._below())

    def list_dir(self) -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self.list_keys()})

    def child(self, path: str) -> KeyValueStore:
        return self._with_root(self._full(member_path(path)))

    def parent(self) -> KeyValueStore | None:
        if not self.root:
            return None
        return self._with_root(posixpath.dirname(self.root))

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        # The node follows the file's path, as if the file were a folder: a location
        # open_store accepts back while the file exists.
        return f"{self.scheme}://{join_key(self.path, self._full(key))}"

    def token(self) -> str:
        return tokenize(type(self).__name__, self.path, self.root, sorted(self.options.items()))

    def location(self) -> Location:
        # Inside the file, at its resolved path (a symlink to the archive is the archive), so that
        # a folder holding the file holds the node too; a SQLite table is a key space of its own.
        inner = f"\0{self.scheme}:{self.options.get('table', '')}"
        return Location(("file",), (*file_segments(self.path), inner, *path_segments(self.root)), self.describe())


def _rebuild(cls: type[KeyValueStore], path: str, root: str, options: dict[str, Any]) -> KeyValueStore:
    return cls(path, root, **options)
