"""Key/value stores: where chunk and metadata bytes live.

A :class:`Store` is rooted at one node (array or group) and addresses objects by
keys relative to it (``"zarr.json"``, ``"c/0/1"``). Stores travel to workers
inside tasks, so they pickle by constructor arguments: an fsspec filesystem pickles
as its class and storage options, never as an open connection, and ``repr`` shows
only the protocol and path, never credentials.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import posixpath
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, MutableMapping
from functools import partial
from typing import Any, ClassVar

import fsspec
from dask.base import tokenize
from fsspec.implementations.local import LocalFileSystem

from .buffers import read_file
from .codecs.base import Buffer
from .retry import RetryPolicy

__all__ = ["DEFAULT_RETRY", "FsspecStore", "MappingStore", "Store", "open_store", "set_retry_policy"]

#: Requests in flight per task when a task fetches several objects from an async store.
MAX_CONCURRENT_REQUESTS = 16
#: How FsspecStore retries transient errors unless given another policy.
DEFAULT_RETRY = RetryPolicy()


class Store(ABC):
    """Byte objects under string keys, relative to one node of a hierarchy."""

    #: Whether ``get_many`` overlaps requests. Cautious default: plain mappings do not.
    supports_concurrent_get: ClassVar[bool] = False

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The object under ``key``, or ``None`` when it does not exist."""

    def get_many(self, keys: list[str]) -> list[Buffer | None]:
        """Objects under ``keys`` (``None`` for missing ones), in order.

        Meant for chunk data: each object is ``bytes`` or another bytes-like buffer (a
        local store hands out big files as page-aligned ``uint8`` arrays).
        """
        return [self.get(k) for k in keys]

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists (a metadata-only request where the store has one)."""
        return self.get(key) is not None

    #: Whether ``get_range`` reads only the bytes asked for. Cautious default: no, the
    #: base class fetches the whole object and slices it.
    supports_partial_reads: ClassVar[bool] = False

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        """Bytes ``[start, start + length)`` of ``key``; a negative ``start`` counts from the end.

        ``None`` when the object does not exist.
        """
        data = self.get(key)
        if data is None:
            return None
        return _slice(data, start, length)

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

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every object under this node."""

    @abstractmethod
    def is_empty(self) -> bool:
        """Whether no object exists under this node."""

    @abstractmethod
    def list_dir(self) -> list[str]:
        """Names directly below this node (children and metadata keys), sorted."""

    @abstractmethod
    def child(self, path: str) -> Store:
        """The store rooted at ``path`` below this node."""

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

    @abstractmethod
    def token(self) -> str:
        """A deterministic hash naming this location (for dask keys), without secrets in clear."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def _slice(data: bytes, start: int, length: int | None) -> bytes:
    if start < 0:
        start = max(0, len(data) + start)
    return data[start:] if length is None else data[start : start + length]


class FsspecStore(Store):
    """A folder of an fsspec filesystem (local, memory, S3, GCS, HTTP, chained, ...).

    Requests that fail transiently are retried (:mod:`dask_zarrio.retry`); several
    objects of one task are fetched or written concurrently through the async API
    of filesystems that have one, at most ``MAX_CONCURRENT_REQUESTS`` at a time.

    Examples
    --------
    >>> import fsspec
    >>> s = FsspecStore(fsspec.filesystem("memory"), "/doc/a.zarr")
    >>> s.set("k", b"v"); s.get("k"), s.get("missing")
    (b'v', None)
    """

    supports_concurrent_get = True
    supports_partial_reads = True

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, retry: RetryPolicy | None = None) -> None:
        self.fs = fs
        self.root = root.rstrip("/") if root not in ("/", "") else root
        self.retry = retry or DEFAULT_RETRY
        self._local = isinstance(fs, LocalFileSystem)
        self._async = bool(getattr(fs, "async_impl", False)) and not self._local
        # s3fs sends a HEAD before each whole-object GET unless max_concurrency is 1
        # (shared/peer-pitfalls.md): one request per chunk is the target.
        cat = getattr(fs, "_cat_file", None) if self._async else None
        self._cat_kwargs = {"max_concurrency": 1} if cat is not None and "max_concurrency" in inspect.signature(cat).parameters else {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (FsspecStore, (self.fs, self.root, self.retry))

    def _path(self, key: str) -> str:
        if not key:
            return self.root
        return f"{self.root}/{key}" if self.root else key

    def _call(self, what: str, key: str, fn: Any) -> Any:
        return self.retry.call(fn, f"{what} {self.describe(key)}")

    def get(self, key: str) -> bytes | None:
        path = self._path(key)

        def fetch() -> bytes | None:
            try:
                if self._local:
                    # Plain file I/O: fsspec's local layer adds nothing here but cost.
                    with open(path, "rb") as f:
                        return f.read()
                return self.fs.cat_file(path, **self._cat_kwargs)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None

        return self._call("GET", key, fetch)

    def exists(self, key: str) -> bool:
        path = self._path(key)
        if self._local:
            return os.path.isfile(path)
        return bool(self._call("HEAD", key, lambda: self.fs.isfile(path)))

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        path = self._path(key)

        def fetch() -> bytes | None:
            try:
                if self._local:
                    with open(path, "rb") as f:
                        if start < 0:
                            size = f.seek(0, os.SEEK_END)
                            f.seek(max(0, size + start))
                        else:
                            f.seek(start)
                        return f.read() if length is None else f.read(length)
                end = None if length is None else start + length
                return self.fs.cat_file(path, start=start, end=end)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None

        return self._call("GET (range)", key, fetch)

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        if not self._async or len(ranges) <= 1:
            return super().get_ranges(key, ranges)
        path = self._path(key)
        calls = [
            (f"GET (range) {self.describe(key)}", partial(self.fs._cat_file, path, start=s, end=s + n))
            for s, n in ranges
        ]
        parts = fsspec.asyn.sync(self.fs.loop, _gather, calls, self.retry, MAX_CONCURRENT_REQUESTS)
        return None if any(p is None for p in parts) else parts

    def get_many(self, keys: list[str]) -> list[Buffer | None]:
        if self._local:
            # Chunk data: big files land in huge-page-aligned buffers (dask_zarrio.buffers).
            return [self._call("GET", k, partial(_read_local, self._path(k))) for k in keys]
        if len(keys) <= 1 or not self._async:
            return [self.get(k) for k in keys]
        calls = [
            (f"GET {self.describe(k)}", partial(self.fs._cat_file, self._path(k), **self._cat_kwargs))
            for k in keys
        ]
        return fsspec.asyn.sync(self.fs.loop, _gather, calls, self.retry, MAX_CONCURRENT_REQUESTS)

    def set(self, key: str, value: Buffer) -> None:
        path = self._path(key)
        if self._local:
            self._call("PUT", key, lambda: _atomic_write(path, value))
        else:
            data = bytes(memoryview(value).cast("B"))
            # One PUT of the whole object: it lands whole or not at all, so a retry is safe.
            self._call("PUT", key, lambda: self.fs.pipe_file(path, data))

    def set_many(self, items: dict[str, Buffer]) -> None:
        if len(items) <= 1 or not self._async:
            super().set_many(items)
            return
        calls = [
            (f"PUT {self.describe(k)}", partial(self.fs._pipe_file, self._path(k), bytes(memoryview(v).cast("B"))))
            for k, v in items.items()
        ]
        fsspec.asyn.sync(self.fs.loop, _gather, calls, self.retry, MAX_CONCURRENT_REQUESTS)

    def delete(self, key: str) -> None:
        def remove() -> None:
            try:
                self.fs.rm_file(self._path(key))
            except FileNotFoundError:
                pass

        self._call("DELETE", key, remove)

    def clear(self) -> None:
        def remove() -> None:
            self.fs.invalidate_cache(self.root)
            try:
                self.fs.rm(self.root, recursive=True)
            except FileNotFoundError:
                pass

        self._call("DELETE (recursive)", "", remove)

    def _ls(self) -> list[str] | None:
        """Names below the root, ``None`` when it is no folder (one LIST request, retried)."""

        def listing() -> list[str] | None:
            # Listings may be cached by the filesystem; another process may have written since.
            self.fs.invalidate_cache(self.root)
            try:
                entries = self.fs.ls(self.root, detail=False)
            except (FileNotFoundError, NotADirectoryError):
                return None
            return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)

        return self._call("LIST", "", listing)

    def is_empty(self) -> bool:
        names = self._ls()
        if names is None:
            return not self._call("HEAD", "", lambda: self.fs.exists(self.root))
        return not names

    def list_dir(self) -> list[str]:
        return self._ls() or []

    def child(self, path: str) -> FsspecStore:
        return FsspecStore(self.fs, self._path(path.strip("/")), self.retry)

    def parent(self) -> FsspecStore | None:
        up = posixpath.dirname(self.root)
        if up == self.root or not self.root:
            return None
        return FsspecStore(self.fs, up, self.retry)

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        path = self._path(key)
        if "://" in path:
            return path
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{path.lstrip('/') if protocol != 'file' else path}"

    def token(self) -> str:
        # fsspec's own token hashes the storage options; credentials never appear in clear.
        return tokenize(type(self.fs).__name__, self.fs._fs_token, self.root)


def _read_local(path: str) -> Buffer | None:
    try:
        return read_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


async def _gather(calls: list[tuple[str, Any]], retry: RetryPolicy, limit: int) -> list[Any]:
    """Run request factories concurrently, ``limit`` at a time, each retried on its own.

    A missing object gives ``None``; any other final failure propagates.
    """
    semaphore = asyncio.Semaphore(limit)

    async def one(what: str, factory: Any) -> Any:
        async with semaphore:
            try:
                return await retry.acall(factory, what)
            except FileNotFoundError:
                return None

    return list(await asyncio.gather(*(one(w, f) for w, f in calls)))


def _atomic_write(path: str, value: Buffer) -> None:
    """Write via a temporary file and rename, so readers never see a half-written chunk."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(memoryview(value).cast("B"))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class MappingStore(Store):
    """Any ``MutableMapping`` of str to bytes (a dict, a SQLite or Redis adapter).

    Examples
    --------
    >>> s = MappingStore({}, "grp/arr")
    >>> s.set("0", b"x"); s.mapping
    {'grp/arr/0': b'x'}
    """

    def __init__(self, mapping: MutableMapping[str, Any], root: str = "") -> None:
        self.mapping = mapping
        self.root = root.strip("/")

    def __reduce__(self) -> tuple[Any, ...]:
        return (MappingStore, (self.mapping, self.root))

    def _path(self, key: str) -> str:
        if not key:
            return self.root
        return f"{self.root}/{key}" if self.root else key

    def get(self, key: str) -> bytes | None:
        try:
            return bytes(self.mapping[self._path(key)])
        except KeyError:
            return None

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        try:
            data = self.mapping[self._path(key)]
        except KeyError:
            return None
        return bytes(_slice(data, start, length))

    def exists(self, key: str) -> bool:
        return self._path(key) in self.mapping

    def set(self, key: str, value: Buffer) -> None:
        self.mapping[self._path(key)] = bytes(memoryview(value).cast("B"))

    def delete(self, key: str) -> None:
        self.mapping.pop(self._path(key), None)

    def _keys_below(self) -> Iterable[str]:
        prefix = f"{self.root}/" if self.root else ""
        return [k for k in list(self.mapping) if k.startswith(prefix) or k == self.root]

    def clear(self) -> None:
        for k in self._keys_below():
            self.mapping.pop(k, None)

    def is_empty(self) -> bool:
        return not self._keys_below()

    def list_dir(self) -> list[str]:
        prefix = f"{self.root}/" if self.root else ""
        return sorted({k[len(prefix):].split("/", 1)[0] for k in list(self.mapping) if k.startswith(prefix)})

    def child(self, path: str) -> MappingStore:
        return MappingStore(self.mapping, self._path(path.strip("/")))

    def parent(self) -> MappingStore | None:
        if not self.root:
            return None
        return MappingStore(self.mapping, posixpath.dirname(self.root))

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        return f"<{type(self.mapping).__name__}>/{self._path(key)}"

    def token(self) -> str:
        return tokenize(type(self.mapping).__name__, id(self.mapping), self.root)


