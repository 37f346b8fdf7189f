"""S3 specifics: conditional writes, and multipart uploads of large objects.

Conditional writes are a ``PUT`` with ``If-None-Match: *`` or ``If-Match: <ETag>``.

S3 (since 2024), MinIO and moto evaluate these preconditions on the server, so a
compare-and-swap of a metadata document is atomic across machines: of several
writers that read the same version, exactly one ``PUT`` lands, the others get
``412 Precondition Failed`` (or ``409 ConditionalRequestConflict`` when two race
at the same instant). s3fs passes the headers through to ``put_object``.

Large objects (shards) go up as multipart uploads, their parts in parallel: s3fs
does so only from 100 MiB (two of its 50 MiB parts), one part at a time, so one big
shard would be one long single-stream ``PUT``. :func:`put_options` asks s3fs for
parts of ``dask_zarrio.s3-multipart-part-size`` (default 8 MiB, boto3's default too),
uploaded ``dask_zarrio.requests-in-flight`` at a time, for every object of at least
two parts. A multipart upload becomes visible only at its completion, so readers
still see an object whole or not at all.

Connections: botocore keeps 10, so the hundreds of small requests an open sends together
(a group's member documents, :mod:`~dask_zarrio.store.support.requests`) would go ten at a
time. :func:`with_pool` gives an ``s3://`` URL's filesystem as many as
``dask_zarrio.metadata-requests-in-flight`` (at most half the open files the process may
have), unless its ``storage_options`` choose ``config_kwargs={"max_pool_connections": n}``.
"""

from __future__ import annotations

import inspect
from typing import Any

import fsspec
import fsspec.asyn
from dask.utils import parse_bytes

from ... import config
from ...errors import ZarrioError
from ..base import same_bytes
from .retry import config_number

__all__ = [
    "MIN_PART_SIZE", "is_s3", "pool_connections", "put_options", "set_if_unchanged", "takes_concurrency", "with_pool",
]

#: S3's smallest part of a multipart upload (all but the last part).
MIN_PART_SIZE = 5 * 2**20

#: Error codes and HTTP statuses meaning "another writer changed the object first".
_LOST_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_LOST_STATUSES = {409, 412}

#: URL schemes s3fs serves.
_SCHEMES = ("s3", "s3a")


def is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is s3fs (whose ``put_object`` takes the precondition headers)."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return "s3" in protocols and hasattr(fs, "_call_s3") and hasattr(fs, "split_path")


def _lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or the botocore error s3fs wrapped in it) is a failed precondition."""
    seen: BaseException | None = exc
    while seen is not None:
        response: Any = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _LOST_CODES or status in _LOST_STATUSES:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _set_if_unchanged(fs: Any, path: str, data: bytes, expected: bytes | None) -> bool:
    bucket, key, _ = fs.split_path(path)
    if expected is None:
        condition = {"IfNoneMatch": "*"}
    else:
        # Body and ETag from one GET: the ETag then names exactly the bytes compared.
        try:
            response = await fs._call_s3("get_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return False
        body = response["Body"]
        try:
            current = await body.read()
        finally:
            body.close()
        if not same_bytes(current, expected):
            return False
        condition = {"IfMatch": response["ETag"]}
    try:
        await fs._call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
    except FileNotFoundError:
        return False  # If-Match on an object deleted meanwhile
    except Exception as exc:  # noqa: BLE001 (only a failed precondition is an answer)
        if isinstance(exc, FileExistsError) or _lost(exc):
            return False
        raise
    finally:
        fs.invalidate_cache(path)
    return True


def set_if_unchanged(fs: fsspec.AbstractFileSystem, path: str, data: bytes, expected: bytes | None) -> bool:
    """Store ``data`` at ``path`` only if the object still equals ``expected`` (``None``: absent).

    One GET (body and ETag), then one conditional PUT; ``False`` when the object differs
    or the server refuses the precondition. A transient error retried by the caller
    after a PUT that did land reads as lost (the retry's precondition fails): the caller
    then rereads and finds its own document, as after any lost race.

    Examples
    --------
    >>> import fsspec
    >>> is_s3(fsspec.filesystem("memory"))
    False
    """
    return bool(fsspec.asyn.sync(fs.loop, _set_if_unchanged, fs, path, data, expected))


def _part_size() -> int:
    value = config.get("s3-multipart-part-size")
    try:
        size = parse_bytes(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else -1
    except (TypeError, ValueError):
        size = -1
    if size < MIN_PART_SIZE:
        raise ZarrioError(
            f"config key 'dask_zarrio.s3-multipart-part-size' is {value!r}; S3 parts must be at least "
            "5 MiB: set it to '5MiB' or more with dask.config.set({'dask_zarrio.s3-multipart-part-size': '8MiB'})"
        )
    return int(size)


def put_options(fs: fsspec.AbstractFileSystem, size: int) -> dict[str, Any]:
    """Keyword arguments for ``fs.pipe_file`` of ``size`` bytes: multipart parts for S3.

    s3fs uploads an object of at least two ``chunksize`` parts as a multipart upload,
    ``max_concurrency`` parts at a time; other filesystems get no options.

    Examples
    --------
    >>> import fsspec
    >>> put_options(fsspec.filesystem("memory"), 2**30)
    {}
    """
    if not is_s3(fs):
        return {}
    part = _part_size()
    if size < 2 * part:
        return {}
    limit = int(config_number("requests-in-flight", integer=True, minimum=1))
    return {"chunksize": part, "max_concurrency": max(1, min(limit, -(-size // part)))}


def _open_files_limit() -> int | None:
    """The process's soft limit of open files (``None`` where the platform has none to tell)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def pool_connections() -> int:
    """Connections for an S3 filesystem dask_zarrio opens: ``dask_zarrio.metadata-requests-in-flight``,
    at most half the open files allowed (each connection is one; macOS allows 256), at least
    botocore's 10.

    Examples
    --------
    >>> pool_connections() >= 10
    True
    """
    wanted = int(config_number("metadata-requests-in-flight", integer=True, minimum=1))
    files = _open_files_limit()
    return max(10, wanted if files is None else min(wanted, files // 2))


def with_pool(url: str, storage_options: dict[str, Any] | None) -> dict[str, Any] | None:
    """``storage_options`` for ``url``, with ``config_kwargs["max_pool_connections"]`` set to
    :func:`pool_connections` for an ``s3://`` (or ``s3a://``) URL whose options do not set it;
    anything else as given. The caller's dictionaries are not changed.

    Examples
    --------
    >>> with_pool("memory://a", None) is None
    True
    >>> with_pool("s3://bucket/g.zarr", {"config_kwargs": {"max_pool_connections": 4}})
    {'config_kwargs': {'max_pool_connections': 4}}
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        return storage_options
    options = dict(storage_options or {})
    config_kwargs = dict(options.get("config_kwargs") or {})
    if "max_pool_connections" in config_kwargs:
        return storage_options
    options["config_kwargs"] = {**config_kwargs, "max_pool_connections": pool_connections()}
    return options


_TAKES_CONCURRENCY: dict[type, bool] = {}


def takes_concurrency(cls: type) -> bool:
    """Whether ``cls._cat_file`` takes ``max_concurrency`` (s3fs first asks for the size of each object it
    reads unless it is 1, fsspec/s3fs#1027): once per class, not per (child) store."""
    if cls not in _TAKES_CONCURRENCY:
        cat = getattr(cls, "_cat_file", None)
        _TAKES_CONCURRENCY[cls] = cat is not None and "max_concurrency" in inspect.signature(cat).parameters
    return _TAKES_CONCURRENCY[cls]
