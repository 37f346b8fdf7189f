"""FsspecStore: a folder of any fsspec filesystem (local, memory, S3, GCS, HTTP, chained).

Local folders skip fsspec on the hot paths: chunks are read with plain file I/O
(big ones into huge-page-aligned buffers, :func:`dask_zarrio.memory.buffers.read_file`)
and written through a temporary file and a rename, so readers never see half a
chunk. Remote filesystems with an async API fetch and write the objects of one
task concurrently; every request is retried on transient errors.

How many attempts and how many requests in flight are read from the config keys
``dask_zarrio.retry.*`` and ``dask_zarrio.requests-in-flight`` when a request is
made, not when the store is made: a pickled store carries no policy of its own,
so each worker follows its own dask config.
"""

from __future__ import annotations

import os
import posixpath
import threading
from functools import partial
from typing import Any

import fsspec
import fsspec.asyn
from dask.base import tokenize
from fsspec.implementations.local import LocalFileSystem

from ..base import (
    Buffer,
    Store,
    TooLarge,
    join_key,
    member_path,
    redact_url,
    same_bytes,
    too_large,
    within_limit,
)
from ..locations import Location, file_segments, lexical_path, local_path, path_segments
from ..support import azure
from ..support import local_files as local
from ..support import s3_requests as s3
from ..support.failures import secret_values, store_error
from ..support.remote_ranges import acat_range, bounded_get, range_not_satisfiable, remote_range
from ..support.requests import gather_requests
from ..support.retry import RetryPolicy, config_number

__all__ = ["FsspecStore"]

#: Conditional writes to ``memory://`` (one dict per process): one lock per process makes compare-and-set atomic.
_MEMORY_LOCK = threading.Lock()