def set_retry_policy(policy: RetryPolicy) -> None:
    """Set the retry policy of stores opened from now on (in this process).

    Examples
    --------
    >>> from dask_zarrio.retry import RetryPolicy
    >>> set_retry_policy(RetryPolicy(attempts=10)); set_retry_policy(RetryPolicy())
    """
    global DEFAULT_RETRY
    DEFAULT_RETRY = policy


def open_store(url: Any, storage_options: dict[str, Any] | None = None) -> Store:
    """The store for a URL, path, ``fsspec.FSMap`` or mutable mapping.

    Parameters
    ----------
    url
        A local path, ``file://``, ``memory://``, ``s3://…`` or chained fsspec URL;
        an ``fsspec.FSMap``; or any ``MutableMapping`` of keys to bytes.
    storage_options
        Passed to the fsspec filesystem (credentials, endpoint, ...).

    Examples
    --------
    >>> open_store("memory://x/a.zarr")
    FsspecStore('memory://x/a.zarr')
    """
    if isinstance(url, fsspec.FSMap):
        return FsspecStore(url.fs, url.root)
    if isinstance(url, Store):
        return url
    if isinstance(url, MutableMapping):
        return MappingStore(url)
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str):
        raise TypeError(
            f"url={url!r} must be a path or URL string, an fsspec.FSMap or a MutableMapping"
        )
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return FsspecStore(fs, path)
