"""LMDBStore: a hierarchy in an LMDB environment (a folder holding ``data.mdb``).

Needs the ``lmdb`` package: ``pip install 'dask_zarrio[lmdb]'``.

Concurrency is LMDB's own: readers never block and are never blocked (each read is a
snapshot), and one write transaction at a time commits, across every process of the
machine. Each task's ``set_many`` is **one** write transaction: its chunks land
together or not at all. Each process opens the environment once, on first use (LMDB
forbids opening it twice in one process, and an environment must not cross ``fork``);
a pickled store carries the folder's path and options only.

The memory map grows by itself: a write that fills it (``MapFullError``) doubles
``map_size`` and retries; a process whose map another process grew adopts the new
size (``MapResizedError``). The default ``map_size`` is 1 GiB to begin with.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from ...errors import MissingDependencyError, StoreError
from ..base import Buffer, same_bytes, slice_bytes
from ..support.keyvalue import KeyValueStore, PerProcess, TooLarge

__all__ = ["LMDBStore"]

T = TypeVar("T")
INSTALL_HINT = "pip install 'dask_zarrio[lmdb]'"
DEFAULT_MAP_SIZE = 2**30


def _lmdb() -> Any:
    try:
        import lmdb
    except ImportError as e:
        raise MissingDependencyError(f"lmdb:// stores need the lmdb package: {INSTALL_HINT}") from e
    return lmdb


class _Environment:
    """One process's open environment, and a lock that lets a resize wait for readers.

    ``set_mapsize`` remaps the file: no transaction of this process may be open then,
    so transactions hold the lock shared and a resize holds it exclusively.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.env: Any = None
        self._cond = threading.Condition()
        self._active = 0
        self._resizing = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._resizing = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()


_ENVIRONMENTS: PerProcess[_Environment] = PerProcess(_Environment)


