"""IcechunkStore: dask_zarrio's store contract over one Icechunk session.

`Icechunk <https://icechunk.io>`_ keeps Zarr v3 hierarchies in transactional,
versioned repositories: a *session* reads one snapshot (a branch's tip, a tag, a
snapshot id) and, when writable, collects changes that one ``commit`` publishes.
This module only bridges bytes: :class:`IcechunkStore` wraps a session (read-only,
writable or a ``ForkSession``) and a node path; the transaction around a write (forks,
merge, commit, conflicts) lives in :mod:`dask_zarrio.writing.transactions`.

Icechunk's store is asynchronous (``zarr.abc.store``): its calls are awaited on one
private event-loop thread per process, and the batch calls (``get_many``,
``set_many``) await all their keys together, so a block costs one hop to that thread.

``icechunk`` is an optional dependency (``pip install 'dask_zarrio[icechunk]'``),
imported on first use.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dask.base import tokenize

from ...errors import ArrayNotFoundError, MissingDependencyError, StoreError, ZarrioError
from ..base import Buffer, Store, join_key, member_path, slice_bytes, within_limit
from ..support.icechunk_logs import quiet_local_storage_log

__all__ = [
    "IcechunkStore", "icechunk_module", "is_icechunk", "open_repository", "readonly_store", "session_of",
    "version_error",
]

#: The class names of icechunk objects that ``dz.read``/``dz.write`` take as targets.
_TARGETS = ("Repository", "Session", "ForkSession", "IcechunkStore")


def icechunk_module() -> Any:
    """The ``icechunk`` package, or :class:`MissingDependencyError` with the install line."""
    try:
        import icechunk
    except ImportError as e:
        raise MissingDependencyError(
            "Icechunk repositories need the icechunk package: pip install 'dask_zarrio[icechunk]'"
        ) from e
    return icechunk


def is_icechunk(obj: object) -> bool:
    """Whether ``obj`` is an Icechunk repository, session or store, or an ``icechunk://`` URL.

    Examples
    --------
    >>> is_icechunk("icechunk:///tmp/repo"), is_icechunk("memory://a.zarr"), is_icechunk({})
    (True, False, False)

    A node below the repository's root is named by a pair ``(repo_or_session, "grp/array")``.
    """
    if isinstance(obj, str):
        return obj.partition("://")[0].lower() in ("icechunk", "icechunk+file", "icechunk+s3")
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], str):
        return is_icechunk(obj[0]) and not isinstance(obj[0], (str, tuple))  # (repo or session, "grp/array")
    return type(obj).__module__.split(".")[0] == "icechunk" and type(obj).__name__ in _TARGETS


# -- the private event loop --------------------------------------------------------------

_LOOP: tuple[int, asyncio.AbstractEventLoop] | None = None
_LOOP_LOCK = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """This process's loop thread (a forked child process starts its own)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="dask_zarrio-icechunk", daemon=True).start()
            _LOOP = (os.getpid(), loop)
        return _LOOP[1]


def run(call: Callable[[], Awaitable[Any]]) -> Any:
    """Await ``call()`` on the private loop and return its result (or raise its error).

    ``call`` makes the awaitable *on* the loop: icechunk's futures need a running loop
    when they are created.
    """

    async def main() -> Any:
        return await call()

    return asyncio.run_coroutine_threadsafe(main(), _loop()).result()


async def _gather(method: Callable[..., Awaitable[Any]], calls: list[tuple[Any, ...]]) -> list[Any]:
    """``method(*args)`` for every ``args`` of ``calls``, awaited together; errors as values."""
    return list(await asyncio.gather(*(method(*args) for args in calls), return_exceptions=True))


async def _collect(generator: Callable[[], Any]) -> list[str]:
    return [name async for name in generator()]


def _missing(error: BaseException) -> bool:
    """Whether icechunk's error means "no such object" (an absent key, or a non-Zarr key)."""
    return isinstance(error, KeyError) or "invalid zarr key" in str(error) or "not found" in str(error).lower()


