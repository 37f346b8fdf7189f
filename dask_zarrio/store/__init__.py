"""Key/value stores: where chunk and metadata bytes live.

:class:`Store` (``base``) is the contract; :class:`FsspecStore` (``fsspec_store``)
serves any fsspec URL and :class:`MappingStore` (``mapping``) any mutable mapping;
database servers have their own (``redis_store``, ``mongodb_store``, found by URL
scheme in :data:`SCHEMES` and imported only when used); :func:`open_store` picks one
for what users pass as ``url``. This package sits at
the bottom of the house: it imports only :mod:`dask_zarrio.store.support.retry`,
:mod:`dask_zarrio.errors`, :mod:`dask_zarrio.config` and :mod:`dask_zarrio.memory.buffers`.

Retries and requests in flight are set by config keys, read when a request is made::

    dask.config.set({"dask_zarrio.retry.attempts": 10, "dask_zarrio.requests-in-flight": 32})
"""

from __future__ import annotations

import importlib
import os
import zipfile
from collections.abc import MutableMapping
from typing import Any

from fsspec import FSMap
from fsspec.core import url_to_fs

from ..errors import ZarrioError
from .backends.fsspec_store import FsspecStore
from .backends.icechunk_store import is_icechunk, readonly_store
from .backends.mapping import MappingStore
from .base import Buffer, Store, redact_url
from .support.failures import secret_values, store_error
from .support.s3_requests import with_pool

__all__ = ["SCHEMES", "Buffer", "FsspecStore", "MappingStore", "Store", "open_store"]

#: URL scheme -> ``"module:Class"`` whose ``from_url(url, storage_options)`` opens it,
#: before fsspec sees the URL; one line per scheme, imported on first use (the module
#: imports its client package lazily too, failing with the ``pip install`` hint).
SCHEMES: dict[str, str] = {
    "sqlite": "dask_zarrio.store.backends.sqlite:SQLiteStore",
    "zip": "dask_zarrio.store.backends.zip_store:ZipStore",
    "lmdb": "dask_zarrio.store.backends.lmdb_store:LMDBStore",
    "redis": "dask_zarrio.store.backends.redis_store:RedisStore",
    "rediss": "dask_zarrio.store.backends.redis_store:RedisStore",
    "mongodb": "dask_zarrio.store.backends.mongodb_store:MongoDBStore",
    "reference": "dask_zarrio.store.backends.references:ReferenceStore",
}

#: ``format=`` values of :func:`open_store` that read ``url`` as the location of references.
REFERENCE_FORMATS = ("kerchunk", "reference")


def _scheme_store(url: str, storage_options: dict[str, Any] | None) -> Store | None:
    """The store of a scheme in :data:`SCHEMES`, ``None`` for the others.

    fsspec's own ``zip://member::outer-url`` (a chained URL reading an archive anywhere)
    keeps its meaning; plain ``zip:///path/data.zip`` is dask_zarrio's writable ZipStore.
    """
    scheme, sep, _ = url.partition("://")
    entry = SCHEMES.get(scheme.lower()) if sep and "::" not in url else None
    if entry is None:
        return None
    module, _, name = entry.partition(":")
    store: Store = getattr(importlib.import_module(module), name).from_url(url, storage_options)
    return store


def _zip_file(url: Any) -> Store | None:
    """A zarr-python ``ZipStore`` object, or the plain path of an existing ZIP archive."""
    if type(url).__name__ == "ZipStore" and type(url).__module__.startswith("zarr."):
        from .backends.zip_store import ZipStore

        return ZipStore(os.fspath(url.path))
    if isinstance(url, str) and "://" not in url and os.path.isfile(url) and zipfile.is_zipfile(url):
        from .backends.zip_store import ZipStore

        return ZipStore(url)
    return None


def _reference_store(url: Any, storage_options: dict[str, Any] | None, format: str) -> Store:
    """The virtual store of the references at ``url`` (``format="kerchunk"``)."""
    if format not in REFERENCE_FORMATS:
        raise ZarrioError(f"format={format!r} is not known: use None (Zarr, N5) or 'kerchunk' (references)")
    from .backends.references import ReferenceStore

    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    return ReferenceStore.from_url("reference://", {**(storage_options or {}), "fo": url})


def open_store(url: Any, storage_options: dict[str, Any] | None = None, format: str | None = None) -> Store:
    """The store for a URL, path, ``fsspec.FSMap`` or mutable mapping.

    Parameters
    ----------
    url
        A local path, ``file://``, ``memory://``, ``s3://…`` or chained fsspec URL;
        ``sqlite:///path/data.db``, ``zip:///path/data.zip``, ``lmdb:///path/folder``
        (optionally ``?path=group/array``; the path of an existing ZIP archive, or
        zarr-python's ``ZipStore``, opens it too); an ``fsspec.FSMap``; or any
        ``MutableMapping`` of keys to bytes.
    storage_options
        Passed to the fsspec filesystem (credentials, endpoint, ...; for ``s3://``,
        ``config_kwargs={"max_pool_connections": n}`` defaults to
        ``dask_zarrio.metadata-requests-in-flight`` connections), or to the
        store of a ``sqlite://``/``zip://``/``lmdb://`` URL (``table``, ``map_size``); for
        ``reference://`` URLs and ``format="kerchunk"``, fsspec's ``ReferenceFileSystem``
        options (``fo``, ``remote_options``, ``remote_protocol``, ``target_options``).
    format
        ``None`` (Zarr or N5 at ``url``) or ``"kerchunk"``: ``url`` is a kerchunk JSON file
        or Parquet reference folder, read as a virtual Zarr store
        (:class:`~dask_zarrio.store.backends.references.ReferenceStore`).

    Returns
    -------
    Store
        ``url`` itself when it is already a :class:`Store`.

    Examples
    --------
    >>> open_store("memory://x/a.zarr")
    FsspecStore('memory://x/a.zarr')
    >>> open_store({})
    MappingStore('<dict>/')
    >>> open_store("redis://localhost:6379/0/a.zarr", storage_options={"password": "s3cret"})
    RedisStore('redis://localhost:6379/0/a.zarr')
    """
    if format is not None:
        return _reference_store(url, storage_options, format)
    if isinstance(url, FSMap):
        return FsspecStore(url.fs, url.root)
    if isinstance(url, Store):
        return url
    if is_icechunk(url):  # a Repository (its "main" branch), a session, or an icechunk:// URL
        return readonly_store(url, storage_options=storage_options)
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    archive = _zip_file(url)
    if archive is not None:
        return archive
    if isinstance(url, MutableMapping):
        return MappingStore(url)
    if not isinstance(url, str):
        raise TypeError(
            f"url={redact_url(repr(url))} must be a path or URL string, an fsspec.FSMap or a MutableMapping"
        )
    own = _scheme_store(url, storage_options)
    if own is not None:
        return own
    try:
        # s3://: connections for the requests an open keeps in flight, unless the options choose.
        fs, path = url_to_fs(url, **(with_pool(url, storage_options) or {}))
    except Exception as exc:  # noqa: BLE001 (fsspec's errors quote the URL, password and all)
        secrets = list(secret_values(storage_options or {}))
        error = store_error(exc, f"OPEN {redact_url(url, secrets)}", secrets)
        if error is None:
            raise
        raise error from None
    return FsspecStore(fs, path)