class LMDBStore(KeyValueStore):
    """A node of a hierarchy in an LMDB environment; ``lmdb:///path/folder[?path=grp/arr]``.

    Parameters
    ----------
    path
        The environment's folder (created by the first write; a missing one reads as empty).
    root
        The node's path inside the environment (``""``: the top).
    map_size
        The initial size of the memory map in bytes; it doubles whenever a write needs it.

    Examples
    --------
    >>> import tempfile
    >>> s = LMDBStore(tempfile.mkdtemp(), "grp")
    >>> s.set_many({"c/0": b"abc", "c/1": b"de"}); s.get_range("c/0", 1), s.list_keys()
    (b'bc', ['c/0', 'c/1'])
    """

    scheme = "lmdb"
    marker = "data.mdb"

    def __init__(self, path: str, root: str = "", map_size: int = DEFAULT_MAP_SIZE) -> None:
        if isinstance(map_size, str) and map_size.isdigit():
            map_size = int(map_size)  # from a URL's query
        if isinstance(map_size, bool) or not isinstance(map_size, int) or map_size < 2**16:
            raise StoreError(f"map_size={map_size!r} for lmdb://{path} must be a number of bytes >= 65536")
        _lmdb()  # fail at once, with the install hint
        super().__init__(path, root, map_size=map_size)
        self.map_size = map_size

    def __repr__(self) -> str:
        return f"LMDBStore({self.describe()!r})"

    # -- environment and transactions ----------------------------------------------------------

    def _handle(self, create: bool) -> _Environment | None:
        """This process's environment, ``None`` when there is none and ``create`` is false."""
        holder = _ENVIRONMENTS.get(self.path)
        if holder.env is None:
            if not create and not os.path.exists(os.path.join(self.path, "data.mdb")):
                return None  # reading must not create the environment
            with _ENVIRONMENTS.lock:
                if holder.env is None:
                    holder.env = self._call("OPEN", "", lambda: _lmdb().open(
                        self.path, map_size=self.map_size, subdir=True, readahead=False, max_readers=1024,
                    ))
        return holder

    def _call(self, what: str, full: str, fn: Callable[[], T]) -> T:
        lmdb = _lmdb()
        try:
            return fn()
        except lmdb.Error as exc:
            raise StoreError(
                f"{what} lmdb://{self.path}/{full} failed: {type(exc).__name__}: {exc}. Check that the "
                "folder is an LMDB environment (data.mdb, lock.mdb), not corrupt, writable for writes, "
                "and on a local file system"
            ) from exc

    def _read(self, full: str, fn: Callable[[Any], T], default: T) -> T:
        holder = self._handle(create=False)
        if holder is None:
            return default
        lmdb = _lmdb()
        for _ in range(8):
            with holder.shared():
                try:
                    with holder.env.begin(buffers=True) as txn:
                        return fn(txn)
                except lmdb.MapResizedError:
                    pass
            self._adopt_size(holder)
        return self._call("GET", full, lambda: _raise(lmdb.MapResizedError("map resized repeatedly")))

    def _adopt_size(self, holder: _Environment) -> None:
        with holder.exclusive():
            self._call("RESIZE", "", lambda: holder.env.set_mapsize(0))

    def _transact(self, what: str, full: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in one write transaction; grow the map and retry when it is full."""
        holder = self._handle(create=True)
        assert holder is not None
        lmdb = _lmdb()
        while True:
            with holder.shared():
                try:
                    return self._call(what, full, lambda: _in_write_txn(holder.env, fn))
                except StoreError as exc:
                    cause = exc.__cause__
                    if not isinstance(cause, (lmdb.MapFullError, lmdb.MapResizedError)):
                        raise
            with holder.exclusive():
                if isinstance(cause, lmdb.MapFullError):
                    self._call("RESIZE", full, lambda: holder.env.set_mapsize(holder.env.info()["map_size"] * 2))
                else:
                    self._call("RESIZE", full, lambda: holder.env.set_mapsize(0))

    # -- primitives ----------------------------------------------------------------------------

    def _get(self, full: str, limit: int | None = None) -> Buffer | None:
        return self._read(full, lambda txn: _copy(txn.get(full.encode()), limit), None)

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        # One snapshot for the whole task's chunks; a value over the limit is refused by
        # its length (a memoryview into the map), before a byte of it is copied or paged in.
        fulls = [self._full(k).encode() for k in keys]

        def fetch(txn: Any) -> list[Buffer | None]:
            return [self._bounded(k, limit, partial(_copy, txn.get(f), limit)) for k, f in zip(keys, fulls)]

        return self._read("", fetch, [None] * len(keys))

    def _get_range(self, full: str, start: int, length: int | None) -> bytes | None:
        def cut(txn: Any) -> bytes | None:
            # A memoryview into the map: only the asked-for bytes are copied (and paged in).
            view = txn.get(full.encode())
            return None if view is None else bytes(slice_bytes(view, start, length))

        return self._read(full, cut, None)

    def _keys(self, prefix: str) -> list[str]:
        start = prefix.encode()

        def scan(txn: Any) -> list[str]:
            out = []
            cursor = txn.cursor()
            if cursor.set_range(start):
                for key in cursor.iternext(keys=True, values=False):
                    if not bytes(key).startswith(start):
                        break
                    out.append(bytes(key).decode())
            return out

        return self._read(prefix, scan, [])

    def _write(self, puts: dict[str, bytes], deletes: Iterable[str]) -> None:
        gone = [k.encode() for k in deletes]
        if not puts and not os.path.exists(os.path.join(self.path, "data.mdb")):
            return

        def write(txn: Any) -> None:
            for gone_key in gone:
                txn.delete(gone_key)
            for key, value in puts.items():
                txn.put(key.encode(), value)

        self._transact("PUT" if puts else "DELETE", next(iter(puts), ""), write)

    def _set_if_unchanged(self, full: str, value: bytes, expected: bytes | None) -> bool:
        def compare_and_set(txn: Any) -> bool:
            # Write transactions are serialised across processes: nobody writes in between.
            if not same_bytes(_copy(txn.get(full.encode())), expected):
                return False
            txn.put(full.encode(), value)
            return True

        return self._transact("PUT (conditional)", full, compare_and_set)


def _in_write_txn(env: Any, fn: Callable[[Any], T]) -> T:
    with env.begin(write=True) as txn:
        return fn(txn)


def _copy(value: Any, limit: int | None = None) -> bytes | None:
    """A value (a memoryview into the map) copied out; over ``limit``: :class:`TooLarge`, nothing copied."""
    if value is None:
        return None
    if limit is not None and len(value) > limit:
        raise TooLarge(len(value))
    return bytes(value)



def _raise(exc: BaseException) -> Any:
    raise exc