class IcechunkStore(Store):
    """The objects of one Icechunk session below node ``root``.

    Parameters
    ----------
    session
        An ``icechunk.Session`` (read-only or writable) or ``ForkSession``.
    root
        The node's path inside the repository (``""``: its root group).

    Examples
    --------
    >>> import icechunk
    >>> repo = icechunk.Repository.create(icechunk.in_memory_storage())
    >>> store = IcechunkStore(repo.writable_session("main"), "")
    >>> store.set("zarr.json", b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    >>> store.list_dir(), store.get(".zgroup")
    (['zarr.json'], None)
    """

    def __init__(self, session: Any, root: str = "") -> None:
        self.session = session
        self.root = root.strip("/")

    def __reduce__(self) -> tuple[Any, ...]:
        if not self.session.read_only and type(self.session).__name__ != "ForkSession":
            raise ZarrioError(
                f"{self.describe()}: a writable icechunk Session cannot be sent to other processes; "
                "dz.write forks it per task itself: pass the Repository or the Session to dz.write, "
                "not a store made from it"
            )
        return (type(self), (self.session, self.root))

    @property
    def supports_partial_reads(self) -> bool:
        # Icechunk reads byte ranges of chunk objects (and of virtual chunks' files).
        return True

    @property
    def supports_concurrent_requests(self) -> bool:
        # get_many/set_many await every key together on the loop thread.
        return True

    @property
    def supports_listing(self) -> bool:
        # The session's snapshot lists every node and chunk.
        return True

    @property
    def supports_deletes(self) -> bool:
        # Only writable sessions change anything; deletes become part of the next commit.
        return not self.session.read_only

    @property
    def _py(self) -> Any:
        return self.session.store._store  # the Rust store: the same object icechunk's zarr store awaits

    def _path(self, key: str) -> str:
        return join_key(self.root, key)

    def _error(self, error: BaseException, what: str, key: str) -> BaseException:
        full = str(error).strip()
        text = full.splitlines()[0] if full else type(error).__name__
        # icechunk wraps its message: with a long prefix, "authorize" is on a later line
        container = re.search(r"resolves to the url prefix (\S+?),", full)
        if container is not None and "authorize" in full:
            prefix = container.group(1)
            return StoreError(
                f"{what} {self.describe(key)}: its virtual chunk lives under {prefix!r}, which this "
                "repository was not opened to read; open it with icechunk.Repository.open(storage, "
                f"authorize_virtual_chunk_access=icechunk.containers_credentials({{{prefix!r}: credentials}}))"
            )
        return StoreError(f"{what} {self.describe(key)} failed: {type(error).__name__}: {text.strip(' x')}")

    def get(self, key: str, limit: int | None = None) -> bytes | None:
        return within_limit(self, key, self.get_range(key, 0, None), limit)

    def get_many(self, keys: list[str], limit: int | None = None) -> list[Buffer | None]:
        py, calls = self._py, [(self._path(k), (None, None)) for k in keys]
        got = [self._result(r, "GET", k) for r, k in zip(run(lambda: _gather(py.get, calls)), keys)]
        return [within_limit(self, k, v, limit) for k, v in zip(keys, got)]

    def _result(self, result: Any, what: str, key: str) -> Any:
        if isinstance(result, BaseException):
            if _missing(result):
                return None
            raise self._error(result, what, key) from result
        return bytes(result)

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes | None:
        if start < 0:
            request: tuple[int | None, int | None] = (None, -start)  # the last -start bytes
        else:
            request = (start or None, None if length is None else start + length)
        if length == 0:
            return b"" if self.exists(key) else None
        py, path = self._py, self._path(key)
        try:
            data = bytes(run(lambda: py.get(path, request)))
        except Exception as e:  # noqa: BLE001 (icechunk raises KeyError or IcechunkError)
            if "range" not in str(e).lower() or (start, length) == (0, None):
                return self._result(e, "GET", key)
            # Icechunk refuses ranges that start (or reach back) past the object's end,
            # where Python slicing cuts them short: cut the whole object instead (rare).
            whole = self.get(key)
            return None if whole is None else bytes(slice_bytes(whole, start, length))
        if start > 0 and (length is None or len(data) < length) and start >= int(run(lambda: py.getsize(path))):
            return b""  # icechunk 1.x answers a range past the end with the last byte
        return data if start >= 0 or length is None else data[:length]

    def exists(self, key: str) -> bool:
        py, path = self._py, self._path(key)
        try:
            return bool(run(lambda: py.exists(path)))
        except Exception as e:  # noqa: BLE001
            if _missing(e):
                return False
            raise self._error(e, "HEAD", key) from e

    def set(self, key: str, value: Buffer) -> None:
        self.set_many({key: value})

    def set_many(self, items: dict[str, Buffer]) -> None:
        if not items:
            return
        py, calls = self._py, [(self._path(k), bytes(memoryview(v).cast("B"))) for k, v in items.items()]
        for result, key in zip(run(lambda: _gather(py.set, calls)), items):
            if isinstance(result, BaseException):
                raise self._error(result, "PUT", key) from result

    def delete(self, key: str) -> None:
        py, path = self._py, self._path(key)
        try:
            run(lambda: py.delete(path))
        except Exception as e:  # noqa: BLE001
            if not _missing(e):
                raise self._error(e, "DELETE", key) from e

    def clear(self) -> None:
        py, root = self._py, self.root
        run(lambda: py.delete_dir(root))

    def is_empty(self) -> bool:
        py, root = self._py, self.root
        return bool(run(lambda: py.is_empty(root)))

    def _listed(self, list_call: Callable[[Any, str], Any]) -> tuple[str, list[str]]:
        """The keys a listing call gives below this node: none where no node is (icechunk
        refuses to list a prefix that is not a group or array)."""
        py, prefix = self._py, f"{self.root}/" if self.root else ""
        try:
            return prefix, run(lambda: _collect(lambda: list_call(py, prefix)))
        except Exception as e:  # noqa: BLE001 (icechunk raises one error type for everything)
            if "bad key prefix" in str(e):
                return prefix, []
            raise

    def list_dir(self) -> list[str]:
        _, names = self._listed(lambda py, prefix: py.list_dir(prefix))
        return sorted({n.strip("/") for n in names})

    def list_keys(self) -> list[str]:
        prefix, keys = self._listed(lambda py, prefix: py.list_prefix(prefix))
        return sorted(k[len(prefix):] for k in keys if k.startswith(prefix))

    def child(self, path: str) -> IcechunkStore:
        return IcechunkStore(self.session, self._path(member_path(path)))

    def parent(self) -> IcechunkStore | None:
        if not self.root:
            return None
        return IcechunkStore(self.session, posixpath.dirname(self.root))

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    def describe(self, key: str = "") -> str:
        where = self.session.branch or self.session.snapshot_id
        return f"icechunk://{where}/{self._path(key)}"

    def token(self) -> str:
        # A writable session's contents change until it commits: its identity is part of it.
        live = None if self.session.read_only else id(self.session)
        return tokenize("icechunk", self.session.snapshot_id, live, self.root)