class FsspecStore(Store):
    """A folder of an fsspec filesystem (local, memory, S3, GCS, HTTP, chained, ...).

    Requests that fail transiently are retried (:mod:`dask_zarrio.store.support.retry`) as the
    ``dask_zarrio.retry.*`` config keys say, unless ``retry`` is given; several
    objects of one task are fetched or written concurrently through the async API
    of filesystems that have one, at most ``dask_zarrio.requests-in-flight`` at a time.

    Examples
    --------
    >>> import fsspec
    >>> s = FsspecStore(fsspec.filesystem("memory"), "/doc/a.zarr")
    >>> s.set("k", b"v"); s.get("k"), s.get("missing")
    (b'v', None)
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, retry: RetryPolicy | None = None) -> None:
        self.fs = fs
        self._local = isinstance(fs, LocalFileSystem)
        self.root = _normal_root(root, self._local)
        # None: read the config keys at each request (see the retry property).
        self._retry = retry
        self._async = bool(getattr(fs, "async_impl", False)) and not self._local
        self._http = _protocol(fs) in ("http", "https")
        self._cat_kwargs = {"max_concurrency": 1} if self._async and s3.takes_concurrency(type(fs)) else {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.fs, self.root, self._retry))

    @property
    def retry(self) -> RetryPolicy:
        """The policy given to this store, else the one the config keys set right now."""
        return self._retry if self._retry is not None else RetryPolicy.from_config()

    @property
    def supports_partial_reads(self) -> bool:
        # Local files seek; remote filesystems send ranged GETs.
        return True

    @property
    def supports_concurrent_requests(self) -> bool:
        # Only the async API overlaps requests; sync filesystems (and local files,
        # which the page cache serves) answer one after the other.
        return self._async

    @property
    def supports_listing(self) -> bool:
        # HTTP servers can only be asked for keys, not enumerated.
        return not self._http

    @property
    def supports_deletes(self) -> bool:
        # fsspec's HTTP filesystem only reads.
        return not self._http

    @property
    def supports_node_replace(self) -> bool:
        # A local folder renames in O(1); object stores would copy every object.
        return self._local

    def replace_node(self, staged: Store) -> None:
        if not self._local or not isinstance(staged, FsspecStore):
            return super().replace_node(staged)
        source = staged.root
        self._call("RENAME", "", lambda: local.replace_folder(self.root, source))

    def _path(self, key: str) -> str:
        return join_key(self.root, key)

    @property
    def supports_conditional_writes(self) -> bool:
        # Local folders: an O_EXCL lock file; memory: a process-wide lock (memory:// lives
        # in one process); S3: PUT preconditions checked by the server. Others compare
        # then set, with a race window.
        return self._local or _protocol(self.fs) == "memory" or s3.is_s3(self.fs) or azure.is_azure(self.fs)

    def _secrets(self) -> list[str]:
        """Credential values among the filesystem's storage_options: scrubbed from messages."""
        return list(secret_values(getattr(self.fs, "storage_options", {}) or {}))

    def _call(self, what: str, key: str, fn: Any, retry: RetryPolicy | None = None) -> Any:
        request = f"{what} {self.describe(key)}"
        try:
            return (retry or self.retry).call(fn, request)
        except Exception as exc:  # noqa: BLE001 (translated where it would mislead or leak)
            error = store_error(exc, request, self._secrets())
            if error is None:
                raise
            raise error from (exc if redact_url(exc, self._secrets()) == str(exc) else None)

    def _batch(self, calls: list[tuple[str, Any]]) -> list[Any]:
        """Run request factories on the filesystem's event loop, together (``gather_requests``)."""
        limit = int(config_number("requests-in-flight", integer=True, minimum=1))
        return fsspec.asyn.sync(self.fs.loop, gather_requests, calls, self.retry, limit, self._secrets())

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        if self._local:  # plain file I/O (fsspec's local layer adds nothing but cost), as bytes
            data = self._read_local(key, limit, self.retry)
            return data if data is None or isinstance(data, bytes) else bytes(memoryview(data).cast("B"))
        path = self._path(key)

        def fetch() -> bytes | None:
            try:
                if limit is None:
                    return self.fs.cat_file(path, **self._cat_kwargs)
                return fsspec.asyn.sync(self.fs.loop, bounded_get, self.fs, path, limit, self._cat_kwargs) \
                    if self._async else self.fs.cat_file(path, **self._cat_kwargs)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None

        return within_limit(self, key, self._call("GET", key, fetch), limit)

    def get_chunk(self, key: str, limit: int | None = None) -> Buffer | None:
        # As get_many: big chunks land in reused, huge-page-aligned buffers. A fresh bytes
        # object per chunk is fresh memory on distributed workers (1,800 page faults per
        # 7 MiB chunk there, docs/performance.md).
        if self._local:
            return self._read_local(key, limit, self.retry)
        return self.get(key, limit)

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
                    return local.read_range(path, start, length)  # past the end: short, never EINVAL
                if azure.is_azure(self.fs):  # no suffix ranges, 416 past the end
                    return fsspec.asyn.sync(self.fs.loop, azure.acat_range, self.fs, path, start, length)
                if length == 0:
                    # fsspec reads end == start as "to the end": only existence is asked.
                    return b"" if self.fs.isfile(path) else None
                first, end, keep = remote_range(start, length)
                try:
                    data = self.fs.cat_file(path, start=first, end=end)
                except Exception as exc:  # noqa: BLE001 (only "range not satisfiable" is kept)
                    if not range_not_satisfiable(exc):
                        raise
                    return b""
                return data if keep is None else data[:keep]
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None

        return self._call("GET (range)", key, fetch)

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        if not self._async or len(ranges) <= 1:
            return super().get_ranges(key, ranges)
        path = self._path(key)
        calls = [
            (f"GET (range) {self.describe(key)}", partial(acat_range, self.fs, path, s, n))
            for s, n in ranges
        ]
        parts = self._batch(calls)
        return None if any(p is None for p in parts) else parts

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        if self._local:
            # Chunk data: big files land in huge-page-aligned buffers (dask_zarrio.memory.buffers).
            # One policy for the batch: the config is read once, not once per chunk.
            retry = self.retry
            return [self._read_local(k, limit, retry) for k in keys]
        if len(keys) <= 1 or not self._async:
            return [self.get(k, limit) for k in keys]
        calls = [(f"GET {self.describe(k)}", self._fetcher(self._path(k), limit)) for k in keys]
        return [within_limit(self, k, v, limit) for k, v in zip(keys, self._batch(calls))]

    def _fetcher(self, path: str, limit: int | None) -> Any:
        """A request factory for one whole object, at most ``limit + 1`` bytes of it (see ``bounded_get``)."""
        if limit is None:
            return partial(self.fs._cat_file, path, **self._cat_kwargs)
        return partial(bounded_get, self.fs, path, limit, self._cat_kwargs)

    def _read_local(self, key: str, limit: int | None, retry: RetryPolicy) -> Buffer | None:
        """One local chunk file; over ``limit``, refused by its ``stat`` before it is read."""
        try:
            return self._call("GET", key, partial(local.read_local, self._path(key), limit), retry)
        except TooLarge as exc:
            assert limit is not None
            raise too_large(self, key, exc.size, limit) from None

    def set(self, key: str, value: Buffer) -> None:
        path = self._path(key)
        if self._local:
            self._call("PUT", key, lambda: local.atomic_write(path, value))
        else:
            data = value if type(value) is bytes else bytes(memoryview(value).cast("B"))  # no second copy
            # One PUT of the whole object: it lands whole or not at all, so a retry is safe.
            self._call("PUT", key, lambda: self.fs.pipe_file(path, data, **s3.put_options(self.fs, len(data))))

    def copy_object(self, source: Store, source_key: str, key: str) -> bool:
        """Store ``source``'s object ``source_key`` here as ``key``, its bytes unchanged;
        ``False`` when there is none. Between local folders the kernel copies the file
        (:func:`~dask_zarrio.store.support.local_files.atomic_copy`); otherwise a GET and a PUT.

        Examples
        --------
        >>> import fsspec
        >>> a, b = (FsspecStore(fsspec.filesystem("memory"), f"/doc/cp{i}") for i in (1, 2))
        >>> a.set("k", b"v"); b.copy_object(a, "k", "c/k"), b.get("c/k"), b.copy_object(a, "gone", "x")
        (True, b'v', False)
        """
        if self._local and isinstance(source, FsspecStore) and source._local:
            src, path = source._path(source_key), self._path(key)
            return bool(self._call("COPY", key, lambda: local.atomic_copy(src, path)))
        return super().copy_object(source, source_key, key)

    def set_parts(self, items: dict[str, list[Buffer]]) -> None:
        if not self._local:
            return super().set_parts(items)  # one body per object
        for key, parts in items.items():  # local files take the pieces (writev), never joined
            self._call("PUT", key, partial(local.atomic_write, self._path(key), parts))

    def set_many(self, items: dict[str, Buffer]) -> None:
        if len(items) <= 1 or not self._async:
            return super().set_many(items)
        blobs = {k: v if type(v) is bytes else bytes(memoryview(v).cast("B")) for k, v in items.items()}
        calls = [
            (f"PUT {self.describe(k)}",
             partial(self.fs._pipe_file, self._path(k), b, **s3.put_options(self.fs, len(b))))
            for k, b in blobs.items()
        ]
        self._batch(calls)

    def set_if_unchanged(self, key: str, value: Buffer, expected: bytes | None) -> bool:
        path = self._path(key)
        if self._local:
            return bool(self._call("PUT (conditional)", key, lambda: local.set_if_unchanged(path, value, expected)))
        data = bytes(memoryview(value).cast("B"))
        # S3 and Azure check the precondition on the server (If-None-Match / If-Match).
        backend: Any = s3 if s3.is_s3(self.fs) else azure if azure.is_azure(self.fs) else None
        if backend is not None:
            return bool(
                self._call("PUT (conditional)", key, lambda: backend.set_if_unchanged(self.fs, path, data, expected))
            )
        if _protocol(self.fs) == "memory":
            with _MEMORY_LOCK:
                if not same_bytes(self.get(key), expected):
                    return False
                self.set(key, data)
                return True
        return super().set_if_unchanged(key, data, expected)

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

    def list_keys(self) -> list[str]:
        return sorted(self.list_sizes())

    def list_sizes(self) -> dict[str, int | None]:
        if self._local:
            return dict(self._call("LIST (recursive)", "", lambda: local.list_sizes(self.root)))

        def listing() -> dict[str, int | None]:
            self.fs.invalidate_cache(self.root)
            try:
                found = self.fs.find(self.root, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                return {}
            root = self.fs._strip_protocol(self.root).rstrip("/") + "/"
            # find() of a file gives the file itself: no key below the node.
            return {
                str(p)[len(root):]: info.get("size") for p, info in sorted(found.items()) if str(p).startswith(root)
            }

        return dict(self._call("LIST (recursive)", "", listing))

    def is_empty(self) -> bool:
        names = self._ls()
        if names is None:
            return not self._call("HEAD", "", lambda: self.fs.exists(self.root))
        return not names

    def list_dir(self) -> list[str]:
        return self._ls() or []

    def child(self, path: str) -> FsspecStore:
        return FsspecStore(self.fs, self._path(member_path(path)), self._retry)

    def parent(self) -> FsspecStore | None:
        up = posixpath.dirname(self.root)
        if up == self.root or not self.root:
            return None
        return FsspecStore(self.fs, up, self._retry)

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        # HTTP roots are whole URLs, which may carry a password (user:pass@host).
        path = redact_url(self._path(key), self._secrets())
        if "://" in path:
            return path
        protocol = _protocol(self.fs)
        return f"{protocol}://{path.lstrip('/') if protocol != 'file' else path}"

    def location(self) -> Location:
        # Local folders: symlinks resolved (a link to the source is the source). Elsewhere the
        # filesystem's protocol and endpoint (two S3 services are two places) and the normalised root.
        if self._local:
            return Location(("file",), file_segments(self.root), self.describe())
        kwargs = getattr(self.fs, "client_kwargs", None)
        endpoint = getattr(self.fs, "endpoint_url", None) or (isinstance(kwargs, dict) and kwargs.get("endpoint_url"))
        path = path_segments(self.root.partition("://")[2] or self.root)
        return Location((_protocol(self.fs), endpoint or None), path, self.describe())

    def token(self) -> str:
        # tokenize(fs) goes through fsspec's __dask_tokenize__, a hash of the class and
        # storage options: credentials never appear in clear.
        return tokenize(type(self.fs).__name__, self.fs, self.root)


def _normal_root(root: str, local: bool) -> str:
    """``root`` without ``.``, ``//``, a trailing ``/`` and ``..`` (resolved as the OS does for local
    folders), so that a node has one spelling: ``a.zarr/../b.zarr`` is ``b.zarr``, and the groups
    made above a new array are ``b.zarr``'s, not ``a.zarr``'s. Whole URLs (HTTP) stay as given."""
    if root in ("/", "") or "://" in root:
        return root.rstrip("/") if root not in ("/", "") and not root.endswith("://") else root
    return local_path(root) if local else lexical_path(root) or root


def _protocol(fs: fsspec.AbstractFileSystem) -> str:
    """The filesystem's main protocol name (``"s3"`` for ``("s3", "s3a")``)."""
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
