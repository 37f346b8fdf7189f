"""Conditional writes on S3: ``PUT`` with ``If-None-Match: *`` or ``If-Match: <ETag>``.

S3 (since 2024), MinIO and moto evaluate these preconditions on the server, so a
compare-and-swap of a metadata document is atomic across machines: of several
writers that read the same version, exactly one ``PUT`` lands, the others get
``412 Precondition Failed`` (or ``409 ConditionalRequestConflict`` when two race
at the same instant). s3fs passes the headers through to ``put_object``.
"""

from __future__ import annotations

from typing import Any

import fsspec
import fsspec.asyn

from .base import same_bytes

__all__ = ["is_s3", "set_if_unchanged"]

#: Error codes and HTTP statuses meaning "another writer changed the object first".
_LOST_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_LOST_STATUSES = {409, 412}


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