# -- from what users pass to sessions ----------------------------------------------------


def open_repository(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
    """The repository of an ``icechunk://`` URL, and its query (``branch``, ``tag``, ``snapshot``, ``path``).

    ``icechunk:///abs/folder`` (or ``icechunk+file://``) is a local-filesystem repository;
    ``icechunk+s3://bucket/prefix`` one on S3, with ``storage_options`` passed to
    ``icechunk.s3_storage`` (``endpoint_url``, ``region``, ``allow_http``, ``force_path_style``,
    ``access_key_id``, ``secret_access_key``, ...). A repository that does not exist yet is created.

    Examples
    --------
    >>> import tempfile
    >>> repo, query = open_repository(f"icechunk://{tempfile.mkdtemp()}?branch=main&path=a")
    >>> sorted(repo.list_branches()), query
    (['main'], {'branch': 'main', 'path': 'a'})
    """
    ic = icechunk_module()
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"branch", "tag", "snapshot", "path"}
    if unknown:
        raise ZarrioError(f"{url!r}: unknown query field(s) {sorted(unknown)}; use branch=, tag=, snapshot= or path=")
    if parts.scheme.lower() == "icechunk+s3":
        storage = ic.s3_storage(bucket=parts.netloc, prefix=parts.path.strip("/") or None, **(storage_options or {}))
    else:
        with quiet_local_storage_log(ic):  # the log line's why: that function's docstring
            storage = ic.local_filesystem_storage(os.path.abspath(parts.netloc + parts.path))
    return ic.Repository.open_or_create(storage), query


