"""Ranged reads on remote filesystems: what fsspec's ``cat_file`` takes for a Python-style
range, and what a server's answer to a range past the end means.

:class:`~dask_zarrio.store.FsspecStore` (one range at a time, or many on the event loop)
and the reference store (byte ranges of other files) read through these.
"""

from __future__ import annotations

import errno
from typing import Any

import fsspec

from . import azure

__all__ = ["bounded_get", "acat_range", "range_not_satisfiable", "remote_range"]


def remote_range(start: int, length: int | None) -> tuple[int, int | None, int | None]:
    """``(start, end, keep)`` for fsspec's ``cat_file``, then keep the first ``keep`` bytes.

    A negative start is sent as a suffix request (``bytes=-n``) and cut here: fsspec
    filesystems take ``start=-3, end=0`` for an empty range (memory) or for no range
    at all (s3fs), where Python slicing means the last three bytes.
    """
    if start < 0:
        return start, None, length
    return start, None if length is None else start + length, None


def range_not_satisfiable(exc: BaseException) -> bool:
    """Whether a ranged read failed because it starts at or after the end of the object.

    S3 answers ``416 InvalidRange`` there (s3fs raises ``OSError(EINVAL)``), so do HTTP
    servers (aiohttp's ``status``); Python slicing gives ``b""``, and so do we.
    """
    if getattr(exc, "status", None) == 416 or getattr(exc, "code", None) == 416:
        return True
    return isinstance(exc, OSError) and exc.errno == errno.EINVAL and "range" in str(exc).lower()


async def acat_range(fs: fsspec.AbstractFileSystem, path: str, start: int, length: int | None) -> bytes:
    """One ranged read on the async API, cut like :meth:`~dask_zarrio.store.FsspecStore.get_range`."""
    if azure.is_azure(fs):
        return await azure.acat_range(fs, path, start, length)
    if length == 0:
        if not await fs._isfile(path):
            raise FileNotFoundError(path)
        return b""
    first, end, keep = remote_range(start, length)
    try:
        data = await fs._cat_file(path, start=first, end=end)
    except Exception as exc:  # noqa: BLE001 (only "range not satisfiable" is kept)
        if not range_not_satisfiable(exc):
            raise
        return b""
    return data if keep is None else data[:keep]


async def bounded_get(fs: fsspec.AbstractFileSystem, path: str, limit: int, cat_kwargs: dict[str, Any]) -> bytes:
    """A whole object as one GET of at most ``limit + 1`` bytes (a ``Range`` request).

    What a remote store reads when the read path bounds an object (a chunk can be at most
    its codecs' worst expansion): an object larger than that arrives cut at ``limit + 1``
    bytes, and the store refuses it by that length, never having held more. Still one
    request, no HEAD first. An empty object answers 416 to any range: it is ``b""``.
    Servers that ignore ``Range`` send the whole object, checked once it arrived.
    """
    try:
        data: bytes = await fs._cat_file(path, start=0, end=limit + 1, **cat_kwargs)
    except Exception as exc:  # noqa: BLE001 (only "range not satisfiable" is kept)
        if not range_not_satisfiable(exc):
            raise
        return b""
    return data