def session_of(target: Any) -> Any:
    """The session behind an ``icechunk.Session``, ``ForkSession`` or icechunk's zarr store."""
    return target.session if type(target).__name__ == "IcechunkStore" else target


def readonly_store(
    target: Any,
    *,
    branch: str | None = None,
    tag: str | None = None,
    snapshot: str | None = None,
    path: str = "",
    storage_options: dict[str, Any] | None = None,
) -> IcechunkStore:
    """The store reading ``target`` (a Repository at a branch, tag or snapshot; a session; a URL).

    A repository is read at ``snapshot``, ``tag`` or ``branch`` (default: the tip of
    ``"main"``), at most one of them; a session (or its store) is read as it is, its
    uncommitted changes included.

    Examples
    --------
    >>> import icechunk
    >>> repo = icechunk.Repository.create(icechunk.in_memory_storage())
    >>> readonly_store(repo).describe()
    'icechunk://.../'
    """
    if isinstance(target, tuple):
        target, path = target
    if isinstance(target, str):
        repo, query = open_repository(target, storage_options)
        branch, tag = branch or query.get("branch"), tag or query.get("tag")
        snapshot = snapshot or query.get("snapshot")
        path = path or query.get("path", "")
        target = repo
    chosen = {k: v for k, v in (("branch", branch), ("tag", tag), ("snapshot", snapshot)) if v is not None}
    if type(target).__name__ != "Repository":
        if chosen:
            raise ZarrioError(
                f"{sorted(chosen)} choose a version of a Repository; a Session is already one version: "
                "pass the Repository, or open the session at that version (repo.readonly_session(...))"
            )
        return IcechunkStore(session_of(target), path)
    if len(chosen) > 1:
        raise ZarrioError(f"give one of branch=, tag= or snapshot=, not {chosen!r}")
    try:
        session = target.readonly_session(branch=branch if chosen else "main", tag=tag, snapshot_id=snapshot)
    except icechunk_module().IcechunkError as e:
        kind, value = next(iter(chosen.items())) if chosen else ("branch", "main")
        raise version_error(target, kind, value, e) from None
    return IcechunkStore(session, path)


def version_error(repo: Any, kind: str, value: str, error: BaseException) -> ZarrioError:
    """What icechunk's error about a missing (or malformed) branch, tag or snapshot becomes: an
    :class:`ArrayNotFoundError` naming it and the versions there are, never a Rust report.

    Examples
    --------
    >>> import icechunk
    >>> repo = icechunk.Repository.create(icechunk.in_memory_storage())
    >>> readonly_store(repo, tag="v9")
    Traceback (most recent call last):
    ...
    dask_zarrio.errors.ArrayNotFoundError: icechunk repository has no tag 'v9' (branches: 'main'; tags: none); ...
    """
    text = str(error)
    if "invalid snapshot id" in text:
        return ZarrioError(
            f"snapshot={value!r} is not an icechunk snapshot id (20 characters of Crockford base32, "
            "as repo.ancestry(branch='main') lists them)"
        )
    try:
        known = {"branch": sorted(repo.list_branches()), "tag": sorted(repo.list_tags())}
    except Exception:  # noqa: BLE001 (only the advice; the error stands without it)
        known = {}
    have = "; ".join(f"{k}es: {', '.join(map(repr, v)) or 'none'}" if k == "branch" else
                     f"{k}s: {', '.join(map(repr, v)) or 'none'}" for k, v in known.items())
    return ArrayNotFoundError(
        f"icechunk repository has no {kind} {value!r} ({have or 'see repo.list_branches() and repo.list_tags()'}); "
        f"pass one that exists{', or create it with repo.create_branch(...)' if kind == 'branch' else ''}"
    )
